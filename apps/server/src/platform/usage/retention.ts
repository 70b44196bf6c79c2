import type { Db } from '../db/index.ts';
import type { Job } from '../jobs.ts';
import type { Clock } from '../services.ts';
import { usageDb } from './tables.ts';

const DAY_MS = 86_400_000;
const BUCKET_MS = { minute: 60_000, hour: 3_600_000 } as const;

/** How far back each resolution reaches; day rows are kept for good. */
export const USAGE_RETENTION_DAYS = { minute: 7, hour: 90 } as const;

/**
 * Deletes minute rows older than 7 days and hour rows older than 90 days. The bucket the cutoff
 * falls in stays: `GET /usage` answers ranges from its start (see usageRange), and it holds requests
 * younger than the cutoff.
 */
export async function pruneUsage(db: Db, now: Date): Promise<{ minutes: number; hours: number }> {
  const usage = usageDb(db);
  const cutoff = (granularity: 'minute' | 'hour') => {
    const unit = BUCKET_MS[granularity];
    return new Date(Math.floor((now.getTime() - USAGE_RETENTION_DAYS[granularity] * DAY_MS) / unit) * unit);
  };
  const minutes = await usage
    .deleteFrom('usageMinute')
    .where('bucket', '<', cutoff('minute'))
    .executeTakeFirst();
  const hours = await usage.deleteFrom('usageHour').where('bucket', '<', cutoff('hour')).executeTakeFirst();
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
