import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { ipAllowed } from '../auth/ip-allowlist.ts';
import { safeEqual } from '../auth/key-format.ts';
import type { VerifiedKey } from '../auth/key-verifier.ts';
import { expandScopes, requireScope, SCOPES, type Scope } from '../auth/scopes.ts';
import { RESERVED_SLUGS, SLUG_PATTERN } from '../config.ts';
import type { AuthContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import {
  keyRouteOf,
  limitKeyRequest,
  limitKeyRequestNow,
  limitUnauthenticatedRequest,
} from '../rate-limit/request-limits.ts';
import { clientIp } from './client-ip.ts';
import { missingKey, presentedKey } from './credentials.ts';
import { type TenantRoute, unmatchedRoute } from './tenant-route.ts';
import { recordUnanswered } from './unanswered.ts';

const ALL_SCOPES: ReadonlySet<Scope> = new Set(SCOPES);
const SLUG = new RegExp(SLUG_PATTERN);

/** The tenant named by the URL: `/api/t/{slug}/v1` or, with BASE_DOMAIN, the Host's subdomain. */
function namedSlug(request: FastifyRequest, baseDomain: string | undefined): string | undefined {
  const fromPath = (request.params as { tenantSlug?: string } | undefined)?.tenantSlug;
  // `/api/t//v1/…` names no tenant (and no route: an empty segment is an unknown one).
  if (fromPath !== undefined) return fromPath === '' ? undefined : fromPath.toLowerCase();
  if (!baseDomain) return undefined;
  let host = (absoluteFormHost(request.raw.url) ?? request.hostname).toLowerCase();
  // A fully-qualified name may end in a dot (`acme.example.com.`); it names the same host.
  if (host.endsWith('.')) host = host.slice(0, -1);
  const suffix = `.${baseDomain}`;
  if (!host.endsWith(suffix)) return undefined;
  const sub = host.slice(0, -suffix.length);
  // `www.` and the other reserved names are the deployment's own hosts, as the bare domain is.
  // `.example.com` (an empty first label) names none either.
  return sub === '' || sub.includes('.') || RESERVED_SLUGS.has(sub) ? undefined : sub;
}

/**
 * The host of a request target in absolute form (`GET http://acme.example.com/api/v1/me`), which
 * names the host the request is for in place of its Host header (RFC 9112 §3.2.2).
 */
function absoluteFormHost(target: string | undefined): string | undefined {
  if (target === undefined || target.charCodeAt(0) === 47) return undefined;
  try {
    return new URL(target).hostname;
  } catch {
    return undefined;
  }
}

/** The other way to name a tenant, where the deployment has one: its subdomain of BASE_DOMAIN. */
function orHost(baseDomain: string | undefined): string {
  return baseDomain ? ` or {slug}.${baseDomain}/api/v1/…` : '';
}

async function resolveAuth(request: FastifyRequest, reply: FastifyReply): Promise<AuthContext> {
  const { config, keys, tenants, clock } = request.server.services;
  const key = presentedKey(request);
  const slug = namedSlug(request, config.baseDomain);
  if (key === undefined) {
    await limitUnauthenticatedRequest(request, reply);
    if (slug === undefined) {
      throw new ApiError(
        'tenant_slug_missing',
        `Name the tenant: send its API key, or call /api/t/{slug}/v1/…${orHost(config.baseDomain)}`,
      );
    }
    throw missingKey();
  }
  if (isAdminKey(key, config.adminApiKey)) {
    if (slug === undefined) {
      throw new ApiError(
        'tenant_slug_missing',
        `The admin key acts on a tenant named in the URL: /api/t/{slug}/v1/…${orHost(config.baseDomain)}`,
      );
    }
    const tenant = SLUG.test(slug) ? await tenants.bySlug(slug) : undefined;
    if (!tenant) throw new ApiError('tenant_not_found', `No tenant with slug ${slug}`);
    return { tenant, actor: { type: 'admin' }, scopes: ALL_SCOPES };
  }
  const verified = await keys.verify(key, slug);
  return keyAuth(request, verified, clock.now());
}

function isAdminKey(key: string, adminApiKey: string | undefined): boolean {
  return adminApiKey !== undefined && safeEqual(key, adminApiKey);
}

/**
 * A tenant key's request from the key cache alone: undefined when anything needs a promise (a key
 * not cached yet, the admin key, a malformed key, no key at all), which `resolveAuth` then handles.
 * Only tenant keys are ever cached, so a hit is never the admin key. Throws the refusals
 * `resolveAuth` throws.
 */
function cachedAuth(request: FastifyRequest, now: Date): AuthContext | undefined {
  const { config, keys } = request.server.services;
  const key = presentedKey(request);
  if (key === undefined) return undefined;
  const verified = keys.verifyCached(key, namedSlug(request, config.baseDomain));
  return verified && keyAuth(request, verified, now);
}

/**
 * A verified key's access to this request (the key verifier has checked the tenant in the URL):
 * its IP allow-list, its tenant's status.
 */
function keyAuth(request: FastifyRequest, verified: VerifiedKey, now: Date): AuthContext {
  const auth = keyContext(verified);
  // Set before the refusals below: the key's tenant sees them in its usage and request log. They
  // take nothing from the key's limits, which would let a caller from the wrong address spend them.
  request.auth = auth;
  const ip = clientIp(request);
  if (verified.allowedIps && !ipAllowed(verified.allowedIps, ip)) {
    throw new ApiError('ip_not_allowed', `This API key may not be used from ${ip}`);
  }
  if (verified.tenant.status === 'suspended') {
    throw new ApiError('tenant_suspended', 'This tenant is suspended; contact the platform operator');
  }
  request.server.services.keyUsage.touch(verified.id, ip, now);
  return auth;
}

/** One auth context per cached key: made on its first request, shared by the rest. */
const keyContexts = new WeakMap<VerifiedKey, AuthContext>();

function keyContext(verified: VerifiedKey): AuthContext {
  let auth = keyContexts.get(verified);
  if (!auth) {
    auth = {
      tenant: verified.tenant,
      actor: {
        type: 'api_key',
        keyId: verified.id,
        name: verified.name,
        environment: verified.environment,
        grantedScopes: verified.scopes,
        createdAt: verified.createdAt,
        lastUsedAt: verified.lastUsedAt,
        rateLimit: verified.rateLimit,
        quota: verified.quota,
        quotaSince: verified.quotaSince,
      },
      scopes: expandScopes(verified.scopes),
    };
    keyContexts.set(verified, auth);
  }
  return auth;
}

/**
 * The tenant API's gate for one route, run before the body is read: resolve tenant and caller,
 * apply the rate limits and quota (per key; per IP when no key is presented), then check the
 * route's scope. Handlers find the result on `request.auth`, and a key's state on the route on
 * `request.keyRoute`. A request whose key is cached and whose limits are kept in memory passes
 * without a single promise; anything else takes the asynchronous path.
 */
export function tenantGate(route: TenantRoute): onRequestHookHandler {
  return function authenticateTenantRequest(request, reply, done) {
    let auth: AuthContext | undefined;
    try {
      const { clock, config } = request.server.services;
      // One reading of the clock for the whole synchronous gate.
      const now = clock.now();
      const nowMs = now.getTime();
      request.receivedAt = now;
      auth = guardedNow(request, nowMs, () => cachedAuth(request, now));
      if (auth) {
        // Set before the limits: a refused request is metered and logged for its tenant too.
        request.auth = auth;
        const keyRoute = keyRouteOf(route, auth, config);
        request.keyRoute = keyRoute ?? null;
        if (!keyRoute || limitKeyRequestNow(request, reply, keyRoute, nowMs)) {
          requireRouteScope(route, auth);
          done();
          return;
        }
      }
    } catch (error) {
      refuse(request, reply, error, done);
      return;
    }
    request.gateInFlight = true;
    authenticateAsync(request, reply, route, auth).then(
      () => {
        gateDone(request, reply);
        done();
      },
      (error) => {
        gateDone(request, reply);
        refuse(request, reply, error, done);
      },
    );
  };
}

/**
 * Refusals of a presented key before its limits apply: the caller is not authenticated (or not
 * from where it may be), so the request takes from its IP's budget and carries that budget's
 * headers, as one without a key does. It takes nothing from the key's own limits or quota.
 */
const REFUSED_KEY_CODES: ReadonlySet<string> = new Set([
  'api_key_invalid',
  'api_key_revoked',
  'api_key_expired',
  'api_key_inactive',
  'ip_not_allowed',
  'tenant_suspended',
]);

function isKeyRefusal(error: unknown): boolean {
  return error instanceof ApiError && REFUSED_KEY_CODES.has(error.code);
}

/** Ends a refused request: through its IP's budget first when the refusal is of its key. */
function refuse(
  request: FastifyRequest,
  reply: FastifyReply,
  error: unknown,
  done: (error: Error) => void,
): void {
  if (!isKeyRefusal(error)) {
    done(error as Error);
    return;
  }
  // A spent IP budget answers 429 instead of the refusal.
  limitUnauthenticatedRequest(request, reply).then(() => done(error as Error), done);
}

/**
 * The gate of unmatched requests, per method (see unmatchedRoute), made at a method's first such
 * request: at most one per method Node.js's HTTP parser takes.
 */
const unmatchedGates = new Map<string, onRequestHookHandler>();

function unmatchedGate(method: string): onRequestHookHandler {
  let gate = unmatchedGates.get(method);
  if (gate === undefined) {
    gate = tenantGate(unmatchedRoute(method));
    unmatchedGates.set(method, gate);
  }
  return gate;
}

/**
 * A request under the tenant API that no route matches. Made with a key, it passes the gate like
 * any other (authenticated, limited, then metered and logged for the key's tenant), so a mistyped
 * URL shows in the request log and cannot be sent unlimited. Without a key it takes from its IP's
 * budget, like every request without one; the caller's 404 or 405 follows.
 */
export function gateUnmatched(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (presentedKey(request) === undefined) return limitUnauthenticatedRequest(request, reply);
  const gate = unmatchedGate(request.method);
  return new Promise((resolve, reject) => {
    gate.call(request.server, request, reply, (error?: Error) => (error ? reject(error) : resolve()));
  });
}

/**
 * A request that no route of the tenant API takes, outside it: no key is checked there, so it takes
 * from its IP's budget like a request without one, unless it comes with the platform admin key,
 * which is never limited.
 */
export function limitOutsideTenantApi(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const key = presentedKey(request);
  if (key !== undefined && isAdminKey(key, request.server.services.config.adminApiKey)) {
    return Promise.resolve();
  }
  return limitUnauthenticatedRequest(request, reply);
}

/** Ends the gate's asynchronous part: a request whose connection closed meanwhile is recorded now. */
function gateDone(request: FastifyRequest, reply: FastifyReply): void {
  request.gateInFlight = false;
  if (request.closedInGate) recordUnanswered(request, reply);
}

/** The gate with promises: a key read from the database, the admin key, or limits kept in Redis. */
async function authenticateAsync(
  request: FastifyRequest,
  reply: FastifyReply,
  route: TenantRoute,
  cached: AuthContext | undefined,
): Promise<void> {
  const auth = cached ?? (await guarded(request, () => resolveAuth(request, reply)));
  request.auth = auth;
  const keyRoute = keyRouteOf(route, auth, request.server.services.config);
  request.keyRoute = keyRoute ?? null;
  if (keyRoute) {
    try {
      await limitKeyRequest(request, reply, keyRoute);
    } catch (error) {
      // Refused by the limits (429), it took from them; refused because their store could not
      // answer (RATE_LIMIT_FAIL_CLOSED), it took nothing, like a request refused before them.
      if (!(error instanceof ApiError && error.status === 429)) request.keyRoute = null;
      throw error;
    }
  }
  requireRouteScope(route, auth);
}

function requireRouteScope(route: TenantRoute, auth: AuthContext): void {
  if (route.scope) requireScope(auth.scopes, route.scope);
}

/**
 * Runs an authentication step under the brute-force guard: an IP with too many failures gets 429
 * before its key is even looked at, and every refused credential counts as a failure.
 */
async function guarded<T>(request: FastifyRequest, authenticate: () => Promise<T>): Promise<T> {
  const now = request.server.services.clock.now().getTime();
  checkFailures(request, now);
  try {
    return await authenticate();
  } catch (error) {
    countFailure(request, error, now);
    throw error;
  }
}

/** `guarded` for a synchronous step, at a time the caller has read. */
function guardedNow<T>(request: FastifyRequest, now: number, authenticate: () => T): T {
  checkFailures(request, now);
  try {
    return authenticate();
  } catch (error) {
    countFailure(request, error, now);
    throw error;
  }
}

function checkFailures(request: FastifyRequest, now: number): void {
  request.server.services.authFailures.check(clientIp(request), now);
}

function countFailure(request: FastifyRequest, error: unknown, now: number): void {
  if (error instanceof ApiError && error.status === 401 && error.code !== 'api_key_missing') {
    request.server.services.authFailures.recordFailure(clientIp(request), now);
  }
}

/** Guards `/api/admin/*`: only `ADMIN_API_KEY`, as Bearer or X-API-Key; no key is limited per IP. */
export async function authenticateAdminRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  try {
    await guarded(request, () => checkAdminKey(request, reply));
  } catch (error) {
    if (isKeyRefusal(error)) await limitUnauthenticatedRequest(request, reply);
    throw error;
  }
}

async function checkAdminKey(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { adminApiKey } = request.server.services.config;
  const key = presentedKey(request);
  if (key === undefined) {
    await limitUnauthenticatedRequest(request, reply);
    throw missingKey();
  }
  if (adminApiKey === undefined || !safeEqual(key, adminApiKey)) {
    throw new ApiError(
      'api_key_invalid',
      adminApiKey === undefined
        ? 'The admin API is disabled: set ADMIN_API_KEY to use it'
        : 'The platform admin API needs ADMIN_API_KEY',
    );
  }
}

/** The request's auth context; only tenant routes have one. */
export function authOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new Error('tenant route without authentication hook');
  return request.auth;
}
