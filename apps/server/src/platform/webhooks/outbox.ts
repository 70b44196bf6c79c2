import { EventEmitter } from 'node:events';
import { sql, type Transaction } from 'kysely';
import type { DB, Db } from '../db/index.ts';
import { serializeEventData, type WebhookEventType } from './event-types.ts';

/** The PostgreSQL channel outbox writes notify, so workers in other processes wake at once. */
export const OUTBOX_CHANNEL = 'partnerline_webhook_outbox';

interface OutboxRow {
  tenantId: string;
  type: WebhookEventType;
  payload: string;
  createdAt: Date;
}

/** Events queued in an open transaction, written with one insert just before it commits. */
const pending = new WeakMap<Db, OutboxRow[]>();

/** Emits `written` after a transaction that wrote outbox rows committed in this process. */
export const outboxWrites = new EventEmitter();
outboxWrites.setMaxListeners(0);

/**
 * Writes the events that an enabled endpoint of their tenant subscribes to, in one statement, with a
 * notification PostgreSQL delivers only if the transaction commits and only when a row was written.
 * An event nobody subscribes to is dropped here: the dispatcher would fan it out to no endpoint
 * anyway, since only endpoints that exist when the event happens receive it. Returns the rows written.
 */
async function insertOutboxRows(db: Db, rows: OutboxRow[]): Promise<number> {
  const values = rows.map(
    (row) => sql`(${row.tenantId}, ${row.type}, ${row.payload}, ${row.createdAt}::timestamptz)`,
  );
  const result = await sql<{ written: number }>`
    with inserted as (
      insert into webhook_outbox (tenant_id, event_type, payload, created_at)
      select v.tenant_id, v.event_type, v.payload, v.created_at
      from (values ${sql.join(values)}) as v (tenant_id, event_type, payload, created_at)
      where exists (
        select 1 from webhook_endpoints e
        where e.tenant_id = v.tenant_id and e.enabled
          and (v.event_type = any(e.event_types) or '*' = any(e.event_types))
      )
      returning 1
    ),
    counted as (select count(*)::int as written from inserted)
    select written, case when written > 0 then pg_notify(${OUTBOX_CHANNEL}, '') end
    from counted
  `.execute(db);
  return result.rows[0]?.written ?? 0;
}

/**
 * Runs `fn` in a database transaction whose webhook events are written to the outbox with one
 * multi-row insert at its end, so a domain change and its messages commit (or roll back) together.
 * Inside a transaction that already collects events, `fn` simply joins it.
 */
export async function transactionWithOutbox<T>(db: Db, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  if (pending.has(db)) return fn(db as Transaction<DB>);
  let written = 0;
  const result = await db.transaction().execute(async (trx) => {
    const rows: OutboxRow[] = [];
    pending.set(trx, rows);
    try {
      const value = await fn(trx);
      if (rows.length > 0) written = await insertOutboxRows(trx, rows);
      return value;
    } finally {
      pending.delete(trx);
    }
  });
  if (written > 0) outboxWrites.emit('written');
  return result;
}

/**
 * Queues a webhook event about `data` (the resource as the API returns it) for the tenant's
 * subscribed endpoints. Inside transactionWithOutbox it is written when that transaction ends;
 * elsewhere it is inserted at once, in `ctx.db`'s transaction if it is one.
 */
export async function queueWebhookEvent(
  ctx: { db: Db; tenantId: string; now: Date },
  type: WebhookEventType,
  data: unknown,
): Promise<void> {
  const row = { tenantId: ctx.tenantId, type, payload: serializeEventData(type, data), createdAt: ctx.now };
  const batch = pending.get(ctx.db);
  if (batch) {
    batch.push(row);
    return;
  }
  const written = await insertOutboxRows(ctx.db, [row]);
  if (written > 0 && !ctx.db.isTransaction) outboxWrites.emit('written');
}

/** Queues several events of one type (a statement that changed many rows). */
export async function queueWebhookEvents(
  ctx: { db: Db; tenantId: string; now: Date },
  type: WebhookEventType,
  items: readonly unknown[],
): Promise<void> {
  for (const data of items) await queueWebhookEvent(ctx, type, data);
}
