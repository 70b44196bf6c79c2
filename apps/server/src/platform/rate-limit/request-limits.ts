import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { type Config, ConfigError } from '../config.ts';
import type { AuthContext } from '../context.ts';
import type { KeyQuota } from '../db/index.ts';
import { ApiError } from '../errors.ts';
import { clientIp } from '../http/client-ip.ts';
import { routedParams } from '../http/path-params.ts';
import { type KeyRoute, newKeyRoute, type TenantRoute } from '../http/tenant-route.ts';
import { planLimit } from '../plans.ts';
import { quotaHeaders, rateLimitHeaders } from './headers.ts';
import type {
  LimitCheck,
  LimitDecision,
  LimitResult,
  QuotaPeriod,
  QuotaPolicy,
  RateLimitPolicy,
} from './policy.ts';

/** What GET /me shows of the calling key's quota, as counted for this very request. */
export interface QuotaStatus {
  limit: number;
  period: QuotaPeriod;
  remaining: number;
  resetsAt: Date;
}

const quotaStatuses = new WeakMap<FastifyRequest, QuotaStatus>();

/** The key's own rate limit when it has one, else its tenant plan's (named after the plan). */
export function effectiveRateLimit(auth: AuthContext, config: Config): RateLimitPolicy {
  if (auth.actor.type === 'api_key' && auth.actor.rateLimit) {
    return { kind: 'rate', name: 'key', ...auth.actor.rateLimit };
  }
  const { plans } = config.rateLimits;
  const plan = auth.tenant.plan in plans ? auth.tenant.plan : 'default';
  return { kind: 'rate', name: plan, ...planLimit(plan, plans) };
}

/** The quota of the request's key as counted for this request; null without one. */
export function quotaStatusOf(request: FastifyRequest): QuotaStatus | null {
  return quotaStatuses.get(request) ?? null;
}

/**
 * A cached key's state on a route: the budgets its requests take from, which are its own (or its
 * plan's), the route's per-key budget when RATE_LIMIT_ROUTES names the route, and its quota. Made
 * on the key's first request on the route; undefined for the platform admin key, which is not
 * limited.
 */
export function keyRouteOf(route: TenantRoute, auth: AuthContext, config: Config): KeyRoute | undefined {
  const { actor } = auth;
  if (actor.type !== 'api_key') return undefined;
  let keyRoute = route.keys.get(auth);
  if (!keyRoute) {
    const owner = `{${actor.keyId}}`;
    const checks: LimitCheck[] = [{ bucket: `${owner}:key`, policy: effectiveRateLimit(auth, config) }];
    const routeLimit = config.rateLimits.routes.get(route.limitName);
    if (routeLimit) {
      checks.push({
        bucket: `${owner}:route:${route.limitName}`,
        policy: { kind: 'rate', name: route.limitName, ...routeLimit },
      });
    }
    if (actor.quota) checks.push(quotaCheck(actor.keyId, actor.quota, actor.quotaSince));
    keyRoute = newKeyRoute(route, checks);
    route.keys.set(auth, keyRoute);
  }
  return keyRoute;
}

/**
 * The budget a key's quota takes from: one counter per key, whatever the route, and per moment the
 * quota began counting (`since`), so a period changed and changed back starts anew.
 */
export function quotaCheck(keyId: string, quota: KeyQuota, since: Date | null): LimitCheck {
  const bucket = since === null ? `{${keyId}}:quota` : `{${keyId}}:quota@${since.getTime()}`;
  return { bucket, policy: { kind: 'quota', name: 'quota', ...quota } };
}

/**
 * Takes a tenant request from every budget of its key on the route, all or nothing (see keyRouteOf).
 */
export function limitKeyRequest(
  request: FastifyRequest,
  reply: FastifyReply,
  keyRoute: KeyRoute,
): Promise<void> {
  return enforceLimits(request, reply, keyRoute.checks);
}

/**
 * `limitKeyRequest` without a promise, when the store is in this process's memory; false when it
 * is shared (Redis) and the caller has to await `limitKeyRequest` instead.
 */
export function limitKeyRequestNow(
  request: FastifyRequest,
  reply: FastifyReply,
  keyRoute: KeyRoute,
  nowMs: number,
): boolean {
  const { rateLimits } = request.server.services;
  if (!rateLimits.hitNow) return false;
  applyLimits(request, reply, keyRoute.checks, rateLimits.hitNow(keyRoute.checks, nowMs));
  return true;
}

/** Requests that present no key take from a budget per client IP (UNAUTHENTICATED_RATE_LIMIT). */
export function limitUnauthenticatedRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const limit = request.server.services.config.rateLimits.unauthenticated;
  const policy: RateLimitPolicy = { kind: 'rate', name: 'unauthenticated', ...limit };
  return enforceLimits(request, reply, [{ bucket: `{ip:${clientIp(request)}}`, policy }]);
}

/**
 * Takes the request from every bucket or none, sets the headers (the rate bucket with the fewest
 * requests left, and the quota's), and throws 429 when a bucket refuses: `quota_exceeded` when the
 * quota is spent, else `rate_limited`, with Retry-After until every bucket would allow it.
 */
export async function enforceLimits(
  request: FastifyRequest,
  reply: FastifyReply,
  checks: readonly LimitCheck[],
): Promise<void> {
  const { rateLimits, clock } = request.server.services;
  applyLimits(request, reply, checks, await rateLimits.hit(checks, clock.now().getTime()));
}

/** Sets the limit headers of a store's answer, and throws the 429 when it refused the request. */
function applyLimits(
  request: FastifyRequest,
  reply: FastifyReply,
  checks: readonly LimitCheck[],
  result: LimitResult,
): void {
  const rate = reportedRateLimit(checks, result);
  const headers = rate ? rateLimitHeaders(rate.policy, rate.decision) : {};
  const quotaIndex = checks.findIndex((check) => check.policy.kind === 'quota');
  const quota = result.decisions[quotaIndex];
  if (quota) {
    const policy = checks[quotaIndex]?.policy as QuotaPolicy;
    Object.assign(headers, quotaHeaders(quota));
    quotaStatuses.set(request, {
      limit: quota.limit,
      period: policy.period,
      remaining: quota.remaining,
      resetsAt: new Date(quota.resetAt * 1000),
    });
  }
  reply.headers(headers);
  if (result.allowed) return;
  const retryAfter = String(Math.max(...result.decisions.map((d) => d.retryAfterSeconds)));
  if (quota && !quota.allowed) {
    const policy = checks[quotaIndex]?.policy as QuotaPolicy;
    throw new ApiError(
      'quota_exceeded',
      `This key's quota of ${policy.limit} requests per ${policy.period} is spent; it renews at ${new Date(quota.resetAt * 1000).toISOString()}`,
      { headers: { ...headers, 'retry-after': retryAfter } },
    );
  }
  const policy = rate?.policy;
  throw new ApiError(
    'rate_limited',
    policy
      ? `Rate limit "${policy.name}" of ${policy.limit} requests per ${policy.windowSeconds} s reached`
      : 'Rate limit reached',
    { headers: { ...headers, 'retry-after': retryAfter } },
  );
}

/** The rate bucket to report: when refused, the one refusing longest; else the one with fewest left. */
function reportedRateLimit(
  checks: readonly LimitCheck[],
  result: LimitResult,
): { policy: RateLimitPolicy; decision: LimitDecision } | undefined {
  let policy: RateLimitPolicy | undefined;
  let decision: LimitDecision | undefined;
  for (let i = 0; i < checks.length; i++) {
    const candidate = result.decisions[i];
    const check = checks[i] as LimitCheck;
    if (check.policy.kind !== 'rate' || !candidate) continue;
    if (!decision || tighter(candidate, decision)) {
      policy = check.policy;
      decision = candidate;
    }
  }
  return policy && decision && { policy, decision };
}

function tighter(a: LimitDecision, b: LimitDecision): boolean {
  if (a.retryAfterSeconds !== b.retryAfterSeconds) return a.retryAfterSeconds > b.retryAfterSeconds;
  if (a.remaining !== b.remaining) return a.remaining < b.remaining;
  return a.resetSeconds > b.resetSeconds;
}

/**
 * Fails the start when RATE_LIMIT_ROUTES names a route the tenant API does not have: a typo would
 * otherwise limit nothing, silently. Call once every route is registered.
 */
export function assertRateLimitedRoutesExist(app: FastifyInstance, config: Config): void {
  for (const name of config.rateLimits.routes.keys()) {
    const [method = '', path = ''] = name.split(' ');
    const url = `/api/v1${routedParams(path)}`;
    if (!app.hasRoute({ method: method as HTTPMethods, url })) {
      throw new ConfigError(`RATE_LIMIT_ROUTES names ${name}, which is not a route of the API`);
    }
  }
}
