/**
 * Upper bounds in milliseconds of the latency histogram's buckets, roughly log-scale from 1 ms to
 * 60 s; one more bucket takes everything slower. Stored histograms are arrays of counts in this
 * layout, so the bounds must never change: a new layout needs a new column.
 */
export const LATENCY_BOUNDS_MS = [
  1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000,
  30000, 60000,
] as const;

/** Counts per bucket: one per bound plus the overflow bucket. */
const HISTOGRAM_LENGTH = LATENCY_BOUNDS_MS.length + 1;

export function emptyHistogram(): number[] {
  return new Array<number>(HISTOGRAM_LENGTH).fill(0);
}

/** The bucket a latency falls into: the first whose upper bound is not below it. */
export function bucketOf(latencyMs: number): number {
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) {
    if (latencyMs <= (LATENCY_BOUNDS_MS[i] as number)) return i;
  }
  return LATENCY_BOUNDS_MS.length;
}

/** Adds `from` into `into`, element by element. */
export function addHistogram(into: number[], from: readonly (number | string)[]): void {
  for (let i = 0; i < from.length; i++) into[i] = (into[i] ?? 0) + Number(from[i] ?? 0);
}

/**
 * The `q` quantile (0-1) in milliseconds, interpolated linearly inside its bucket as Prometheus'
 * `histogram_quantile` does; requests slower than the last bound count as that bound. Null without
 * requests.
 */
function quantile(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i] ?? 0;
    if (count > 0 && seen + count >= rank) {
      const upper = LATENCY_BOUNDS_MS[i];
      const lower = i === 0 ? 0 : (LATENCY_BOUNDS_MS[i - 1] as number);
      if (upper === undefined) return lower;
      return round(lower + ((upper - lower) * (rank - seen)) / count);
    }
    seen += count;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1] as number;
}

export function latencySummary(counts: readonly number[]): {
  p50: number | null;
  p95: number | null;
  p99: number | null;
} {
  return { p50: quantile(counts, 0.5), p95: quantile(counts, 0.95), p99: quantile(counts, 0.99) };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
