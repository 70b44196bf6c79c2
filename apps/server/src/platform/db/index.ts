import { PGlite } from '@electric-sql/pglite';
import { CamelCasePlugin, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import { lockDataDir } from './data-dir-lock.ts';
import { PGliteDialect } from './pglite-dialect.ts';
import { prepareStatements } from './prepared.ts';
import type { DB } from './schema.ts';

export type * from './schema.ts';
export type Db = Kysely<DB>;

/** One session held for the length of a callback: multi-statement scripts and session-level locks. */
export interface SessionClient {
  exec(script: string): Promise<void>;
  query<R>(text: string, params?: unknown[]): Promise<R[]>;
}

export interface TableCopy {
  target: string;
  data: Uint8Array;
}

export interface Database {
  kind: 'pglite' | 'postgres';
  /** The connection URL, for processes that need a connection of their own (PostgreSQL only). */
  url?: string;
  db: Db;
  /** Runs `fn` on one dedicated session (advisory locks, scripts). */
  withSession<T>(fn: (client: SessionClient) => Promise<T>): Promise<T>;
  /**
   * Appends the rows of each copy's `data`, in `COPY`'s text format, to its `target` (a table and
   * its column list) with one `COPY … FROM` statement each, the cheapest way to append many rows,
   * all in one transaction: every copy is stored or none.
   */
  copyFrom(copies: readonly TableCopy[]): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Connections of the pool, for /metrics (PostgreSQL only). */
  poolStats?(): { max: number; total: number; idle: number; waiting: number };
}

const INT8_OID = 20;
const plugins = [new CamelCasePlugin()];

const TIMESTAMPTZ_OID = 1184;

/**
 * Column parsers of PGlite, the same as on PostgreSQL: int8 as a number, and timestamptz through
 * `pg`'s parser. PGlite's own hands the text to `new Date()`, which reads the years 0001 to 0049
 * as 2001 to 2049 and 0050 to 0099 as 1950 to 1999.
 */
const PGLITE_PARSERS = {
  [INT8_OID]: (value: string) => Number(value),
  [TIMESTAMPTZ_OID]: pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text'),
};

/** PGlite keeps its files in `dataDir`; `memory://` keeps the database in memory only. */
export async function openPglite(dataDir: string): Promise<Database> {
  const release = dataDir.startsWith('memory://') ? () => {} : lockDataDir(dataDir);
  let pglite: PGlite;
  try {
    pglite = new PGlite(dataDir, { parsers: PGLITE_PARSERS });
    await pglite.waitReady;
  } catch (error) {
    release();
    throw error;
  }
  const db = new Kysely<DB>({ dialect: new PGliteDialect(pglite), plugins });
  return {
    kind: 'pglite',
    db,
    withSession: (fn) =>
      db.connection().execute(() =>
        fn({
          exec: async (script) => {
            await pglite.exec(script);
          },
          query: async <R>(text: string, params: unknown[] = []) =>
            (await pglite.query<R>(text, params)).rows,
        }),
      ),
    // PGlite reads a COPY's input from the blob passed along, under the name /dev/blob.
    copyFrom: (copies) =>
      db.connection().execute(() =>
        pglite.transaction(async (trx) => {
          for (const { target, data } of copies) {
            await trx.query(`copy ${target} from '/dev/blob'`, [], { blob: new Blob([data]) });
          }
        }),
      ),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: async () => {
      await db.destroy();
      await pglite.close();
      release();
    },
  };
}

/** Statement texts named (prepared once per connection) per pool; see prepareStatements. */
const MAX_PREPARED_STATEMENTS = 500;

export async function openPostgres(
  url: string,
  options: { poolSize?: number; preparedStatements?: boolean } = {},
): Promise<Database> {
  const { poolSize = 10, preparedStatements = true } = options;
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // A database that does not answer at all (a network partition, not a refused connection)
    // fails a request after 10 s, as 503, instead of holding it until TCP gives up.
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as never,
    },
  });
  if (preparedStatements) prepareStatements(pool, MAX_PREPARED_STATEMENTS);
  pool.on('error', () => {
    // An idle client lost its connection; the pool replaces it on the next checkout.
  });
  pool.on('connect', (client) => {
    // A client that loses its connection while checked out fails its query, and also emits
    // `error`, which the pool only listens for while the client is idle: unheard, it would end the
    // process. The query's caller gets the error; the pool drops the client when it comes back.
    client.on('error', () => {});
  });
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }), plugins });
  await sql`select 1`.execute(db);
  return {
    kind: 'postgres',
    url,
    db,
    withSession: async (fn) => {
      const client = await pool.connect();
      try {
        return await fn({
          exec: async (script) => {
            await client.query(script);
          },
          query: async <R>(text: string, params: unknown[] = []) =>
            (await client.query(text, params)).rows as R[],
        });
      } finally {
        client.release();
      }
    },
    copyFrom: async (copies) => {
      const client = await pool.connect();
      try {
        await client.query('begin');
        for (const { target, data } of copies) {
          const copy = client.query(copyFromStdin(`copy ${target} from stdin`));
          await new Promise<void>((resolve, reject) => {
            // `finish` comes once PostgreSQL has confirmed the COPY, `error` with its refusal.
            copy.once('finish', resolve);
            copy.once('error', reject);
            copy.end(data);
          });
        }
        await client.query('commit');
      } catch (error) {
        // After an error PostgreSQL reported, the rolled-back session is usable; after any other
        // (a broken connection, a stream error), or a rollback that fails, the connection is
        // closed instead of going back to the pool.
        const usable =
          error instanceof pg.DatabaseError &&
          (await client.query('rollback').then(
            () => true,
            () => false,
          ));
        client.release(usable ? undefined : (error as Error));
        throw error;
      }
      client.release();
    },
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: async () => {
      await db.destroy();
    },
    poolStats: () => ({
      max: poolSize,
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
    }),
  };
}

export function openDatabase(options: {
  databaseUrl: string | undefined;
  dataDir: string;
  preparedStatements: boolean;
}): Promise<Database> {
  return options.databaseUrl
    ? openPostgres(options.databaseUrl, { preparedStatements: options.preparedStatements })
    : openPglite(options.dataDir);
}
