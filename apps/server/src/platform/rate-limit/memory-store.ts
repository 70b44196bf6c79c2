import { type Admission, admit, describe, type Tat } from './gcra.ts';
import {
  type Cell,
  type CounterCell,
  cellOf,
  type LimitCheck,
  type LimitResult,
  type RateLimitStore,
} from './policy.ts';

const SWEEP_INTERVAL_MS = 10_000;

/** A quota counter's count in one period, by its stored key. */
export interface HeldCounter {
  key: string;
  count: number;
  endsAtMs: number;
}

/** A bucket as held in memory. */
interface Entry {
  state: Tat | number;
  expiresAtMs: number;
  /** Taken from since the eviction last passed over it (see `evictOne`). */
  used: boolean;
  /** The latest now a rate bucket was read at: a now behind it means the clock was set back. */
  seenMs: number;
}

function update(entry: Entry, cell: Cell, state: Tat | number): void {
  entry.state = state;
  entry.expiresAtMs = expiresAt(cell, state);
  entry.used = true;
}

/**
 * A clock set back (an NTP step, a manual correction) would leave a rate bucket's TAT as far ahead
 * of now as the step, refusing the key for that long: the bucket moves back with the clock, keeping
 * what was left of its budget at its last use.
 */
function followClock(entry: Entry, nowMs: number): void {
  if (nowMs >= entry.seenMs) {
    entry.seenMs = nowMs;
    return;
  }
  if (typeof entry.state !== 'number') {
    const step = entry.seenMs - nowMs;
    entry.state = { ms: entry.state.ms - step, frac: entry.state.frac };
    entry.expiresAtMs -= step;
  }
  entry.seenMs = nowMs;
}

/** A TAT that has passed is the same as no bucket; a quota counter lives until its period ends. */
function expiresAt(cell: Cell, state: Tat | number): number {
  return cell.kind === 'gcra' ? (state as Tat).ms + 1 : cell.endsAtMs;
}

/**
 * Buckets in this process's memory: exact for one process. A bucket is dropped once it is full
 * again (or its quota period has ended), swept every few seconds; past `maxEntries` a bucket not
 * used recently is dropped (second chance: the oldest bucket goes, unless it has been used since it
 * was stored or last passed over), so a flood of client IPs cannot exhaust memory.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly failures = 0;
  private readonly entries = new Map<string, Entry>();
  private lastSweep = 0;

  constructor(private readonly maxEntries = 200_000) {}

  async hit(checks: readonly LimitCheck[], nowMs: number): Promise<LimitResult> {
    return this.hitNow(checks, nowMs);
  }

  hitNow(checks: readonly LimitCheck[], nowMs: number): LimitResult {
    this.sweep(nowMs);
    // Plain loops, no closures: this runs on every request.
    const count = checks.length;
    const cells = new Array<Cell>(count);
    const found = new Array<Entry | undefined>(count);
    const states = new Array<Tat | number | undefined>(count);
    for (let i = 0; i < count; i++) {
      const cell = cellOf(checks[i] as LimitCheck, nowMs);
      const entry = this.current(cell.key, nowMs);
      cells[i] = cell;
      found[i] = entry;
      states[i] = entry?.state;
    }
    const admissions = admit(cells, states, nowMs);
    let allowed = true;
    for (const admission of admissions) allowed &&= admission.allowed;
    if (allowed) {
      // Held buckets first, in place: marked used, they survive an eviction a new bucket causes.
      for (let i = 0; i < count; i++) {
        const entry = found[i];
        if (entry) update(entry, cells[i] as Cell, (admissions[i] as Admission).next);
      }
      for (let i = 0; i < count; i++) {
        if (!found[i]) this.insert(cells[i] as Cell, (admissions[i] as Admission).next, nowMs);
      }
    }
    return { allowed, decisions: describe(cells, states, admissions, allowed, nowMs) };
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  /**
   * Sets a quota counter to a count taken elsewhere (see restoreQuotaCounts), unless this process
   * has counted it already; with `raise`, to the higher of the two.
   */
  restoreCounter(cell: CounterCell, count: number, options: { raise?: boolean } = {}): void {
    const entry = this.entries.get(cell.key);
    if (!entry) {
      this.insert(cell, count, 0);
      return;
    }
    // With `raise`, a count taken elsewhere that is higher wins: this process counted only part.
    if (options.raise && typeof entry.state === 'number' && entry.state < count) entry.state = count;
  }

  /** The quota counters held now, each with the end of its period. */
  counters(nowMs: number): HeldCounter[] {
    const counters: HeldCounter[] = [];
    for (const [key, entry] of this.entries) {
      if (typeof entry.state === 'number' && entry.expiresAtMs > nowMs) {
        counters.push({ key, count: entry.state, endsAtMs: entry.expiresAtMs });
      }
    }
    return counters;
  }

  /** How many buckets are held (for tests of the bound). */
  get size(): number {
    return this.entries.size;
  }

  private current(key: string, nowMs: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    followClock(entry, nowMs);
    if (entry.expiresAtMs <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private insert(cell: Cell, state: Tat | number, nowMs: number): void {
    // Room first: a bucket just stored must not be the one dropped to make it.
    if (this.entries.size >= this.maxEntries) this.evictOne();
    this.entries.set(cell.key, { state, expiresAtMs: expiresAt(cell, state), used: false, seenMs: nowMs });
  }

  /** Drops the oldest bucket not used since it was stored or last passed over; used ones go to the back. */
  private evictOne(): void {
    for (const [key, entry] of this.entries) {
      this.entries.delete(key);
      if (!entry.used) return;
      entry.used = false;
      this.entries.set(key, entry);
    }
  }

  private sweep(nowMs: number): void {
    if (Math.abs(nowMs - this.lastSweep) < SWEEP_INTERVAL_MS) return;
    this.lastSweep = nowMs;
    for (const [key, entry] of this.entries) if (entry.expiresAtMs <= nowMs) this.entries.delete(key);
  }
}
