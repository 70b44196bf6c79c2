import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export type DatabaseKind = 'pglite' | 'postgres';

const DATABASE_LABELS: Record<DatabaseKind, string> = {
  pglite: 'PGlite',
  postgres: 'PostgreSQL',
};

/** The server PostgreSQL benchmarks create their throw-away databases on. */
export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** A fresh, empty database for one benchmark, described by the settings a server needs to open it. */
export interface BenchDatabase {
  kind: DatabaseKind;
  label: string;
  /** DATABASE_URL or DATA_DIR, as the server's environment would carry it. */
  env: Record<string, string>;
  /** Process ids of the database's server-side sessions (PostgreSQL backends; none for PGlite). */
  backendPids(): Promise<number[]>;
  drop(): Promise<void>;
}

async function createPglite(): Promise<BenchDatabase> {
  const dataDir = await mkdtemp(join(tmpdir(), 'partnerline-bench-'));
  return {
    kind: 'pglite',
    label: DATABASE_LABELS.pglite,
    env: { DATA_DIR: dataDir },
    backendPids: async () => [],
    drop: () => rm(dataDir, { recursive: true, force: true }),
  };
}

async function withAdminClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function createPostgres(): Promise<BenchDatabase> {
  const name = `pl_bench_${randomBytes(6).toString('hex')}`;
  await withAdminClient((client) => client.query(`create database ${name}`));
  const url = new URL(BENCH_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    kind: 'postgres',
    label: DATABASE_LABELS.postgres,
    env: { DATABASE_URL: url.toString() },
    backendPids: () =>
      withAdminClient(async (client) => {
        const { rows } = await client.query<{ pid: number }>(
          'select pid from pg_stat_activity where datname = $1',
          [name],
        );
        return rows.map((row) => row.pid);
      }),
    drop: async () => {
      await withAdminClient((client) => client.query(`drop database if exists ${name} with (force)`));
    },
  };
}

export function createBenchDatabase(kind: DatabaseKind): Promise<BenchDatabase> {
  return kind === 'pglite' ? createPglite() : createPostgres();
}

/** Whether BENCH_DATABASE_URL answers; without PostgreSQL the benchmarks run on PGlite alone. */
export async function postgresReachable(): Promise<boolean> {
  try {
    await withAdminClient((client) => client.query('select 1'));
    return true;
  } catch {
    return false;
  }
}

/** The databases to run on: BENCH_DATABASES=pglite,postgres (the default) or a subset. */
export async function selectedDatabases(): Promise<{ kinds: DatabaseKind[]; skipped: string[] }> {
  const wanted = (process.env.BENCH_DATABASES ?? 'pglite,postgres')
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is DatabaseKind => s === 'pglite' || s === 'postgres');
  const skipped: string[] = [];
  if (wanted.includes('postgres') && !(await postgresReachable())) {
    skipped.push(`PostgreSQL skipped: ${new URL(BENCH_DATABASE_URL).host} did not answer`);
    return { kinds: wanted.filter((k) => k !== 'postgres'), skipped };
  }
  return { kinds: wanted, skipped };
}
