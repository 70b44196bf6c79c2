import { type RawBuilder, sql } from 'kysely';
import { dateBound, withinSupportedRange } from '../dates.ts';
import type { Db } from '../db/index.ts';
import { ApiError } from '../errors.ts';
import { addHistogram, emptyHistogram, latencySummary } from './histogram.ts';
import type { StatusClass } from './tables.ts';

export const GRANULARITIES = ['minute', 'hour', 'day', 'week', 'month'] as const;
export type Granularity = (typeof GRANULARITIES)[number];
export const USAGE_GROUPS = ['key', 'route', 'status'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

/** Most points one answer may span; a longer range needs a coarser granularity. */
export const MAX_POINTS = 1_500;

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Where each granularity is read from, and how many points it covers when `from` is not given. */
const GRANULARITY = {
  minute: { table: 'usage_minute', defaultPoints: 60 },
  hour: { table: 'usage_hour', defaultPoints: 24 },
  day: { table: 'usage_day', defaultPoints: 30 },
  week: { table: 'usage_day', defaultPoints: 12 },
  month: { table: 'usage_day', defaultPoints: 12 },
} as const satisfies Record<Granularity, { table: string; defaultPoints: number }>;

const GROUP_COLUMNS: Record<UsageGroup, string[]> = {
  key: ['key_id'],
  route: ['route', 'method'],
  status: ['status_class'],
};

export interface UsageFilters {
  from?: string | undefined;
  to?: string | undefined;
  granularity?: Granularity | undefined;
  groupBy?: UsageGroup | undefined;
  keyId?: string | undefined;
  route?: string | undefined;
  method?: string | undefined;
}

export interface UsageCounts {
  requests: number;
  successes: number;
  clientErrors: number;
  serverErrors: number;
  rateLimited: number;
  /** clientErrors and serverErrors over requests, 0 to 1; null without requests. */
  errorRate: number | null;
  latency: { p50: number | null; p95: number | null; p99: number | null };
}

export interface UsagePoint extends UsageCounts {
  start: Date;
  end: Date;
  keyId?: string | null;
  route?: string;
  method?: string;
  statusClass?: StatusClass;
}

export interface UsageReport {
  data: UsagePoint[];
  totals: UsageCounts;
  meta: { granularity: Granularity; groupBy: UsageGroup | null; from: Date; to: Date };
}

/** Midnight UTC on the first of a month; unlike `Date.UTC`, years 0-99 stay years 0-99. */
function monthStart(year: number, month: number): number {
  return new Date(0).setUTCFullYear(year, month, 1);
}

/** How far back each resolution reaches; day rows are kept for good. */
export const USAGE_RETENTION_DAYS = { minute: 7, hour: 90 } as const;

/**
 * The start of the oldest minute or hour bucket kept: the one the retention cutoff falls in, which
 * still holds requests younger than the cutoff. Ranges start there at the earliest, and pruning
 * deletes only buckets before it.
 */
export function retentionCutoff(granularity: 'minute' | 'hour', now: Date): number {
  return floor(now.getTime() - USAGE_RETENTION_DAYS[granularity] * DAY_MS, granularity);
}

/** The start of the UTC bucket that contains `at`; weeks start on Monday (ISO 8601). */
function floor(at: number, granularity: Granularity): number {
  switch (granularity) {
    case 'minute':
      return Math.floor(at / MINUTE_MS) * MINUTE_MS;
    case 'hour':
      return Math.floor(at / HOUR_MS) * HOUR_MS;
    case 'day':
      return Math.floor(at / DAY_MS) * DAY_MS;
    case 'week': {
      const day = Math.floor(at / DAY_MS) * DAY_MS;
      return day - ((new Date(day).getUTCDay() + 6) % 7) * DAY_MS;
    }
    case 'month': {
      const date = new Date(at);
      return monthStart(date.getUTCFullYear(), date.getUTCMonth());
    }
  }
}

/** The bucket start `steps` buckets after (or before, when negative) the bucket starting at `start`. */
function step(start: number, granularity: Granularity, steps: number): number {
  switch (granularity) {
    case 'minute':
      return start + steps * MINUTE_MS;
    case 'hour':
      return start + steps * HOUR_MS;
    case 'day':
      return start + steps * DAY_MS;
    case 'week':
      return start + steps * 7 * DAY_MS;
    case 'month': {
      const date = new Date(start);
      return monthStart(date.getUTCFullYear(), date.getUTCMonth() + steps);
    }
  }
}

function pointsBetween(start: number, end: number, granularity: Granularity): number {
  if (granularity === 'month') {
    const a = new Date(start);
    const b = new Date(end);
    return (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + b.getUTCMonth() - a.getUTCMonth();
  }
  return Math.round((end - start) / (step(0, granularity, 1) - step(0, granularity, 0)));
}

function invalid(field: string, code: string, message: string): ApiError {
  return new ApiError('validation_error', message, { errors: [{ field, code, message }] });
}

/**
 * The buckets a query covers: from the bucket containing `from` to the one containing `to`
 * (inclusive; a `YYYY-MM-DD` `to` covers that whole day), by default the last `defaultPoints`
 * buckets up to now. Refuses ranges past MAX_POINTS and ranges older than the resolution is kept.
 */
export function usageRange(filters: UsageFilters, now: Date): { from: number; to: number } {
  const granularity = filters.granularity ?? 'day';
  let last = now.getTime();
  if (filters.to !== undefined) {
    const bound = dateBound('to', filters.to, 'to');
    last = bound.op === '<' ? bound.at.getTime() - 1 : bound.at.getTime();
  }
  const to = step(floor(last, granularity), granularity, 1);
  const first = filters.from === undefined ? undefined : dateBound('from', filters.from, 'from').at.getTime();
  // Compared as given, before rounding to buckets: a reversed range within one bucket is still reversed.
  if (first !== undefined && first > last) {
    throw invalid(
      'from',
      'out_of_range',
      filters.to === undefined ? 'from is in the future; to defaults to now' : 'from must not be after to',
    );
  }
  const from =
    first === undefined
      ? step(to, granularity, -GRANULARITY[granularity].defaultPoints)
      : floor(first, granularity);
  if (from >= to) throw invalid('from', 'out_of_range', 'from must not be after to');
  const points = pointsBetween(from, to, granularity);
  if (points > MAX_POINTS) {
    throw invalid(
      'granularity',
      'out_of_range',
      `The range spans ${points} ${granularity} points; at most ${MAX_POINTS} are allowed: narrow it or use a coarser granularity`,
    );
  }
  if (granularity === 'minute' || granularity === 'hour') {
    const days = USAGE_RETENTION_DAYS[granularity];
    if (from < retentionCutoff(granularity, now)) {
      throw invalid(
        'from',
        'out_of_range',
        `${granularity} points are kept for ${days} days; use ${granularity === 'minute' ? 'hour' : 'day'} for older ranges`,
      );
    }
  }
  return { from, to };
}

/** The share of requests answered with 4xx or 5xx, to four decimal places; null without requests. */
function errorRate(counts: { requests: number; clientErrors: number; serverErrors: number }): number | null {
  if (counts.requests === 0) return null;
  return Math.round(((counts.clientErrors + counts.serverErrors) / counts.requests) * 10_000) / 10_000;
}

interface Row {
  start: Date;
  keyId?: string;
  route?: string;
  method?: string;
  statusClass?: StatusClass;
  requests: number;
  successes: number;
  clientErrors: number;
  serverErrors: number;
  rateLimited: number;
  latency: (number | string)[];
}

function groupFields(groupBy: UsageGroup | null, row: Row): Partial<UsagePoint> {
  switch (groupBy) {
    case 'key':
      return { keyId: row.keyId === '' || row.keyId === undefined ? null : row.keyId };
    case 'route':
      return { route: row.route ?? '', method: row.method ?? '' };
    case 'status':
      return row.statusClass ? { statusClass: row.statusClass } : {};
    default:
      return {};
  }
}

/**
 * Requests of one tenant per bucket (and per key, route or status class), with latency
 * percentiles from the merged histograms. Buckets without requests are left out.
 */
export async function queryUsage(
  db: Db,
  tenantId: string,
  filters: UsageFilters,
  now: Date,
): Promise<UsageReport> {
  const granularity = filters.granularity ?? 'day';
  const range = usageRange(filters, now);
  // The first or last bucket of the supported years may reach past them (the bucket after
  // 9999-12-31 starts in year 10000): queried and reported at the edge instead.
  const from = withinSupportedRange(range.from);
  const to = withinSupportedRange(range.to);
  const groupBy = filters.groupBy ?? null;
  const start =
    granularity === 'week' || granularity === 'month'
      ? sql`date_trunc(${granularity}, bucket, 'UTC')`
      : sql`bucket`;
  const groups = groupBy ? GROUP_COLUMNS[groupBy] : [];
  // Usage rows are tenant-owned: every query is restricted to the caller's tenant here.
  const where: RawBuilder<unknown>[] = [
    sql`tenant_id = ${tenantId}`,
    sql`bucket >= ${from}`,
    sql`bucket < ${to}`,
  ];
  if (filters.keyId !== undefined) where.push(sql`key_id = ${filters.keyId}`);
  if (filters.route !== undefined) where.push(sql`route = ${filters.route}`);
  if (filters.method !== undefined) where.push(sql`method = ${filters.method}`);
  const groupList = groups.map((column) => sql`, ${sql.raw(column)}`);
  const { rows } = await sql<Row>`
    select ${start} as start ${sql.join(groupList, sql``)},
      sum(requests)::bigint as requests,
      coalesce(sum(requests) filter (where status_class in ('1xx', '2xx', '3xx')), 0)::bigint as successes,
      coalesce(sum(requests) filter (where status_class = '4xx'), 0)::bigint as client_errors,
      coalesce(sum(requests) filter (where status_class = '5xx'), 0)::bigint as server_errors,
      sum(rate_limited)::bigint as rate_limited,
      usage_histogram_sum(latency) as latency
    from ${sql.table(GRANULARITY[granularity].table)}
    where ${sql.join(where, sql` and `)}
    group by 1 ${sql.join(groupList, sql``)}
    order by 1 ${sql.join(groupList, sql``)}
  `.execute(db);

  const total = emptyHistogram();
  const totals = { requests: 0, successes: 0, clientErrors: 0, serverErrors: 0, rateLimited: 0 };
  const data = rows.map((row) => {
    const histogram = emptyHistogram();
    addHistogram(histogram, row.latency);
    addHistogram(total, histogram);
    const counts = {
      requests: Number(row.requests),
      successes: Number(row.successes),
      clientErrors: Number(row.clientErrors),
      serverErrors: Number(row.serverErrors),
      rateLimited: Number(row.rateLimited),
    };
    for (const name of Object.keys(totals) as (keyof typeof totals)[]) totals[name] += counts[name];
    const bucketStart = new Date(row.start);
    const point: UsagePoint = {
      start: bucketStart,
      end: withinSupportedRange(step(bucketStart.getTime(), granularity, 1)),
      ...groupFields(groupBy, row),
      ...counts,
      errorRate: errorRate(counts),
      latency: latencySummary(histogram),
    };
    return point;
  });
  return {
    data,
    totals: { ...totals, errorRate: errorRate(totals), latency: latencySummary(total) },
    meta: { granularity, groupBy, from, to },
  };
}
