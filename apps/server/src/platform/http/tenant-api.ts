import type { FastifyReply, FastifyRequest } from 'fastify';
import { ipAllowed, normalizeIp } from '../auth/ip-allowlist.ts';
import { safeEqual } from '../auth/key-format.ts';
import { expandScopes, requireScope, SCOPES, type Scope } from '../auth/scopes.ts';
import type { AuthContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { limitKeyRequest, limitUnauthenticatedRequest } from '../rate-limit/request-limits.ts';
import { missingKey, presentedKey } from './credentials.ts';

const ALL_SCOPES: ReadonlySet<Scope> = new Set(SCOPES);
const SLUG = /^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$/;

/** The tenant named by the URL: `/api/t/{slug}/v1` or, with BASE_DOMAIN, the Host's subdomain. */
function namedSlug(request: FastifyRequest, baseDomain: string | undefined): string | undefined {
  const fromPath = (request.params as { tenantSlug?: string } | undefined)?.tenantSlug;
  if (fromPath !== undefined) return fromPath.toLowerCase();
  if (!baseDomain) return undefined;
  const host = request.hostname.toLowerCase();
  const suffix = `.${baseDomain}`;
  if (!host.endsWith(suffix)) return undefined;
  const sub = host.slice(0, -suffix.length);
  return sub.includes('.') ? undefined : sub;
}

async function resolveAuth(request: FastifyRequest, reply: FastifyReply): Promise<AuthContext> {
  const { config, keys, tenants, keyUsage, clock } = request.server.services;
  const key = presentedKey(request);
  const slug = namedSlug(request, config.baseDomain);
  if (key === undefined) {
    await limitUnauthenticatedRequest(request, reply);
    if (slug === undefined) {
      throw new ApiError(
        'tenant_slug_missing',
        'Name the tenant: send its API key, or call /api/t/{slug}/v1/… (or {slug}.<base domain>)',
      );
    }
    throw missingKey();
  }
  if (config.adminApiKey !== undefined && safeEqual(key, config.adminApiKey)) {
    if (slug === undefined) {
      throw new ApiError(
        'tenant_slug_missing',
        'The admin key acts on a tenant named in the URL: /api/t/{slug}/v1/…',
      );
    }
    const tenant = SLUG.test(slug) ? await tenants.bySlug(slug) : undefined;
    if (!tenant) throw new ApiError('tenant_not_found', `No tenant with slug ${slug}`);
    return { tenant, actor: { type: 'admin' }, scopes: ALL_SCOPES };
  }
  const verified = await keys.verify(key);
  // Another tenant's URL: refused exactly like an unknown key, so tenants cannot be probed.
  if (slug !== undefined && verified.tenant.slug !== slug) {
    throw new ApiError('api_key_invalid', 'The API key is not valid for this tenant');
  }
  if (verified.allowedIps && !ipAllowed(verified.allowedIps, request.ip)) {
    throw new ApiError('ip_not_allowed', `This API key may not be used from ${normalizeIp(request.ip)}`);
  }
  if (verified.tenant.status === 'suspended') {
    throw new ApiError('tenant_suspended', 'This tenant is suspended; contact the platform operator');
  }
  keyUsage.touch(verified.id, normalizeIp(request.ip), clock.now());
  return {
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
    },
    scopes: expandScopes(verified.scopes),
  };
}

/**
 * The tenant API's gate, run before the body is read: resolve tenant and caller, apply the rate
 * limits and quota (per key; per IP when no key is presented), then check the route's scope.
 * Handlers find the result on `request.auth`.
 */
export async function authenticateTenantRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const auth = await guarded(request, () => resolveAuth(request, reply));
  request.auth = auth;
  await limitKeyRequest(request, reply, auth);
  const scope = request.routeOptions.config.scope;
  if (scope) requireScope(auth.scopes, scope);
}

/**
 * Runs an authentication step under the brute-force guard: an IP with too many failures gets 429
 * before its key is even looked at, and every refused credential counts as a failure.
 */
async function guarded<T>(request: FastifyRequest, authenticate: () => Promise<T>): Promise<T> {
  const { authFailures, clock } = request.server.services;
  const now = clock.now().getTime();
  authFailures.check(request.ip, now);
  try {
    return await authenticate();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && error.code !== 'api_key_missing') {
      authFailures.recordFailure(request.ip, now);
    }
    throw error;
  }
}

/** Guards `/api/admin/*`: only `ADMIN_API_KEY`, as Bearer or X-API-Key; no key is limited per IP. */
export async function authenticateAdminRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  await guarded(request, () => checkAdminKey(request, reply));
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
