import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';

const WRITE_INTERVAL_MS = 60_000;

/**
 * Records how often, when and from where each key is used. Requests only touch memory; a timer
 * adds the request counts every two seconds and writes each key's last use at most about once a
 * minute, all in one statement per flush. A crash loses at most one flush interval of counts.
 */
export class KeyUsageRecorder {
  private readonly latest = new Map<string, { at: Date; ip: string }>();
  /** Requests counted since the last flush, and keys whose last use is due to be written. */
  private readonly counts = new Map<string, number>();
  private readonly due = new Set<string>();
  private readonly written = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

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
    this.latest.set(keyId, { at, ip });
    this.counts.set(keyId, (this.counts.get(keyId) ?? 0) + 1);
    if (at.getTime() - (this.written.get(keyId) ?? 0) >= WRITE_INTERVAL_MS) this.due.add(keyId);
  }

  /** The last use seen by this process, which may be newer than the stored one. */
  lastUse(keyId: string): { at: Date; ip: string } | undefined {
    return this.latest.get(keyId);
  }

  /** Adds the counted requests to each key and writes last uses that are due, in one statement. */
  async flush(): Promise<void> {
    if (this.counts.size === 0 && this.due.size === 0) return;
    const ids = new Set([...this.counts.keys(), ...this.due]);
    const batch = [...ids].map((id) => {
      const use = this.due.has(id) ? this.latest.get(id) : undefined;
      return { id, count: this.counts.get(id) ?? 0, at: use?.at ?? null, ip: use?.ip ?? null };
    });
    this.counts.clear();
    this.due.clear();
    for (const use of batch) if (use.at) this.written.set(use.id, use.at.getTime());
    try {
      await sql`
        update api_keys k set
          request_count = k.request_count + u.count,
          last_used_at = case when u.at > coalesce(k.last_used_at, '-infinity') then u.at else k.last_used_at end,
          last_used_ip = case when u.at > coalesce(k.last_used_at, '-infinity') then u.ip else k.last_used_ip end
        from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb) as u (id text, count bigint, at timestamptz, ip text)
        where k.id = u.id
      `.execute(this.db);
    } catch (error) {
      this.log.warn({ err: error }, 'could not record API key usage');
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
