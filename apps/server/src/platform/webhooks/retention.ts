import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { Job } from '../jobs.ts';
import type { Services } from '../services.ts';

/** Messages deleted per statement, so a large backlog never holds locks for long. */
const BATCH = 5_000;

/**
 * Deletes delivered and failed messages whose last change is older than `retentionMs`, with their
 * attempts; pending messages stay whatever their age. Returns how many messages went.
 */
export async function pruneWebhookMessages(db: Db, now: Date, retentionMs: number): Promise<number> {
  const before = new Date(now.getTime() - retentionMs);
  let deleted = 0;
  for (;;) {
    const result = await sql`
      delete from webhook_messages where id in (
        select id from webhook_messages
        where status <> 'pending' and updated_at < ${before}
        limit ${BATCH}
      )
    `.execute(db);
    const count = Number(result.numAffectedRows ?? 0);
    deleted += count;
    if (count < BATCH) return deleted;
  }
}

/**
 * Hourly and at start (WEBHOOK_RETENTION); plain deletes, so several processes running it at once
 * do no harm.
 */
export function webhookRetentionJob(services: Services): Job {
  return {
    name: 'webhook-retention',
    intervalMs: 3_600_000,
    atStart: true,
    run: () => pruneWebhookMessages(services.db, services.clock.now(), services.config.webhooks.retentionMs),
  };
}
