import { sql } from 'kysely';
import type { Db } from '../db/index.ts';

export interface WebhookQueueDepth {
  /** Events written by domain changes and not yet fanned out to endpoints. */
  outbox: number;
  /** Messages whose next attempt is due now (including those being sent). */
  due: number;
  /** Messages waiting for a later retry. */
  scheduled: number;
}

/** Reads the webhook queue's depth for /metrics; one cheap query over partial indexes. */
export async function webhookQueueDepth(db: Db, now: Date): Promise<WebhookQueueDepth> {
  const { rows } = await sql<WebhookQueueDepth>`
    select
      (select count(*) from webhook_outbox)::int as outbox,
      (select count(*) from webhook_messages where status = 'pending' and next_attempt_at <= ${now})::int as due,
      (select count(*) from webhook_messages where status = 'pending' and next_attempt_at > ${now})::int as scheduled
  `.execute(db);
  return rows[0] ?? { outbox: 0, due: 0, scheduled: 0 };
}
