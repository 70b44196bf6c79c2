import type { Cell, LimitDecision } from './policy.ts';

/**
 * A bucket's theoretical arrival time (TAT) under GCRA, exactly: `ms + frac / limit` milliseconds.
 * The emission interval T = window / limit is rarely a whole number of ms (60 s / 7), and adding a
 * rounded T would drift; kept this way all arithmetic is integer and below 2^53, so the Lua script
 * in Redis computes exactly what this module computes.
 */
export interface Tat {
  ms: number;
  frac: number;
}

/** A cell's stored state: a TAT for a rate bucket, a count for a quota; undefined when absent. */
export type CellState = Tat | number | undefined;

export interface Admission {
  allowed: boolean;
  /** The state after taking this request. */
  next: Tat | number;
}

/** How far the TAT is ahead of now, in units of 1/limit ms (0 when it has passed). */
function aheadUnits(tat: Tat | undefined, limit: number, nowMs: number): number {
  return tat ? Math.max(0, (tat.ms - nowMs) * limit + tat.frac) : 0;
}

/**
 * GCRA: each request moves the TAT one emission interval later, starting from now when the TAT has
 * passed; the request is allowed while the new TAT is at most one window ahead. So `limit`
 * requests fit at once, then one more every T, and the bucket is full again at the TAT.
 */
function admitRate(limit: number, windowMs: number, tat: Tat | undefined, nowMs: number): Admission {
  const start = tat && tat.ms >= nowMs ? tat : { ms: nowMs, frac: 0 };
  const wholeMs = Math.floor(windowMs / limit);
  let ms = start.ms + wholeMs;
  let frac = start.frac + (windowMs - wholeMs * limit);
  if (frac >= limit) {
    frac -= limit;
    ms += 1;
  }
  const next = { ms, frac };
  return { allowed: aheadUnits(next, limit, nowMs) <= windowMs * limit, next };
}

/** Whether each cell would take the request, and its state if it does. */
export function admit(cells: readonly Cell[], states: readonly CellState[], nowMs: number): Admission[] {
  return cells.map((cell, i) => {
    const state = states[i];
    if (cell.kind === 'gcra') return admitRate(cell.limit, cell.windowMs, state as Tat | undefined, nowMs);
    const count = (state as number | undefined) ?? 0;
    return { allowed: count < cell.limit, next: count + 1 };
  });
}

const seconds = (ms: number) => Math.ceil(ms / 1000);

/**
 * The decisions to report: on the states after the request when it went through (`allowedAll`),
 * else on the unchanged states, with how long each refusing cell needs before it would allow it.
 */
export function describe(
  cells: readonly Cell[],
  states: readonly CellState[],
  admissions: readonly Admission[],
  allowedAll: boolean,
  nowMs: number,
): LimitDecision[] {
  return cells.map((cell, i) => {
    const admission = admissions[i] as Admission;
    const state = allowedAll ? admission.next : states[i];
    if (cell.kind === 'counter') {
      const count = (state as number | undefined) ?? 0;
      const resetSeconds = seconds(cell.endsAtMs - nowMs);
      return {
        allowed: admission.allowed,
        limit: cell.limit,
        remaining: Math.max(0, cell.limit - count),
        resetAt: seconds(cell.endsAtMs),
        resetSeconds,
        retryAfterSeconds: admission.allowed ? 0 : Math.max(1, resetSeconds),
      };
    }
    const { limit, windowMs } = cell;
    const ahead = aheadUnits(state as Tat | undefined, limit, nowMs);
    const resetMs = nowMs + Math.ceil(ahead / limit);
    const excess = aheadUnits(admission.next as Tat, limit, nowMs) - windowMs * limit;
    return {
      allowed: admission.allowed,
      limit,
      remaining: Math.min(limit, Math.max(0, Math.floor((windowMs * limit - ahead) / windowMs))),
      resetAt: seconds(resetMs),
      resetSeconds: seconds(resetMs - nowMs),
      retryAfterSeconds: admission.allowed ? 0 : Math.max(1, seconds(Math.ceil(excess / limit))),
    };
  });
}
