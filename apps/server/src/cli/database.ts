import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../platform/config.ts';
import { type Database, openDatabase } from '../platform/db/index.ts';

/** The embedded database is open in another process; opening it a second time would corrupt it. */
class DatabaseInUseError extends Error {
  override name = 'DatabaseInUseError';
}

/**
 * Opens the configured database. PGlite is single-process and does not refuse a second opener
 * itself, but it keeps `postmaster.pid` in DATA_DIR while open and removes it on a clean close:
 * its presence means a running server (or one that did not shut down cleanly).
 */
export async function openCliDatabase(config: Config): Promise<Database> {
  if (!config.databaseUrl) {
    const pidFile = join(config.dataDir, 'postmaster.pid');
    if (existsSync(pidFile)) {
      throw new DatabaseInUseError(
        `the embedded database in ${config.dataDir} is open in another process (a running server?); ` +
          `stop it first or use DATABASE_URL. If none is running, the last one did not shut down cleanly: delete ${pidFile}`,
      );
    }
  }
  return openDatabase(config);
}
