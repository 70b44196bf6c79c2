import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { connectWithin } from '../redis-connect.ts';
import { FailoverRateLimitStore } from './failover-store.ts';
import { MemoryRateLimitStore } from './memory-store.ts';
import type { RateLimitStore } from './policy.ts';
import { RedisRateLimitStore } from './redis-store.ts';

/** How long a request waits for Redis before it is answered in process (or refused, fail-closed). */
const REDIS_TIMEOUT_MS = 100;

/** In memory without REDIS_URL; else Redis, falling back to memory (or 503) while it is down. */
export async function createRateLimitStore(config: Config, log: FastifyBaseLogger): Promise<RateLimitStore> {
  if (!config.redisUrl) return new MemoryRateLimitStore();
  // No offline queue and no retries: a command either runs now or fails now, and the failover
  // store answers instead; the connection itself keeps reconnecting in the background. The
  // timeout is the store's own, not ioredis's commandTimeout (see Deadlines). No auto-pipelining:
  // the store already sends all requests of one turn of the event loop in one call, and ioredis's
  // pipeline around that single call cost 28,000 instructions per request (docs/benchmarks.md).
  const client = new Redis(config.redisUrl, {
    lazyConnect: true,
    enableAutoPipelining: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
  });
  client.on('error', () => {
    // Reported once per outage by the failover store, not on every reconnect attempt.
  });
  // Redis down at start: requests are limited in process until it answers.
  await connectWithin(client);
  return new FailoverRateLimitStore(
    new RedisRateLimitStore(client, config.rateLimits.redisPrefix, REDIS_TIMEOUT_MS),
    new MemoryRateLimitStore(),
    { failClosed: config.rateLimits.failClosed, log },
  );
}
