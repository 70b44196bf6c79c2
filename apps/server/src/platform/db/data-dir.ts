import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../config.ts';

/** DATA_DIR cannot hold the embedded database; the message is one line naming it and the OS reason. */
export class DataDirError extends ConfigError {
  override name = 'DataDirError';

  constructor(dataDir: string, problem: string, cause?: unknown) {
    const reason = (cause as NodeJS.ErrnoException | undefined)?.message;
    super(`DATA_DIR ${JSON.stringify(dataDir)} ${problem}${reason ? ` (${reason})` : ''}`);
  }
}

/**
 * Creates `dir` and its missing parents. Node's own `mkdir -p` (`recursive: true`) retries forever
 * where a parent exists but its child still cannot be found, as under /proc, or below a dangling
 * symbolic link: here a second ENOENT, once the parent exists, is final.
 */
function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir);
    return;
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw error;
  }
  makeDirectory(dirname(dir));
  try {
    mkdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/**
 * Makes sure DATA_DIR is a directory this process can write to, creating it when missing, before
 * anything opens it; throws DataDirError otherwise. Whether it can hold files is proven by the lock
 * file written next (see lockDataDir), which /proc, say, refuses even to root.
 */
export function prepareDataDir(dataDir: string): void {
  try {
    makeDirectory(dataDir);
  } catch (error) {
    throw new DataDirError(dataDir, 'cannot be created', error);
  }
  try {
    if (!statSync(dataDir).isDirectory()) throw new DataDirError(dataDir, 'is not a directory');
  } catch (error) {
    if (error instanceof DataDirError) throw error;
    throw new DataDirError(dataDir, 'cannot be used', error);
  }
  try {
    accessSync(dataDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new DataDirError(dataDir, 'is not writable', error);
  }
}
