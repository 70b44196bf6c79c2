import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { Job } from '../jobs.ts';
import type { Clock } from '../services.ts';

const DAY_MS = 86_400_000;
/** Days created ahead of today, so midnight never finds its partition missing. */
const DAYS_AHEAD = 2;
/** Arbitrary constant naming the partition maintenance among the database's advisory locks. */
const PARTITION_LOCK_ID = 727_510_006;
/**
 * The tables partitioned by UTC day: the request log and its postings (migration 0016), each day
 * of one with the same day of the other, created and dropped together.
 */
const TABLES = ['request_logs', 'request_log_postings'] as const;
type PartitionedTable = (typeof TABLES)[number];

function startOfDay(at: Date | number): number {
  const ms = typeof at === 'number' ? at : at.getTime();
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

function partitionName(table: PartitionedTable, dayStart: number): string {
  return `${table}_${new Date(dayStart).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

/** The day partitions a table has now (request_logs by default), as the UTC start of each day. */
export async function listRequestLogPartitions(
  db: Db,
  table: PartitionedTable = 'request_logs',
): Promise<number[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = ${table}::regclass
  `.execute(db);
  const pattern = new RegExp(`^${table}_(\\d{4})(\\d{2})(\\d{2})$`);
  const days: number[] = [];
  for (const { name } of rows) {
    const match = pattern.exec(name);
    if (match) days.push(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  }
  return days.sort((a, b) => a - b);
}

/**
 * Creates the partitions of the given days that do not exist yet and drops those wholly older than
 * the cutoff. An advisory transaction lock makes concurrent runs in several processes wait for each
 * other, so none trips over a table another is creating.
 */
async function maintain(db: Db, create: number[], dropBefore: number | undefined) {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${PARTITION_LOCK_ID})`.execute(trx);
    // Creating or dropping a partition locks its table; never queue inserts behind a long read
    // for more than a few seconds: the next run tries again.
    await sql`set local lock_timeout = '5s'`.execute(trx);
    const created: string[] = [];
    const dropped: string[] = [];
    for (const table of TABLES) {
      const existing = new Set(await listRequestLogPartitions(trx, table));
      for (const day of new Set(create.map(startOfDay))) {
        if (existing.has(day) || (dropBefore !== undefined && day + DAY_MS <= dropBefore)) continue;
        const name = partitionName(table, day);
        const from = new Date(day).toISOString();
        const to = new Date(day + DAY_MS).toISOString();
        await sql`
          create table if not exists ${sql.table(name)} partition of ${sql.table(table)}
          for values from (${sql.lit(from)}) to (${sql.lit(to)})
        `.execute(trx);
        created.push(name);
      }
      if (dropBefore !== undefined) {
        for (const day of existing) {
          if (day + DAY_MS > dropBefore) continue;
          const name = partitionName(table, day);
          await sql`drop table if exists ${sql.table(name)}`.execute(trx);
          dropped.push(name);
        }
      }
    }
    return { created, dropped };
  });
}

/**
 * The partition job's work: today's and the next two days' partitions exist afterwards, and days
 * that ended more than `retentionDays` ago are dropped, so rows are kept at least that long.
 */
export function maintainRequestLogPartitions(
  db: Db,
  now: Date,
  retentionDays: number,
): Promise<{ created: string[]; dropped: string[] }> {
  const today = startOfDay(now);
  const days = Array.from({ length: DAYS_AHEAD + 1 }, (_, i) => today + i * DAY_MS);
  return maintain(db, days, now.getTime() - retentionDays * DAY_MS);
}

/** Creates the partitions for rows that found none (a clock far off, or a job that did not run). */
export async function ensureRequestLogPartitions(db: Db, times: Date[]): Promise<void> {
  await maintain(
    db,
    times.map((at) => at.getTime()),
    undefined,
  );
}

/** Runs hourly in every process (startup runs it once before listening). */
export function requestLogPartitionJob(db: Db, clock: Clock, retentionDays: number): Job {
  return {
    name: 'request-log-partitions',
    intervalMs: 3_600_000,
    run: () => maintainRequestLogPartitions(db, clock.now(), retentionDays),
  };
}
