import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { HeldCounter, MemoryRateLimitStore } from './memory-store.ts';
import { type CounterCell, cellOf } from './policy.ts';
import type { RedisRateLimitStore } from './redis-store.ts';
import { quotaCheck } from './request-limits.ts';

/**
 * Without Redis, quota counters live in the process's memory, and a restart (every deploy of the
 * single-process setup) would refill every spent quota. So at boot each counter of the current
 * day or month is set to what the usage tables hold: the key's metered requests since the period
 * began, or since the quota began counting when that is later (`quota_since`: from its minute
 * while the usage tables keep minutes, 7 days, else from the next full hour), minus those that took
 * nothing from its limits (`uncharged`: refused with 429, or refused before the limits for the
 * caller's address or a suspended tenant). The meter writes its counts every
 * USAGE_FLUSH_INTERVAL_MS and at shutdown, so after a graceful restart the count is exact, and
 * after a crash it misses at most the requests of one flush interval.
 * The same restores the counters a process falls back to while Redis is unreachable (`raise`:
 * counts it made itself in an earlier outage are raised to the stored ones).
 * Returns the number of counters restored.
 */
export async function restoreQuotaCounts(
  db: Db,
  store: MemoryRateLimitStore,
  nowMs: number,
  options: { raise?: boolean } = {},
): Promise<number> {
  const counts = await storedQuotaCounts(db, nowMs);
  for (const { cell, count } of counts) store.restoreCounter(cell, count, options);
  return counts.length;
}

/**
 * When Redis answers again after an outage, its quota counters are raised to what was counted
 * meanwhile: this process's own counters (restored at the outage's start, then counted on) and
 * the usage tables' counts, which hold the other processes' requests of the outage once their
 * meters have flushed. Without it the requests answered in process would be taken from the quota
 * a second time. The usage tables are optional here: without the database, this process's counts
 * are handed back alone.
 */
export async function handBackQuotaCounts(
  db: Db,
  local: MemoryRateLimitStore,
  shared: RedisRateLimitStore,
  nowMs: number,
  log: Pick<FastifyBaseLogger, 'warn'>,
): Promise<void> {
  const counters = new Map<string, HeldCounter>();
  for (const counter of local.counters(nowMs)) counters.set(counter.key, counter);
  try {
    for (const { cell, count } of await storedQuotaCounts(db, nowMs)) {
      const held = counters.get(cell.key);
      if (!held || held.count < count)
        counters.set(cell.key, { key: cell.key, count, endsAtMs: cell.endsAtMs });
    }
  } catch (error) {
    log.warn({ err: error }, 'could not read quota counts for the end of the rate-limit outage');
  }
  await shared.raiseCounters([...counters.values()], nowMs);
}

/** Each quota's count in its current period by the usage tables, for keys that have counted any. */
async function storedQuotaCounts(db: Db, nowMs: number): Promise<{ cell: CounterCell; count: number }[]> {
  const now = new Date(nowMs);
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  // Per key: whole hours from usage_hour, and the minutes of a first hour begun partway.
  const { rows } = await sql<{
    id: string;
    quota: { limit: number; period: 'day' | 'month' };
    quotaSince: Date | null;
    count: string;
  }>`
    with keys as (
      select id, tenant_id, quota, quota_since,
             greatest(
               case when quota->>'period' = 'day' then ${dayStart}::timestamptz else ${monthStart}::timestamptz end,
               coalesce(quota_since, '-infinity')
             ) as start
      from api_keys
      where quota is not null and revoked_at is null
    ), spans as (
      select *, date_trunc('hour', start) + case when start = date_trunc('hour', start)
        then interval '0' else interval '1 hour' end as whole_hours
      from keys
    )
    select s.id, s.quota, s.quota_since as "quotaSince",
      (coalesce((select sum(m.requests - m.uncharged) from usage_minute m
                 where m.tenant_id = s.tenant_id and m.key_id = s.id
                   and m.bucket >= date_trunc('minute', s.start) and m.bucket < s.whole_hours), 0)
       + coalesce((select sum(h.requests - h.uncharged) from usage_hour h
                   where h.tenant_id = s.tenant_id and h.key_id = s.id and h.bucket >= s.whole_hours), 0)
      )::text as count
    from spans s
  `.execute(db);
  const counts: { cell: CounterCell; count: number }[] = [];
  for (const row of rows) {
    const count = Number(row.count);
    if (count <= 0) continue;
    const check = quotaCheck(row.id, row.quota, row.quotaSince && new Date(row.quotaSince));
    counts.push({ cell: cellOf(check, nowMs) as CounterCell, count });
  }
  return counts;
}
