import type { FastifyBaseLogger } from 'fastify';
import pg from 'pg';

/** First wait before a reconnect attempt; doubled after each failed one, up to the maximum. */
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;

export interface ListenerOptions {
  url: string;
  channel: string;
  /** Names the listener in its log lines, e.g. "key change listener". */
  name: string;
  /** What the process does without it, said in the outage's warning. */
  whileDown: string;
  log: FastifyBaseLogger;
  onNotification(payload: string | undefined): void;
  /** Runs after each reconnect: notifications sent meanwhile were missed. */
  onGap?(): void;
}

/**
 * A dedicated PostgreSQL connection that LISTENs on one channel. It is not needed to serve: when
 * the connection is lost, or cannot be made at start, it reconnects in the background (250 ms,
 * doubling up to 5 s between attempts), logs one warning per outage and one line when it listens
 * again, and then calls `onGap`.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private retryMs = FIRST_RETRY_MS;
  private down = false;
  private stopped = false;

  constructor(private readonly options: ListenerOptions) {}

  /** Resolves once listening, or once the first attempt failed and retrying has begun. */
  async start(): Promise<void> {
    await this.connect(false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async connect(reconnecting: boolean): Promise<void> {
    const { url, channel, onNotification } = this.options;
    // A database that does not answer fails the attempt after 10 s, so it is tried again; TCP
    // keepalive notices a connection that died without a word.
    const client = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    client.on('notification', (message) => onNotification(message.payload));
    client.on('error', (error) => this.lost(client, error));
    this.client = client;
    try {
      await client.connect();
      await client.query(`listen ${channel}`);
    } catch (error) {
      this.lost(client, error);
      return;
    }
    // Stopped meanwhile (`stop` ended it) or replaced: nothing to do.
    if (this.client !== client) return;
    this.retryMs = FIRST_RETRY_MS;
    if (this.down) {
      this.down = false;
      this.options.log.info(`${this.options.name} is listening to PostgreSQL again`);
    }
    if (reconnecting) this.options.onGap?.();
  }

  /** The connection failed or broke: report the outage once and try again later. */
  private lost(client: pg.Client, error: unknown): void {
    void client.end().catch(() => {});
    // An error of a connection already given up on.
    if (this.client !== client) return;
    this.client = undefined;
    if (this.stopped) return;
    if (!this.down) {
      this.down = true;
      this.options.log.warn(
        { err: error },
        `${this.options.name} cannot reach PostgreSQL: ${this.options.whileDown}; reconnecting in the background`,
      );
    }
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect(true);
    }, this.retryMs);
    this.retry.unref();
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }
}
