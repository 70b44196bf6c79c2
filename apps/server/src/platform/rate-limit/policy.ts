/** A request budget refilled continuously: `limit` requests per `windowSeconds`, all usable at once. */
export interface RateLimitPolicy {
  kind: 'rate';
  /** Names the policy in the `RateLimit-Policy` and `RateLimit` headers. */
  name: string;
  limit: number;
  windowSeconds: number;
}

export type QuotaPeriod = 'day' | 'month';

/** A budget of `limit` requests per calendar day or month (UTC), refilled when the period ends. */
export interface QuotaPolicy {
  kind: 'quota';
  name: string;
  limit: number;
  period: QuotaPeriod;
}

export type LimitPolicy = RateLimitPolicy | QuotaPolicy;

/** One budget a request takes from: `bucket` names whose budget it is (`{key_…}:key`, `{ip:…}`). */
export interface LimitCheck {
  bucket: string;
  policy: LimitPolicy;
}

/** What one bucket says about a request. */
export interface LimitDecision {
  /** Whether this bucket alone would let the request through. */
  allowed: boolean;
  limit: number;
  /** Requests left right now, after this one when the request went through. */
  remaining: number;
  /** Unix seconds at which the bucket is full again (rate) or the period ends (quota). */
  resetAt: number;
  /** Seconds from now until `resetAt`. */
  resetSeconds: number;
  /** When refused: seconds until this bucket would let the request through; else 0. */
  retryAfterSeconds: number;
}

/** The answer for all buckets of a request: allowed only when every bucket allows it. */
export interface LimitResult {
  allowed: boolean;
  /** One per check, in the order of the checks. */
  decisions: LimitDecision[];
}

/**
 * Where budgets live: this process's memory, or Redis shared by every process. `hit` takes from
 * all buckets of a request atomically: when any refuses, nothing is taken from any.
 */
export interface RateLimitStore {
  hit(checks: readonly LimitCheck[], nowMs: number): Promise<LimitResult>;
  /** The same, answered synchronously; only stores in this process's memory have it. */
  hitNow?(checks: readonly LimitCheck[], nowMs: number): LimitResult;
  /** Calls to the shared store that failed since start (0 for a store in memory). */
  readonly failures: number;
  close(): Promise<void>;
}

/** A rate-limit bucket as stored: its theoretical arrival time is kept per `limit` and window. */
export interface GcraCell {
  kind: 'gcra';
  key: string;
  limit: number;
  windowMs: number;
}

/** A quota counter as stored: one per bucket and calendar period, dropped after the period. */
export interface CounterCell {
  kind: 'counter';
  key: string;
  limit: number;
  endsAtMs: number;
}

export type Cell = GcraCell | CounterCell;

/** The calendar period (UTC) that contains `nowMs`: its start as a label, and its end. */
export function quotaPeriodOf(period: QuotaPeriod, nowMs: number): { label: string; endsAtMs: number } {
  const now = new Date(nowMs);
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth();
  if (period === 'month') {
    return { label: now.toISOString().slice(0, 7), endsAtMs: Date.UTC(year, month + 1, 1) };
  }
  return { label: now.toISOString().slice(0, 10), endsAtMs: Date.UTC(year, month, now.getUTCDate() + 1) };
}

/** A rate check's cell never changes: made once per check (checks are reused per key and route). */
const rateCells = new WeakMap<LimitCheck, GcraCell>();

/**
 * The stored cell behind a check. A changed limit or window starts a bucket of its own, and each
 * quota period has its own counter, so a new period starts at zero on every process at once.
 */
export function cellOf(check: LimitCheck, nowMs: number): Cell {
  const { policy } = check;
  if (policy.kind === 'rate') {
    let cell = rateCells.get(check);
    if (!cell) {
      cell = {
        kind: 'gcra',
        // `v3`: the stored value is three doubles, the TAT and the bucket's clock (see
        // redis-store.ts). Processes of an older version keep their own buckets under the old keys
        // during a rolling upgrade rather than failing on values they cannot read.
        key: `${check.bucket}:${policy.limit}/${policy.windowSeconds}:v3`,
        limit: policy.limit,
        windowMs: policy.windowSeconds * 1000,
      };
      rateCells.set(check, cell);
    }
    return cell;
  }
  const { label, endsAtMs } = quotaPeriodOf(policy.period, nowMs);
  return { kind: 'counter', key: `${check.bucket}:${label}`, limit: policy.limit, endsAtMs };
}
