import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { MemoryRateLimitStore } from './memory-store.ts';
import { type CounterCell, cellOf } from './policy.ts';
import { quotaCheck } from './request-limits.ts';

/**
 * Without Redis, quota counters live in the process's memory, and a restart (every deploy of the
 * single-process setup) would refill every spent quota. So at boot each counter of the current
 * day or month is set to what the usage tables hold: the key's metered requests in the period,
 * minus those refused with 429 (a refused request takes nothing from a quota). The meter writes
 * its counts every USAGE_FLUSH_INTERVAL_MS and at shutdown, so after a graceful restart the count
 * is exact, and after a crash it misses at most the requests of one flush interval.
 * Returns the number of counters restored.
 */
export async function restoreQuotaCounts(
  db: Db,
  store: MemoryRateLimitStore,
  nowMs: number,
): Promise<number> {
  const now = new Date(nowMs);
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const { rows } = await sql<{
    id: string;
    quota: { limit: number; period: 'day' | 'month' };
    month: string;
    day: string;
  }>`
    select k.id, k.quota,
           sum(u.requests - u.rate_limited) as month,
           coalesce(sum(u.requests - u.rate_limited) filter (where u.bucket >= ${dayStart}), 0) as day
    from api_keys k
    join usage_day u on u.tenant_id = k.tenant_id and u.key_id = k.id and u.bucket >= ${monthStart}
    where k.quota is not null and k.revoked_at is null
    group by k.id, k.quota
  `.execute(db);
  let restored = 0;
  for (const row of rows) {
    const count = Number(row.quota.period === 'day' ? row.day : row.month);
    if (count <= 0) continue;
    store.restoreCounter(cellOf(quotaCheck(row.id, row.quota), nowMs) as CounterCell, count);
    restored += 1;
  }
  return restored;
}
