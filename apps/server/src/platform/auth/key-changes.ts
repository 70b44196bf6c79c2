import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.ts';
import type { Database } from '../db/index.ts';

/** A change that makes cached key checks stale: one key, or every key of a tenant. */
export type KeyChange = { keyId: string } | { tenantId: string; tenantSlug?: string };

/** Carries key changes to every process, so their caches drop stale entries within a second. */
export interface KeyChangeTransport {
  readonly name: string;
  publish(change: KeyChange): Promise<void>;
  /** `onGap` runs after a reconnect: messages may have been missed, so caches must be cleared. */
  start(onChange: (change: KeyChange) => void, onGap: () => void): Promise<void>;
  stop(): Promise<void>;
}

const CHANNEL = 'partnerline_key_changes';

function parse(message: string): KeyChange | undefined {
  try {
    const value = JSON.parse(message) as KeyChange;
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

/** One process (PGlite): the process that makes a change drops its own cache entries; nothing to send. */
export class LocalKeyChanges implements KeyChangeTransport {
  readonly name = 'local';
  async publish(): Promise<void> {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

/** PostgreSQL LISTEN/NOTIFY on a dedicated connection that reconnects on loss. */
export class PostgresKeyChanges implements KeyChangeTransport {
  readonly name = 'postgres';
  private listener: pg.Client | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly notify: (channel: string, payload: string) => Promise<void>,
    private readonly log: FastifyBaseLogger,
  ) {}

  publish(change: KeyChange): Promise<void> {
    return this.notify(CHANNEL, JSON.stringify(change));
  }

  async start(onChange: (change: KeyChange) => void, onGap: () => void): Promise<void> {
    const connect = async (reconnecting: boolean): Promise<void> => {
      const client = new pg.Client({ connectionString: this.url });
      client.on('notification', (message) => {
        const change = message.payload ? parse(message.payload) : undefined;
        if (change) onChange(change);
      });
      client.on('error', (error) => {
        this.log.warn({ err: error }, 'key change listener lost its connection; reconnecting');
        void client.end().catch(() => {});
        if (this.listener === client) this.listener = undefined;
        this.scheduleReconnect(connect);
      });
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
      this.listener = client;
      if (reconnecting) onGap();
    };
    await connect(false);
  }

  private scheduleReconnect(connect: (reconnecting: boolean) => Promise<void>): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      connect(true).catch((error: unknown) => {
        this.log.warn({ err: error }, 'key change listener could not reconnect; retrying');
        this.scheduleReconnect(connect);
      });
    }, 500);
    this.retry.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.listener?.end().catch(() => {});
  }
}

/** Redis pub/sub: a subscriber connection and a publisher, both reconnecting by themselves. */
export class RedisKeyChanges implements KeyChangeTransport {
  readonly name = 'redis';
  private readonly publisher: Redis;
  private readonly subscriber: Redis;

  constructor(
    url: string,
    private readonly log: FastifyBaseLogger,
  ) {
    const options = { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false };
    this.publisher = new Redis(url, options);
    this.subscriber = new Redis(url, { ...options, maxRetriesPerRequest: null });
    for (const client of [this.publisher, this.subscriber]) {
      client.on('error', (error) => this.log.warn({ err: error }, 'redis connection error (key changes)'));
    }
  }

  async publish(change: KeyChange): Promise<void> {
    await this.publisher.publish(CHANNEL, JSON.stringify(change));
  }

  async start(onChange: (change: KeyChange) => void, onGap: () => void): Promise<void> {
    await Promise.all([this.publisher.connect(), this.subscriber.connect()]);
    this.subscriber.on('message', (_channel, message) => {
      const change = parse(message);
      if (change) onChange(change);
    });
    let connectedOnce = false;
    this.subscriber.on('ready', () => {
      if (connectedOnce) onGap();
      connectedOnce = true;
    });
    await this.subscriber.subscribe(CHANNEL);
    connectedOnce = true;
  }

  async stop(): Promise<void> {
    this.subscriber.disconnect();
    this.publisher.disconnect();
  }
}

/** Redis when configured, else PostgreSQL LISTEN/NOTIFY, else (PGlite: one process) nothing to send. */
export function createKeyChangeTransport(
  config: Config,
  database: Database,
  logger: FastifyBaseLogger,
): KeyChangeTransport {
  if (config.redisUrl) return new RedisKeyChanges(config.redisUrl, logger);
  if (database.url) {
    return new PostgresKeyChanges(
      database.url,
      async (channel, payload) => {
        await sql`select pg_notify(${channel}, ${payload})`.execute(database.db);
      },
      logger,
    );
  }
  return new LocalKeyChanges();
}

/** Sends one change from a short-lived process (the CLI) to every running server. */
export async function sendKeyChange(config: Config, database: Database, change: KeyChange): Promise<void> {
  const payload = JSON.stringify(change);
  if (config.redisUrl) {
    const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
    try {
      await redis.publish(CHANNEL, payload);
    } finally {
      redis.disconnect();
    }
    return;
  }
  if (database.kind === 'postgres') await sql`select pg_notify(${CHANNEL}, ${payload})`.execute(database.db);
}
