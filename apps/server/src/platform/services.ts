import type { FastifyBaseLogger } from 'fastify';
import type { AuthFailureGuard } from './auth/auth-failures.ts';
import type { KeyChangeHub } from './auth/key-change-hub.ts';
import type { KeyUsageRecorder } from './auth/key-usage.ts';
import type { KeyVerifier, TenantDirectory } from './auth/key-verifier.ts';
import type { Config } from './config.ts';
import type { Database, Db } from './db/index.ts';
import type { PendingIdempotencyWrites } from './idempotency.ts';
import type { JobRunner } from './jobs.ts';
import type { RateLimitStore } from './rate-limit/policy.ts';
import type { RequestRecorder } from './usage/request-recorder.ts';
import type { WebhookDispatcher } from './webhooks/dispatcher.ts';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Everything built once at boot and shared by every request. */
export interface Services {
  config: Config;
  database: Database;
  db: Db;
  clock: Clock;
  keys: KeyVerifier;
  tenants: TenantDirectory;
  keyUsage: KeyUsageRecorder;
  /** Rate limits and quotas; `rateLimits.failures` counts failed calls to Redis. */
  rateLimits: RateLimitStore;
  jobs: JobRunner;
  log: FastifyBaseLogger;
  keyChanges: KeyChangeHub;
  authFailures: AuthFailureGuard;
  /** Usage metering, the request log and /metrics counters, fed by one onResponse hook. */
  requestRecorder: RequestRecorder;
  /** Checks the optional Redis connection for /ready; absent without REDIS_URL. */
  redisProbe: { ping(): Promise<void>; close(): void } | undefined;
  /** Sends webhooks; started in the server unless WEBHOOK_DISPATCH=off, and by `partnerline worker`. */
  webhookDispatcher: WebhookDispatcher;
  /** Idempotent answers the database did not take when their request ended, written later. */
  idempotencyWrites: PendingIdempotencyWrites;
}
