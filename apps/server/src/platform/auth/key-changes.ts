import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Config } from '../config.ts';
import type { Database } from '../db/index.ts';
import { PgListener } from '../db/listener.ts';
import { DEFAULT_REDIS_PREFIX } from '../rate-limit/settings.ts';
import { connectWithin, settleWithin } from '../redis-connect.ts';

/** A change that makes cached key checks stale: one key, or every key of a tenant. */
export type KeyChange = { keyId: string } | { tenantId: string; tenantSlug?: string };

/**
 * Carries key changes to every process, so their caches drop stale entries within a second. While
 * it cannot (its Redis or PostgreSQL connection is down), stale entries live until they expire,
 * KEY_CACHE_TTL_SECONDS after they were cached; when it is back, `onGap` clears the caches.
 */
export interface KeyChangeTransport {
  readonly name: string;
  publish(change: KeyChange): Promise<void>;
  /** `onGap` runs after a reconnect: messages may have been missed, so caches must be cleared. */
  start(onChange: (change: KeyChange) => void, onGap: () => void): Promise<void>;
  stop(): Promise<void>;
}

const CHANNEL = 'partnerline_key_changes';

/**
 * The Redis channel of a deployment: deployments that share one Redis tell themselves apart by
 * RATE_LIMIT_REDIS_PREFIX, so a prefix of their own gives them a channel of their own. With the
 * default prefix it is the channel every version has used.
 */
export function redisKeyChangeChannel(redisPrefix: string): string {
  return redisPrefix === DEFAULT_REDIS_PREFIX ? CHANNEL : `${CHANNEL}:${redisPrefix}`;
}

/** How long a publish may wait for Redis: a change is saved before it is sent, and must answer. */
const PUBLISH_TIMEOUT_MS = 1_000;

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
  private listener: PgListener | undefined;

  constructor(
    private readonly url: string,
    private readonly notify: (channel: string, payload: string) => Promise<void>,
    private readonly cacheTtlSeconds: number,
    private readonly log: FastifyBaseLogger,
  ) {}

  publish(change: KeyChange): Promise<void> {
    return this.notify(CHANNEL, JSON.stringify(change));
  }

  async start(onChange: (change: KeyChange) => void, onGap: () => void): Promise<void> {
    this.listener = new PgListener({
      url: this.url,
      channel: CHANNEL,
      name: 'key change listener',
      whileDown:
        'changes made in other processes take effect here only when cached keys expire ' +
        `(KEY_CACHE_TTL_SECONDS, ${this.cacheTtlSeconds} s) until it answers`,
      log: this.log,
      onNotification: (payload) => {
        const change = payload ? parse(payload) : undefined;
        if (change) onChange(change);
      },
      onGap,
    });
    await this.listener.start();
  }

  async stop(): Promise<void> {
    await this.listener?.stop();
  }
}

/**
 * Redis pub/sub: a subscriber connection and a publisher, both reconnecting in the background.
 * Redis is not needed to serve: when it cannot be reached, at start or later, the process goes on
 * serving, logs one warning, subscribes as soon as Redis answers again (one info line) and then
 * clears its caches, since changes sent meanwhile were missed. Until then a change made in another
 * process reaches this one only when its cached entries expire: within KEY_CACHE_TTL_SECONDS.
 */
export class RedisKeyChanges implements KeyChangeTransport {
  readonly name = 'redis';
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  /** The warning of the current outage has been logged; cleared when the subscription is back. */
  private down = false;
  private stopped = false;
  private lastError: unknown;
  private subscribing: Promise<void> | undefined;

  constructor(
    url: string,
    private readonly channel: string,
    private readonly cacheTtlSeconds: number,
    private readonly log: FastifyBaseLogger,
  ) {
    // No offline queue: a publish while Redis is away fails at once and the hub logs it; one that
    // Redis leaves unanswered fails after PUBLISH_TIMEOUT_MS. A short connect timeout: a Redis
    // that does not answer delays the start by 2 s at most. We subscribe on every `ready` ourselves
    // (no autoResubscribe), so we know when changes arrive again.
    const options = { lazyConnect: true, enableOfflineQueue: false, connectTimeout: 2_000 };
    this.publisher = new Redis(url, {
      ...options,
      maxRetriesPerRequest: 2,
      commandTimeout: PUBLISH_TIMEOUT_MS,
    });
    this.subscriber = new Redis(url, { ...options, maxRetriesPerRequest: null, autoResubscribe: false });
    this.publisher.on('error', () => {
      // A publish that fails is logged by the hub, once per change, not once per reconnect attempt.
    });
    this.subscriber.on('error', (error: unknown) => {
      // Logged once per outage, by `reportDown`, with the last error seen.
      this.lastError = error;
    });
  }

  async publish(change: KeyChange): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify(change));
  }

  async start(onChange: (change: KeyChange) => void, onGap: () => void): Promise<void> {
    this.subscriber.on('message', (_channel: string, message: string) => {
      const change = parse(message);
      if (change) onChange(change);
    });
    this.subscriber.on('ready', () => {
      this.subscribing = this.subscribe(onGap);
    });
    // Emitted on every lost connection and every failed reconnect attempt.
    this.subscriber.on('close', () => this.reportDown());
    // Redis down at start is no reason not to serve: a failed first attempt leaves both clients
    // reconnecting in the background, and the subscriber subscribes whenever it is ready.
    await Promise.all([connectWithin(this.publisher), connectWithin(this.subscriber)]);
    if (this.subscribing) await settleWithin(this.subscribing);
  }

  /** Never rejects: a failed SUBSCRIBE is reported and tried again on the next `ready`. */
  private async subscribe(onGap: () => void): Promise<void> {
    try {
      await this.subscriber.subscribe(this.channel);
    } catch (error) {
      this.lastError = error;
      this.reportDown();
      return;
    }
    if (this.stopped) return;
    // Whatever is cached may have changed unseen while nothing was subscribed (at boot the
    // caches are still empty, so the first subscription clears nothing).
    onGap();
    if (this.down) {
      this.down = false;
      this.log.info(
        'key change channel subscribed to Redis again: changes from other processes arrive at once again',
      );
    }
  }

  private reportDown(): void {
    if (this.stopped || this.down) return;
    this.down = true;
    this.log.warn(
      { err: this.lastError, keyCacheTtlSeconds: this.cacheTtlSeconds },
      'key change channel cannot reach Redis: changes made in other processes take effect here only ' +
        'when cached keys expire (KEY_CACHE_TTL_SECONDS) until it answers; reconnecting in the background',
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // Also cancels a pending reconnect attempt.
    this.subscriber.disconnect();
    this.publisher.disconnect();
  }
}

/**
 * Servers with Redis publish their changes there, and also listen on PostgreSQL: a process that
 * changes keys without serving (the CLI) reaches every server through the database it writes to,
 * whatever Redis settings it was started with.
 */
export class RedisAndPostgresKeyChanges implements KeyChangeTransport {
  readonly name = 'redis';

  constructor(
    private readonly redis: RedisKeyChanges,
    private readonly postgres: PostgresKeyChanges,
  ) {}

  publish(change: KeyChange): Promise<void> {
    return this.redis.publish(change);
  }

  async start(onChange: (change: KeyChange) => void, onGap: () => void): Promise<void> {
    await Promise.all([this.redis.start(onChange, onGap), this.postgres.start(onChange, onGap)]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.redis.stop(), this.postgres.stop()]);
  }
}

function notifyOn(database: Database) {
  return async (channel: string, payload: string) => {
    await sql`select pg_notify(${channel}, ${payload})`.execute(database.db);
  };
}

/**
 * Redis when configured (with PostgreSQL's channel heard too, see RedisAndPostgresKeyChanges),
 * else PostgreSQL LISTEN/NOTIFY, else (PGlite: one process) nothing to send.
 */
export function createKeyChangeTransport(
  config: Config,
  database: Database,
  logger: FastifyBaseLogger,
): KeyChangeTransport {
  const postgres = database.url
    ? new PostgresKeyChanges(database.url, notifyOn(database), config.keyCacheTtlSeconds, logger)
    : undefined;
  if (config.redisUrl) {
    const channel = redisKeyChangeChannel(config.rateLimits.redisPrefix);
    const redis = new RedisKeyChanges(config.redisUrl, channel, config.keyCacheTtlSeconds, logger);
    return postgres ? new RedisAndPostgresKeyChanges(redis, postgres) : redis;
  }
  return postgres ?? new LocalKeyChanges();
}

/**
 * Sends one change from a short-lived process (the CLI) to every running server: a NOTIFY on the
 * database the change was written to, which every server on it listens to, with or without Redis.
 * On PGlite the server is not running (one process per data directory): nothing to send.
 */
export async function sendKeyChange(config: Config, database: Database, change: KeyChange): Promise<void> {
  if (database.kind !== 'postgres') return;
  try {
    await notifyOn(database)(CHANNEL, JSON.stringify(change));
  } catch (error) {
    throw new Error(
      `the change is saved, but could not be sent to running servers (${(error as Error).message}); ` +
        `they apply it when their cached keys expire, within KEY_CACHE_TTL_SECONDS (${config.keyCacheTtlSeconds} s)`,
      { cause: error },
    );
  }
}
