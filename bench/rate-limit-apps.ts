/**
 * The apps the rate-limit benchmark serves beside the platform app, built inside a benchmark server
 * process (serve.ts) on its services. The platform variants are the real `buildApp` with one
 * service swapped; the library variants are the bare partners route with one limiter in front.
 */
import { fastifyRateLimit } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { buildApp } from '../apps/server/src/app.ts';
import type { Job } from '../apps/server/src/platform/jobs.ts';
import { MemoryRateLimitStore } from '../apps/server/src/platform/rate-limit/memory-store.ts';
import type { LimitResult, RateLimitStore } from '../apps/server/src/platform/rate-limit/policy.ts';
import type { Services } from '../apps/server/src/platform/services.ts';
import { RequestRecorder } from '../apps/server/src/platform/usage/request-recorder.ts';
import { bareFastify, registerBarePartnerRoute } from './partners-get-bare.ts';

const ALLOWED: LimitResult = { allowed: true, decisions: [] };

/**
 * Lets every request through without counting it. It answers synchronously, like the memory
 * store, so requests keep the gate's promise-free path; with no decision there is no bucket to
 * report, so no rate-limit headers are set.
 */
class UnlimitedStore implements RateLimitStore {
  readonly failures = 0;

  async hit(): Promise<LimitResult> {
    return ALLOWED;
  }

  hitNow(): LimitResult {
    return ALLOWED;
  }

  async close(): Promise<void> {}
}

/** Records nothing after a response (no metrics, usage meter or request-log row) and runs no jobs. */
class SilentRequestRecorder extends RequestRecorder {
  override record(): void {}

  override jobs(): Job[] {
    return [];
  }
}

/** The platform app without rate limiting and metering: every other hook and service as in production. */
export async function buildUnlimitedApp(services: Services): Promise<FastifyInstance> {
  return buildApp({
    ...services,
    rateLimits: new UnlimitedStore(),
    requestRecorder: silentRecorder(services),
  });
}

/**
 * The platform app with the store boot builds without REDIS_URL, for a process started with it: its
 * only difference from the real app of such a process is where budgets live.
 */
export async function buildMemoryLimitedApp(services: Services): Promise<FastifyInstance> {
  return buildApp({ ...services, rateLimits: new MemoryRateLimitStore() });
}

/** The in-memory rate limit alone, without metering: half of the memory variant's cost. */
export async function buildLimitOnlyApp(services: Services): Promise<FastifyInstance> {
  return buildApp({
    ...services,
    rateLimits: new MemoryRateLimitStore(),
    requestRecorder: silentRecorder(services),
  });
}

/** Metering alone (metrics, usage meter, request log), without a rate limit: the other half. */
export async function buildMeteringOnlyApp(services: Services): Promise<FastifyInstance> {
  return buildApp({ ...services, rateLimits: new UnlimitedStore() });
}

function silentRecorder(services: Services): RequestRecorder {
  return new SilentRequestRecorder(services.database, services.clock, services.log, services.config);
}

/** A per-key limit of a library variant: requests keyed by their `X-API-Key` header, counted in Redis. */
export interface LibraryLimitOptions {
  tenantId: string;
  redisUrl: string;
  /** Prefix of the library's keys in Redis, unique per benchmark run. */
  prefix: string;
  limit: number;
  windowSeconds: number;
}

/** A Redis client of the variant's own, closed with its app. */
async function redisFor(app: FastifyInstance, url: string): Promise<Redis> {
  // As @fastify/rate-limit's README suggests, one retry at most; connected before the app listens
  // (its suggested 500 ms connect timeout is too short on a busy 2-core machine).
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 1 });
  await redis.connect();
  app.addHook('onClose', async () => {
    redis.disconnect();
  });
  return redis;
}

const apiKeyOf = (headers: Record<string, string | string[] | undefined>) => String(headers['x-api-key']);

/** The bare partners route behind `@fastify/rate-limit` with its Redis store (one Lua call per request). */
export async function buildFastifyRateLimitApp(
  services: Services,
  options: LibraryLimitOptions,
): Promise<FastifyInstance> {
  const app = bareFastify(services);
  await registerFastifyRateLimit(app, options, {
    redis: await redisFor(app, options.redisUrl),
    nameSpace: options.prefix,
  });
  registerBarePartnerRoute(app, services, options.tenantId);
  return app;
}

/**
 * The bare partners route behind `@fastify/rate-limit` with its default store in this process's
 * memory: what a minimal limiter costs on this route, with three headers and no metering.
 */
export async function buildFastifyRateLimitMemoryApp(
  services: Services,
  options: Pick<LibraryLimitOptions, 'tenantId' | 'limit' | 'windowSeconds'>,
): Promise<FastifyInstance> {
  const app = bareFastify(services);
  await registerFastifyRateLimit(app, options, {});
  registerBarePartnerRoute(app, services, options.tenantId);
  return app;
}

/** `@fastify/rate-limit` keyed by the `X-API-Key` header, `limit` per window, its default headers. */
async function registerFastifyRateLimit(
  app: FastifyInstance,
  options: Pick<LibraryLimitOptions, 'limit' | 'windowSeconds'>,
  store: { redis?: Redis; nameSpace?: string },
): Promise<void> {
  await app.register(fastifyRateLimit, {
    max: options.limit,
    timeWindow: options.windowSeconds * 1000,
    ...store,
    keyGenerator: (request) => apiKeyOf(request.headers),
  });
}

/**
 * The bare partners route behind rate-limiter-flexible's RateLimiterRedis (one Lua call per
 * request), with the `X-RateLimit-*` headers and 429 answer an integration would add.
 */
export async function buildRateLimiterFlexibleApp(
  services: Services,
  options: LibraryLimitOptions,
): Promise<FastifyInstance> {
  const app = bareFastify(services);
  const limiter = new RateLimiterRedis({
    storeClient: await redisFor(app, options.redisUrl),
    keyPrefix: options.prefix,
    points: options.limit,
    duration: options.windowSeconds,
  });
  app.addHook('onRequest', async (request, reply) => {
    try {
      const result = await limiter.consume(apiKeyOf(request.headers));
      reply.headers({
        'x-ratelimit-limit': String(options.limit),
        'x-ratelimit-remaining': String(result.remainingPoints),
        'x-ratelimit-reset': String(Math.ceil(result.msBeforeNext / 1000)),
      });
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      return reply
        .code(429)
        .header('retry-after', String(Math.ceil(rejection.msBeforeNext / 1000)))
        .send({ title: 'Too Many Requests', status: 429 });
    }
  });
  registerBarePartnerRoute(app, services, options.tenantId);
  return app;
}
