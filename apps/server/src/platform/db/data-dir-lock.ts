import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DataDirError, prepareDataDir } from './data-dir.ts';

/** The embedded database is open in another running process; a second opener would corrupt it. */
export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
}

const LOCK_FILE = 'partnerline.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes DATA_DIR for this process: PGlite does not refuse a second process itself, and two that
 * write the same files lose each other's writes. The lock file holds the owner's pid; one left by
 * a process that died (a crash, kill -9) is taken over. Returns the release, for a clean close.
 * DATA_DIR is created first; one that is no writable directory is refused with a DataDirError.
 */
export function lockDataDir(dataDir: string): () => void {
  prepareDataDir(dataDir);
  const path = join(dataDir, LOCK_FILE);
  // A few attempts: another process may take or release the lock between two of our steps.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DataDirError(dataDir, 'is not writable', error);
      }
    }
    const owner = ownerOf(path);
    if (owner !== undefined && owner !== process.pid && alive(owner)) {
      throw new DataDirInUseError(
        `the embedded database in ${dataDir} is open in another process (pid ${owner}, a running server?); ` +
          `stop it first, or use DATABASE_URL. If no such process is running, delete ${path}`,
      );
    }
    // Left by a process that is gone: take it over.
    try {
      unlinkSync(path);
    } catch {
      // Taken over (or released) by another process meanwhile: try again.
    }
  }
  throw new DataDirInUseError(
    `the embedded database in ${dataDir} is being opened by another process; try again`,
  );
}

/** The pid a lock file names; undefined when it is gone or holds no pid. */
function ownerOf(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
