import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
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
 * write the same files lose each other's writes. The lock file holds the owner's pid from the
 * moment it exists; one left by a process that died (a crash, kill -9) is taken over, by one
 * process only when several start at once. Returns the release, for a clean close. DATA_DIR is
 * created first; one that is no writable directory is refused with a DataDirError.
 */
export function lockDataDir(dataDir: string): () => void {
  prepareDataDir(dataDir);
  const path = join(dataDir, LOCK_FILE);
  // A few attempts: another process may take or release the lock between two of our steps.
  for (let attempt = 0; attempt < 5; attempt++) {
    let created: boolean;
    try {
      created = createLock(path);
    } catch (error) {
      throw new DataDirError(dataDir, 'is not writable', error);
    }
    if (created) {
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    }
    const owner = ownerOf(path);
    if (owner !== undefined && owner !== process.pid && alive(owner)) {
      throw new DataDirInUseError(
        `the embedded database in ${dataDir} is open in another process (pid ${owner}, a running server?); ` +
          `stop it first, or use DATABASE_URL. If no such process is running, delete ${path}`,
      );
    }
    // Left by a process that is gone: take it over.
    removeStaleLock(path, owner);
  }
  throw new DataDirInUseError(
    `the embedded database in ${dataDir} is being opened by another process; try again`,
  );
}

/**
 * Creates the lock file with this process's pid already in it: written aside, then linked into
 * place, which fails if the lock exists. False when it does. On a file system without hard links
 * the file is created in place and the pid written after.
 */
function createLock(path: string): boolean {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(aside, String(process.pid), { flag: 'wx' });
  try {
    linkSync(aside, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
  } finally {
    unlinkSync(aside);
  }
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** A takeover this old was left by a process that died in the middle of one. */
const TAKEOVER_STALE_MS = 10_000;

/**
 * Deletes the lock of a process that is gone, unless it changed since it was read: under a
 * takeover file only one process holds, so of several that found the same stale lock, only the
 * first deletes it, and the others find the lock of the one that took it.
 */
function removeStaleLock(path: string, staleOwner: number | undefined): void {
  const takeover = `${path}.takeover`;
  try {
    closeSync(openSync(takeover, 'wx'));
  } catch {
    try {
      if (Date.now() - statSync(takeover).mtimeMs > TAKEOVER_STALE_MS) unlinkSync(takeover);
    } catch {
      // Finished meanwhile: the next attempt finds what it left.
    }
    return;
  }
  try {
    if (ownerOf(path) === staleOwner) unlinkSync(path);
  } catch {
    // Released meanwhile: the next attempt takes it.
  } finally {
    unlinkSync(takeover);
  }
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
