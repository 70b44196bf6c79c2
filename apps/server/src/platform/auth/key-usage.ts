import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { SerialFlush } from '../serial-flush.ts';
import type { Clock } from '../services.ts';

const WRITE_INTERVAL_MS = 60_000;

/** What this process knows of one key's use. */
interface KeyUse {
  id: string;
  /** The latest use seen by this process, and where it came from. */
  at: Date;
  ip: string;
  /** Requests not written yet. */
  count: number;
  /** Whether the key is in the next flush's batch: it has requests or a last use to write. */
  pending: boolean;
  /** The time of the last use written, in ms since the epoch; 0 when none was. */
  writtenMs: number;
}

/** One key's part of a flush, kept to be put back should the write fail. */
interface FlushedUse {
  use: KeyUse;
  count: number;
  /** `writtenMs` before this flush, when it writes the last use. */
  previousWrittenMs: number | undefined;
}

/**
 * Records how often, when and from where each key is used. Requests only touch memory (one map
 * read per request); a timer adds the request counts every two seconds and writes each key's
 * latest use at most about once a minute, all in one statement per flush. A use that comes within
 * a minute of the last one written waits for the first flush after that minute, whether or not
 * the key is used again, so the stored last use is late but never stays behind. A crash loses at
 * most one flush interval of counts and the last minute's latest use; while the database cannot
 * be reached both are kept, and written when it can.
 */
export class KeyUsageRecorder {
  private readonly uses = new Map<string, KeyUse>();
  /** Keys with requests or a last use still to write. */
  private pending: KeyUse[] = [];
  private timer: NodeJS.Timeout | undefined;
  /**
   * The timer's flushes, one at a time: during an outage each takes until the database gives up.
   * Each first forgets the keys that have nothing left to write.
   */
  private readonly timed = new SerialFlush(() => {
    this.forgetIdle();
    return this.flush();
  });
  /** When `forgetIdle` last went through the keys, in ms since the epoch. */
  private forgottenAtMs = 0;
  /** Flushes failed in a row. */
  private failures = 0;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly log: FastifyBaseLogger,
    private readonly flushIntervalMs = 2_000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.timed.run(), this.flushIntervalMs);
    this.timer.unref();
  }

  /** Keys whose request counts or latest use are not written yet. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Keys this process holds a use of. */
  get heldCount(): number {
    return this.uses.size;
  }

  /**
   * Once a minute, drops the keys with nothing to write whose last written use is a minute old or
   * more: their next use is written at once anyway, as a key's first is, so holding them would only
   * let the map grow with every key ever used (and revoked) in the process's life.
   */
  forgetIdle(): void {
    const nowMs = this.clock.now().getTime();
    if (nowMs - this.forgottenAtMs < WRITE_INTERVAL_MS) return;
    this.forgottenAtMs = nowMs;
    for (const [id, use] of this.uses) {
      if (!use.pending && nowMs - use.writtenMs >= WRITE_INTERVAL_MS) this.uses.delete(id);
    }
  }

  touch(keyId: string, ip: string, at: Date): void {
    let use = this.uses.get(keyId);
    if (use === undefined) {
      use = { id: keyId, at, ip, count: 0, pending: false, writtenMs: 0 };
      this.uses.set(keyId, use);
    } else {
      use.at = at;
      use.ip = ip;
    }
    use.count += 1;
    this.markPending(use);
  }

  /** The last use seen by this process, which may be newer than the stored one. */
  lastUse(keyId: string): { at: Date; ip: string } | undefined {
    const use = this.uses.get(keyId);
    return use && { at: use.at, ip: use.ip };
  }

  /**
   * Adds the counted requests to each key and writes the latest uses that are due (a minute or
   * more after the key's last written one; with `all`, every one not written yet), in one
   * statement. A latest use not due yet stays for a later flush. When the write fails (the
   * database is away), the batch is kept for the next flush.
   */
  async flush(options: { all?: boolean } = {}): Promise<void> {
    if (this.pending.length === 0) return;
    const nowMs = this.clock.now().getTime();
    const batch: FlushedUse[] = [];
    const rows: { id: string; count: number; at: Date | null; ip: string | null }[] = [];
    const waiting: KeyUse[] = [];
    for (const use of this.pending) {
      const atMs = use.at.getTime();
      const unwritten = atMs > use.writtenMs;
      const writeAt = unwritten && (options.all === true || nowMs - use.writtenMs >= WRITE_INTERVAL_MS);
      if (use.count > 0 || writeAt) {
        rows.push({ id: use.id, count: use.count, at: writeAt ? use.at : null, ip: writeAt ? use.ip : null });
        batch.push({ use, count: use.count, previousWrittenMs: writeAt ? use.writtenMs : undefined });
        if (writeAt) use.writtenMs = atMs;
        use.count = 0;
      }
      if (unwritten && !writeAt) waiting.push(use);
      else use.pending = false;
    }
    this.pending = waiting;
    if (rows.length === 0) return;
    try {
      await sql`
        update api_keys k set
          request_count = k.request_count + u.count,
          last_used_at = case when u.at > coalesce(k.last_used_at, '-infinity') then u.at else k.last_used_at end,
          last_used_ip = case when u.at > coalesce(k.last_used_at, '-infinity') then u.ip else k.last_used_ip end
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as u (id text, count bigint, at timestamptz, ip text)
        where k.id = u.id
      `.execute(this.db);
    } catch (error) {
      this.restore(batch);
      // Once per run of failures: a database outage fails every flush.
      if (this.failures++ === 0) this.log.warn({ err: error }, 'could not record API key usage; keeping it');
      return;
    }
    if (this.failures > 0) {
      this.log.info({ failedFlushes: this.failures }, 'recording API key usage again');
      this.failures = 0;
    }
  }

  /** Puts a failed flush's counts and last uses back, for the next flush to write. */
  private restore(batch: readonly FlushedUse[]): void {
    for (const { use, count, previousWrittenMs } of batch) {
      const held = this.uses.get(use.id);
      if (held !== undefined && held !== use) {
        // Forgotten while its write was under way, and used again since: the new entry takes the
        // count; its own last use, later than this one, is written at its first flush.
        held.count += count;
        this.markPending(held);
        continue;
      }
      if (held === undefined) this.uses.set(use.id, use);
      use.count += count;
      // The lower of the two: a flush still under way may have moved it on since. At worst a use
      // is written twice, never skipped.
      if (previousWrittenMs !== undefined) use.writtenMs = Math.min(use.writtenMs, previousWrittenMs);
      this.markPending(use);
    }
  }

  private markPending(use: KeyUse): void {
    if (!use.pending) {
      use.pending = true;
      this.pending.push(use);
    }
  }

  /** Stops the timer and writes everything kept, the latest uses not yet due included. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush({ all: true });
  }
}
