import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';

const WRITE_INTERVAL_MS = 60_000;

/** What this process knows of one key's use. */
interface KeyUse {
  id: string;
  /** The latest use seen by this process, and where it came from. */
  at: Date;
  ip: string;
  /** Requests since the last flush. */
  count: number;
  /** Whether `at` is to be written by the next flush. */
  due: boolean;
  /** Whether the key is in the next flush's batch. */
  pending: boolean;
  /** The last use written, in ms since the epoch. */
  writtenMs: number;
}

/**
 * Records how often, when and from where each key is used. Requests only touch memory (one map
 * read per request); a timer adds the request counts every two seconds and writes each key's last
 * use at most about once a minute, all in one statement per flush. A crash loses at most one flush
 * interval of counts; while the database cannot be reached they are kept, and written when it can.
 */
export class KeyUsageRecorder {
  private readonly uses = new Map<string, KeyUse>();
  /** Keys used since the last flush. */
  private pending: KeyUse[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Flushes failed in a row. */
  private failures = 0;

  constructor(
    private readonly db: Db,
    private readonly log: FastifyBaseLogger,
    private readonly flushIntervalMs = 2_000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  touch(keyId: string, ip: string, at: Date): void {
    let use = this.uses.get(keyId);
    if (use === undefined) {
      use = { id: keyId, at, ip, count: 0, due: false, pending: false, writtenMs: 0 };
      this.uses.set(keyId, use);
    } else {
      use.at = at;
      use.ip = ip;
    }
    use.count += 1;
    if (!use.due && at.getTime() - use.writtenMs >= WRITE_INTERVAL_MS) use.due = true;
    if (!use.pending) {
      use.pending = true;
      this.pending.push(use);
    }
  }

  /** The last use seen by this process, which may be newer than the stored one. */
  lastUse(keyId: string): { at: Date; ip: string } | undefined {
    const use = this.uses.get(keyId);
    return use && { at: use.at, ip: use.ip };
  }

  /**
   * Adds the counted requests to each key and writes last uses that are due, in one statement.
   * When that fails (the database is away), the batch is kept for the next flush.
   */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending.map((use) => ({
      use,
      count: use.count,
      due: use.due,
      writtenMs: use.writtenMs,
    }));
    const rows = batch.map(({ use, count, due }) => ({
      id: use.id,
      count,
      at: due ? use.at : null,
      ip: due ? use.ip : null,
    }));
    for (const use of this.pending) {
      if (use.due) use.writtenMs = use.at.getTime();
      use.count = 0;
      use.due = false;
      use.pending = false;
    }
    this.pending = [];
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
      for (const { use, count, due, writtenMs } of batch) {
        use.count += count;
        if (due) {
          use.due = true;
          use.writtenMs = writtenMs;
        }
        if (!use.pending) {
          use.pending = true;
          this.pending.push(use);
        }
      }
      // Once per run of failures: a database outage fails every flush.
      if (this.failures++ === 0) this.log.warn({ err: error }, 'could not record API key usage; keeping it');
      return;
    }
    if (this.failures > 0) {
      this.log.info({ failedFlushes: this.failures }, 'recording API key usage again');
      this.failures = 0;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
