import { randomFillSync } from 'node:crypto';
import { sql } from 'kysely';
import { fromUUIDBytes } from 'typeid-js';
import type { Db } from '../apps/server/src/platform/db/index.ts';

/** Rows per `insert … select` statement while seeding. */
const BATCH = 50_000;
/** Time between two seeded transactions of the main tenant: a million of them cover about a year. */
export const SPACING_MS = 30_000;

/**
 * `count` transaction ids built as the server builds them (TypeIDs over UUIDv7), for the instants
 * `firstMs`, `firstMs + spacingMs`, …: in increasing order, as the cursor's keyset needs.
 */
export function transactionIds(count: number, firstMs: number, spacingMs: number): string[] {
  const random = randomFillSync(Buffer.alloc(count * 10));
  const uuid = new Uint8Array(16);
  const ids = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const ms = firstMs + i * spacingMs;
    // 48-bit Unix milliseconds, version 7, 74 random bits with the RFC 9562 variant.
    uuid[0] = Math.floor(ms / 2 ** 40) & 0xff;
    uuid[1] = Math.floor(ms / 2 ** 32) & 0xff;
    uuid[2] = (ms >>> 24) & 0xff;
    uuid[3] = (ms >>> 16) & 0xff;
    uuid[4] = (ms >>> 8) & 0xff;
    uuid[5] = ms & 0xff;
    uuid.set(random.subarray(i * 10, i * 10 + 10), 6);
    uuid[6] = 0x70 | (uuid[6]! & 0x0f);
    uuid[8] = 0x80 | (uuid[8]! & 0x3f);
    ids[i] = fromUUIDBytes('txn', uuid);
  }
  return ids;
}

/**
 * Inserts one transaction per id for the tenant in batches of one `insert … select` each, `concurrency`
 * batches at a time: the instant of row `i` (its id's time) is `firstMs + i * spacingMs`, and
 * everything else derives from the row number in SQL. Partners are taken in turn; amounts, statuses
 * and order ids vary.
 */
export async function seedTransactions(
  db: Db,
  options: {
    tenantId: string;
    ids: string[];
    firstMs: number;
    spacingMs: number;
    partnerIds: string[];
    concurrency: number;
  },
): Promise<void> {
  const { tenantId, ids, firstMs, spacingMs, partnerIds } = options;
  const partners = `{${partnerIds.join(',')}}`;
  const insertBatch = async (offset: number) => {
    const batch = ids.slice(offset, offset + BATCH).join(',');
    await sql`
      insert into transactions (id, tenant_id, customer_id, partner_id, event_id, external_id, amount_minor,
                                refunded_minor, currency, status, occurred_at, created_at, updated_at)
      select s.id, ${tenantId}, null, (${partners}::text[])[1 + s.i % ${partnerIds.length}],
             'evt_' || substr(s.id, 5), 'order-' || s.i, 1000 + (s.i * 7919) % 99000, 0, 'EUR',
             case when s.i % 20 = 0 then 'refunded' when s.i % 4 = 0 then 'pending' else 'approved' end,
             s.at, s.at, s.at
      from (
        select t.id, ${offset}::bigint + t.n - 1 as i,
               to_timestamp((${firstMs}::bigint + (${offset}::bigint + t.n - 1) * ${spacingMs}) / 1000.0) as at
        from unnest(string_to_array(${batch}, ',')) with ordinality as t (id, n)
      ) as s
    `.execute(db);
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (next < ids.length) {
        const offset = next;
        next += BATCH;
        await insertBatch(offset);
      }
    }),
  );
}
