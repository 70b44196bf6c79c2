import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import type { WebhookSettings } from '../config.ts';
import type { Db } from '../db/index.ts';
import { PgListener } from '../db/listener.ts';
import { newId } from '../ids.ts';
import type { Clock } from '../services.ts';
import {
  attemptDelivery,
  type ClaimedMessage,
  decideOutcome,
  type Outcome,
  writeOutcomes,
} from './delivery.ts';
import { OUTBOX_CHANNEL, outboxWrites } from './outbox.ts';
import { messageBody } from './signing.ts';

/** Outbox rows fanned out per transaction. */
const FAN_OUT_BATCH = 500;
/** Due messages looked at per claim, for each one claimed. */
const SCAN_FACTOR = 4;
/**
 * Least time between the starts of two rounds when woken by outbox writes: under a steady stream
 * of domain changes each round then fans out and claims a batch instead of one event at a time,
 * for a few milliseconds of latency.
 */
const MIN_ROUND_MS = 10;

export interface DispatcherStats {
  inFlight: number;
  delivered: number;
  failed: number;
}

/**
 * Sends webhooks: fans outbox rows out into one message per subscribed endpoint, claims due
 * messages with `FOR UPDATE SKIP LOCKED` and a lease, and sends them concurrently — at most
 * `concurrency` in this process and `endpointConcurrency` per endpoint in this process, so a slow
 * receiver cannot take every slot. Results are written in batches. A worker that dies leaves
 * its claims to expire, after which another takes them over: delivery is at least once.
 */
export class WebhookDispatcher {
  private running = false;
  private loopDone: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** Attempts in flight in this process, by endpoint. */
  private readonly perEndpoint = new Map<string, number>();
  private readonly finished: Outcome[] = [];
  private flushing: Promise<void> | undefined;
  private listener: PgListener | undefined;
  /** Polling rounds failed in a row. */
  private failedRounds = 0;
  private readonly onWrite = () => this.wake();
  readonly stats: DispatcherStats = { inFlight: 0, delivered: 0, failed: 0 };

  /** Counts an attempt this process made outside the dispatcher's own rounds (a test send). */
  countAttempt(delivered: boolean): void {
    if (delivered) this.stats.delivered++;
    else this.stats.failed++;
  }

  constructor(
    private readonly db: Db,
    private readonly settings: WebhookSettings,
    private readonly clock: Clock,
    private readonly log: FastifyBaseLogger,
    /** PostgreSQL only: LISTEN for outbox writes of other processes. */
    private readonly databaseUrl?: string,
  ) {}

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    outboxWrites.on('written', this.onWrite);
    if (this.databaseUrl) await this.listen(this.databaseUrl);
    this.loopDone = this.loop();
  }

  /** Stops claiming, waits for the attempts in flight and records them. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    outboxWrites.off('written', this.onWrite);
    this.wake();
    await this.loopDone;
    await Promise.allSettled([...this.inFlight]);
    await this.flush();
    await this.listener?.stop();
    this.listener = undefined;
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async listen(url: string): Promise<void> {
    this.listener = new PgListener({
      url,
      channel: OUTBOX_CHANNEL,
      name: 'webhook outbox listener',
      whileDown: `events of other processes are picked up by polling, within ${this.settings.pollIntervalMs} ms`,
      log: this.log,
      onNotification: () => this.wake(),
      // Outbox writes announced meanwhile are found by the next round.
      onGap: () => this.wake(),
    });
    await this.listener.start();
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        this.woken = false;
        done();
      };
    });
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let busy = false;
      const started = Date.now();
      try {
        const fanned = await this.fanOut();
        const free = this.settings.concurrency - this.inFlight.size;
        const claimed = free > 0 ? await this.claim(free) : [];
        for (const message of claimed) this.deliver(message);
        busy = fanned === FAN_OUT_BATCH || (claimed.length > 0 && claimed.length === free);
      } catch (error) {
        // Logged once per run of failures (a database outage fails every round), not every second.
        if (this.failedRounds++ === 0) {
          this.log.error({ err: error }, 'webhook dispatcher: polling failed; retrying every second');
        }
        await this.sleep(1_000);
        continue;
      }
      if (this.failedRounds > 0) {
        this.log.info({ failedRounds: this.failedRounds }, 'webhook dispatcher: polling again');
        this.failedRounds = 0;
      }
      if (!this.running) break;
      if (!busy) await this.sleep(this.settings.pollIntervalMs);
      else if (this.inFlight.size >= this.settings.concurrency)
        await this.sleep(this.settings.pollIntervalMs);
      const early = started + MIN_ROUND_MS - Date.now();
      if (early > 0 && this.running) await new Promise((resolve) => setTimeout(resolve, early));
    }
  }

  /** Turns outbox rows into messages for the endpoints subscribed when the event happened. */
  async fanOut(): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await sql<{
        id: number;
        tenantId: string;
        eventType: string;
        payload: string;
        createdAt: Date;
        endpointId: string | null;
      }>`
        select o.id, o.tenant_id, o.event_type, o.payload, o.created_at, e.id as endpoint_id
        from (select * from webhook_outbox order by id limit ${FAN_OUT_BATCH} for update skip locked) o
        left join webhook_endpoints e on e.tenant_id = o.tenant_id and e.enabled
          and e.created_at <= o.created_at
          and (o.event_type = any(e.event_types) or '*' = any(e.event_types))
        order by o.id
      `.execute(trx);
      if (rows.rows.length === 0) return 0;
      const outboxIds = [...new Set(rows.rows.map((r) => r.id))];
      const now = this.clock.now();
      const messages = rows.rows.flatMap((row) =>
        row.endpointId === null
          ? []
          : [
              sql`(${newId('msg')}, ${row.tenantId}, ${row.endpointId}, ${row.eventType}, ${messageBody(row.eventType, row.createdAt, row.payload)}, 'pending', ${now}::timestamptz, ${now}::timestamptz, ${now}::timestamptz)`,
            ],
      );
      await sql`delete from webhook_outbox where id = any(${outboxIds}::bigint[])`.execute(trx);
      if (messages.length > 0) {
        await sql`
          insert into webhook_messages (id, tenant_id, endpoint_id, event_type, body, status,
            next_attempt_at, created_at, updated_at)
          values ${sql.join(messages)}
        `.execute(trx);
      }
      return outboxIds.length;
    });
  }

  /**
   * Claims up to `limit` due messages, at most `endpointConcurrency` in flight per endpoint in this
   * process: endpoints at their limit are skipped, so the others still get this worker's slots.
   */
  async claim(limit: number): Promise<ClaimedMessage[]> {
    const now = this.clock.now();
    const token = randomUUID();
    const cap = this.settings.endpointConcurrency;
    const result = await sql<Omit<ClaimedMessage, 'final' | 'leaseToken'>>`
      with busy as (
        select * from unnest(${[...this.perEndpoint.keys()]}::text[], ${[...this.perEndpoint.values()]}::int[])
          as b (endpoint_id, n)
      ),
      candidates as (
        select m.id, m.endpoint_id, m.next_attempt_at from webhook_messages m
        where m.status = 'pending' and m.next_attempt_at <= ${now}
          and (m.locked_until is null or m.locked_until <= ${now})
          and not exists (select 1 from busy b where b.endpoint_id = m.endpoint_id and b.n >= ${cap})
        order by m.next_attempt_at
        limit ${limit * SCAN_FACTOR}
        for update skip locked
      ),
      chosen as (
        select id from (
          select c.id, c.next_attempt_at,
            row_number() over (partition by c.endpoint_id order by c.next_attempt_at, c.id)
              + coalesce(b.n, 0) as slot
          from candidates c left join busy b on b.endpoint_id = c.endpoint_id
        ) ranked
        where slot <= ${cap}
        order by next_attempt_at
        limit ${limit}
      )
      update webhook_messages m
      set locked_until = ${new Date(now.getTime() + this.settings.leaseMs)}, lease_token = ${token}
      from chosen, webhook_endpoints e
      where m.id = chosen.id and e.id = m.endpoint_id and e.enabled
      returning m.id, m.tenant_id, m.endpoint_id, m.event_type, m.body, m.attempts, m.retry_index,
        m.next_trigger as trigger, e.url, e.secret, e.previous_secret, e.previous_secret_expires_at
    `.execute(this.db);
    return result.rows.map((row) => ({ ...row, leaseToken: token, final: row.trigger !== 'scheduled' }));
  }

  private deliver(message: ClaimedMessage): void {
    const { endpointId } = message;
    this.perEndpoint.set(endpointId, (this.perEndpoint.get(endpointId) ?? 0) + 1);
    const run = attemptDelivery(message, this.settings, this.clock.now(), this.log)
      .then((result) => {
        const outcome = decideOutcome(message, result, this.settings, this.clock.now());
        this.countAttempt(result.delivered);
        this.finished.push(outcome);
        void this.flush();
      })
      .catch((error: unknown) => this.log.error({ err: error }, 'webhook delivery crashed'))
      .finally(() => {
        const left = (this.perEndpoint.get(endpointId) ?? 1) - 1;
        if (left > 0) this.perEndpoint.set(endpointId, left);
        else this.perEndpoint.delete(endpointId);
        this.inFlight.delete(run);
        this.stats.inFlight = this.inFlight.size;
      });
    this.inFlight.add(run);
    this.stats.inFlight = this.inFlight.size;
  }

  /** Writes finished attempts; results that arrive meanwhile go into the next batch. */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.finished.length === 0) return Promise.resolve();
    this.flushing = (async () => {
      try {
        while (this.finished.length > 0) {
          const batch = this.finished.splice(0, 500);
          try {
            await writeOutcomes(this.db, batch, this.settings, this.clock.now());
          } catch (error) {
            // The leases expire and the messages are sent again: at least once.
            this.log.error(
              { err: error, messages: batch.length },
              'webhook dispatcher: recording attempts failed',
            );
          }
        }
      } finally {
        this.flushing = undefined;
        // Written attempts release their leases: their endpoints' slots are free to claim again.
        this.wake();
      }
    })();
    return this.flushing;
  }
}
