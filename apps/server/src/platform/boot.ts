import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import pino from 'pino';
import { AuthFailureGuard } from './auth/auth-failures.ts';
import { KeyChangeHub } from './auth/key-change-hub.ts';
import { createKeyChangeTransport } from './auth/key-changes.ts';
import { KeyUsageRecorder } from './auth/key-usage.ts';
import { KeyVerifier, TenantDirectory } from './auth/key-verifier.ts';
import type { Config } from './config.ts';
import { type Database, openDatabase } from './db/index.ts';
import { migrate } from './db/migrate.ts';
import { within } from './deadline.ts';
import { PendingIdempotencyWrites } from './idempotency.ts';
import { JobRunner } from './jobs.ts';
import { createRateLimitStore } from './rate-limit/create-store.ts';
import { FailoverRateLimitStore } from './rate-limit/failover-store.ts';
import { MemoryRateLimitStore } from './rate-limit/memory-store.ts';
import { handBackQuotaCounts, restoreQuotaCounts } from './rate-limit/quota-restore.ts';
import { type Clock, type Services, systemClock } from './services.ts';
import { holdTickObjectShape } from './tick-queue.ts';
import { RequestRecorder } from './usage/request-recorder.ts';
import { WebhookDispatcher } from './webhooks/dispatcher.ts';

export function createLogger(config: Config): FastifyBaseLogger {
  return pino({ level: config.logLevel });
}

/** Opens the database, applies pending migrations and wires the shared services. */
export async function createServices(
  config: Config,
  options: { clock?: Clock; database?: Database; logger?: FastifyBaseLogger } = {},
): Promise<Services> {
  holdTickObjectShape();
  const database = options.database ?? (await openDatabase(config));
  await migrate(database);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config);
  const keyUsage = new KeyUsageRecorder(database.db, clock, logger);
  keyUsage.start();
  const keys = new KeyVerifier(database.db, config.keyPrefix, config.keyCacheTtlSeconds, () => clock.now());
  const tenants = new TenantDirectory(database.db, config.keyCacheTtlSeconds);
  const keyChanges = new KeyChangeHub(
    keys,
    tenants,
    createKeyChangeTransport(config, database, logger),
    logger,
  );
  // Creates today's request-log partitions before the server listens.
  const requestRecorder = new RequestRecorder(database, clock, logger, config);
  // Both Redis connections are waited for side by side: an unresponsive Redis holds the start up
  // once (2 s), not once per connection.
  const [rateLimits] = await Promise.all([
    createRateLimitStore(config, logger),
    keyChanges.start(),
    requestRecorder.start(),
  ]);
  if (rateLimits instanceof MemoryRateLimitStore) {
    await restoreQuotaCounts(database.db, rateLimits, clock.now().getTime());
  } else if (rateLimits instanceof FailoverRateLimitStore) {
    const { local, shared } = rateLimits;
    rateLimits.onOutage = () =>
      restoreQuotaCounts(database.db, local, clock.now().getTime(), { raise: true });
    rateLimits.onRecovery = () =>
      handBackQuotaCounts(database.db, local, shared, clock.now().getTime(), logger);
  }
  return {
    config,
    database,
    db: database.db,
    clock,
    keys,
    tenants,
    keyUsage,
    rateLimits,
    jobs: new JobRunner(logger),
    log: logger,
    keyChanges,
    authFailures: new AuthFailureGuard(config.authFailureLimit, logger),
    requestRecorder,
    redisProbe: config.redisUrl ? redisProbe(config.redisUrl) : undefined,
    webhookDispatcher: new WebhookDispatcher(database.db, config.webhooks, clock, logger, database.url),
    idempotencyWrites: new PendingIdempotencyWrites(logger),
  };
}

/** How long /ready waits for Redis: a probe must answer, also while Redis accepts but does not reply. */
const REDIS_PROBE_TIMEOUT_MS = 1_000;

/** A Redis connection of its own for /ready, opened on first use. */
function redisProbe(url: string): NonNullable<Services['redisProbe']> {
  let client: Redis | undefined;
  const ping = async (redis: Redis) => {
    if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
    await redis.ping();
  };
  return {
    ping: async () => {
      if (!client) {
        client = new Redis(url, {
          lazyConnect: true,
          maxRetriesPerRequest: 1,
          enableOfflineQueue: false,
          connectTimeout: REDIS_PROBE_TIMEOUT_MS,
          commandTimeout: REDIS_PROBE_TIMEOUT_MS,
        });
        client.on('error', () => {
          // Reported through the failed ping.
        });
      }
      await within(ping(client), REDIS_PROBE_TIMEOUT_MS, 'Redis');
    },
    close: () => client?.disconnect(),
  };
}

/** Flushes what is buffered and closes the database: the last step of a graceful shutdown. */
/**
 * What `closeServices` could not write because the database did not take it: lost once the
 * process exits. Empty when everything was written.
 */
export function unwrittenAtStop(services: Services): Record<string, number> {
  const { requestRecorder, keyUsage } = services;
  const counts = {
    requestLogRows: requestRecorder.requestLogs.pendingCount,
    usageCounts: requestRecorder.usage.pendingCount,
    keysWithUnwrittenUse: keyUsage.pendingCount,
    idempotentAnswers: services.idempotencyWrites.pendingCount,
  };
  return Object.fromEntries(Object.entries(counts).filter(([, count]) => count > 0));
}

export async function closeServices(services: Services): Promise<void> {
  await services.webhookDispatcher.stop();
  await services.jobs.stop();
  await services.keyChanges.stop();
  services.redisProbe?.close();
  await services.rateLimits.close();
  await services.keyUsage.stop();
  await services.requestRecorder.stop();
  await services.idempotencyWrites.retry();
  await services.database.close();
}
