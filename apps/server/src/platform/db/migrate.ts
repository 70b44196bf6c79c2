import { readdir, readFile } from 'node:fs/promises';
import type { Database } from './index.ts';

const MIGRATIONS_DIR = new URL('../../../migrations/', import.meta.url);
/** Arbitrary constant naming Partnerline's migration lock among the database's advisory locks. */
const MIGRATION_LOCK_ID = 727_510_001;

/**
 * A migration the database refused: a migration that checks the data first (0013) says what to
 * change, and any other failure names the migration and the database's reason. Either way the
 * database is as it was before that migration; the start stops with this one line. Also a
 * database a newer version has migrated.
 */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Applies every migration file not yet applied, in name order, each in its own transaction.
 * An advisory lock makes concurrent starts wait for each other instead of racing.
 */
export async function migrate(database: Database): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((name) => name.endsWith('.sql')).sort();
  return database.withSession(async (client) => {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    try {
      await client.exec(`create table if not exists schema_migrations (
        version text primary key,
        applied_at timestamptz not null default now()
      )`);
      const done = new Set(
        (await client.query<{ version: string }>('select version from schema_migrations')).map(
          (r) => r.version,
        ),
      );
      // A database a newer version has migrated may hold what this version cannot keep right
      // (rows it would write without what the newer version reads them by): refused, not served.
      const known = new Set(files.map((file) => file.replace(/\.sql$/, '')));
      const unknown = [...done].filter((version) => !known.has(version)).sort();
      if (unknown.length > 0) {
        throw new MigrationError(
          `the database was migrated by a newer version of Partnerline (${unknown.join(', ')}); run that version or a later one`,
        );
      }
      const applied: string[] = [];
      for (const file of files) {
        const version = file.replace(/\.sql$/, '');
        if (done.has(version)) continue;
        const script = await readFile(new URL(file, MIGRATIONS_DIR), 'utf8');
        await client.exec('begin');
        try {
          await client.exec(script);
          await client.query('insert into schema_migrations (version) values ($1)', [version]);
          await client.exec('commit');
        } catch (error) {
          await client.exec('rollback');
          throw new MigrationError(`migration ${version} failed: ${(error as Error).message}`);
        }
        applied.push(version);
      }
      return applied;
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
    }
  });
}
