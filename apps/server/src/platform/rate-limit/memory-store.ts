import { admit, type CellState, describe, type Tat } from './gcra.ts';
import { type Cell, cellOf, type LimitCheck, type LimitResult, type RateLimitStore } from './policy.ts';

const SWEEP_INTERVAL_MS = 10_000;

/**
 * Buckets in this process's memory: exact for one process. A bucket is dropped once it is full
 * again (or its quota period has ended), swept every few seconds; past `maxEntries` the bucket
 * used least recently is dropped, so a flood of client IPs cannot exhaust memory.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly failures = 0;
  private readonly entries = new Map<string, { state: Tat | number; expiresAtMs: number }>();
  private lastSweep = 0;

  constructor(private readonly maxEntries = 200_000) {}

  async hit(checks: readonly LimitCheck[], nowMs: number): Promise<LimitResult> {
    return this.hitNow(checks, nowMs);
  }

  hitNow(checks: readonly LimitCheck[], nowMs: number): LimitResult {
    this.sweep(nowMs);
    const cells = checks.map((check) => cellOf(check, nowMs));
    const states = cells.map((cell) => this.current(cell.key, nowMs));
    const admissions = admit(cells, states, nowMs);
    const allowed = admissions.every((admission) => admission.allowed);
    if (allowed) {
      for (const [i, cell] of cells.entries()) this.store(cell, admissions[i]?.next as Tat | number);
    }
    return { allowed, decisions: describe(cells, states, admissions, allowed, nowMs) };
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  /** How many buckets are held (for tests of the bound). */
  get size(): number {
    return this.entries.size;
  }

  private current(key: string, nowMs: number): CellState {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.state;
  }

  private store(cell: Cell, state: Tat | number): void {
    // A TAT that has passed is the same as no bucket; a quota counter lives until its period ends.
    const expiresAtMs = cell.kind === 'gcra' ? (state as Tat).ms + 1 : cell.endsAtMs;
    // Re-inserting keeps the Map in order of last use, oldest first.
    this.entries.delete(cell.key);
    this.entries.set(cell.key, { state, expiresAtMs });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  private sweep(nowMs: number): void {
    if (Math.abs(nowMs - this.lastSweep) < SWEEP_INTERVAL_MS) return;
    this.lastSweep = nowMs;
    for (const [key, entry] of this.entries) if (entry.expiresAtMs <= nowMs) this.entries.delete(key);
  }
}
