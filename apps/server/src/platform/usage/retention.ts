import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { Job } from '../jobs.ts';
import type { Clock } from '../services.ts';
import { retentionCutoff } from './query.ts';
import { usageDb } from './tables.ts';

/**
 * Deletes minute rows older than 7 days and hour rows older than 90 days, keeping the bucket each
 * cutoff falls in (see retentionCutoff), which `GET /usage` still answers for.
 */
export async function pruneUsage(db: Db, now: Date): Promise<{ minutes: number; hours: number }> {
  const usage = usageDb(db);
  const cutoff = (granularity: 'minute' | 'hour') => new Date(retentionCutoff(granularity, now));
  const minutes = await usage
    .deleteFrom('usageMinute')
    .where('bucket', '<', cutoff('minute'))
    .executeTakeFirst();
  const hours = await usage.deleteFrom('usageHour').where('bucket', '<', cutoff('hour')).executeTakeFirst();
  // A flush's id is looked up once, at the next flush (see UsageMeter); a day is plenty.
  // The database's own time, as the rows were written by.
  await sql`delete from usage_flushes where written_at < now() - interval '1 day'`.execute(db);
  return { minutes: Number(minutes.numDeletedRows), hours: Number(hours.numDeletedRows) };
}

/** Hourly and at start; two plain deletes, so several processes running it at once do no harm. */
export function usageRetentionJob(db: Db, clock: Clock): Job {
  return {
    name: 'usage-retention',
    intervalMs: 3_600_000,
    atStart: true,
    run: () => pruneUsage(db, clock.now()),
  };
}
