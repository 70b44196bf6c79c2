import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { closeServices, createServices } from '../../src/platform/boot.ts';
import { ConfigError, loadConfig } from '../../src/platform/config.ts';
import { FailoverRateLimitStore } from '../../src/platform/rate-limit/failover-store.ts';
import { rateLimitHeaders } from '../../src/platform/rate-limit/headers.ts';
import { MemoryRateLimitStore } from '../../src/platform/rate-limit/memory-store.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { type ApiResponse, call, createTenant, type TestTenant, uniqueSlug } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, TestClock, type TestServer } from '../helpers/server.ts';

// Whole seconds, so X-RateLimit-Reset values are easy to state; tests only ever move it forward.
const START = Date.parse('2026-05-01T12:00:00.000Z');
const clock = new TestClock(new Date(START));
let server: TestServer;
let tenant: TestTenant;

beforeAll(async () => {
  server = await startServer({
    clock,
    env: {
      RATE_LIMIT_ROUTES: 'POST /events=3/60,GET /partners/{id}=3/60,PATCH /partners/:id=2/60',
      UNAUTHENTICATED_RATE_LIMIT: '5/30',
    },
  });
  tenant = await createTenant(server);
});
afterAll(async () => {
  await dropRedisBuckets(server);
  await server.close();
});

/** On PostgreSQL + Redis runs: deletes this server's buckets (its own prefix) from the shared Redis. */
async function dropRedisBuckets(target: TestServer): Promise<void> {
  if (!target.config.redisUrl) return;
  const redis = new Redis(target.config.redisUrl);
  try {
    const keys = await redis.keys(`${target.config.rateLimits.redisPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

const nowSeconds = () => clock.now().getTime() / 1000;

function expectRateHeaders(
  response: ApiResponse,
  expected: { policy: string; limit: number; window: number; remaining: number; resetIn: number },
): void {
  const { policy, limit, window, remaining, resetIn } = expected;
  expect(response.headers.get('x-ratelimit-limit')).toBe(String(limit));
  expect(response.headers.get('x-ratelimit-remaining')).toBe(String(remaining));
  expect(response.headers.get('x-ratelimit-reset')).toBe(String(nowSeconds() + resetIn));
  expect(response.headers.get('ratelimit-policy')).toBe(`"${policy}";q=${limit};w=${window}`);
  expect(response.headers.get('ratelimit')).toBe(`"${policy}";r=${remaining};t=${resetIn}`);
}

function expectRateLimited(response: ApiResponse, retryAfter: number, code = 'rate_limited'): void {
  expect(response.status).toBe(429);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(response.body.code).toBe(code);
  expect(response.headers.get('retry-after')).toBe(String(retryAfter));
}

const me = (key: string) => call(server, 'GET', '/api/v1/me', { key });

/** PATCH /api-keys/{id} as the tenant's admin key. */
const patchKey = (id: string, body: Record<string, unknown>) =>
  call(server, 'PATCH', `/api/v1/api-keys/${id}`, { key: tenant.key, body });

async function keyWith(
  body: Record<string, unknown>,
  slug = tenant.slug,
): Promise<{ id: string; key: string }> {
  const response = await call(server, 'POST', `/api/t/${slug}/v1/api-keys`, {
    key: ADMIN_KEY,
    body: { name: 'limited', scopes: ['read'], ...body },
  });
  expect(response.status).toBe(201);
  return { id: response.body.data.id, key: response.body.data.key };
}

describe('the tenant plan limit (starter: 60 per minute)', () => {
  it('allows exactly 60 at once, refuses the 61st, then one more per second and 60 after a minute', async () => {
    const slug = uniqueSlug('starter');
    const created = await call(server, 'POST', '/api/admin/tenants', {
      key: ADMIN_KEY,
      body: { slug, name: 'Starter', plan: 'starter' },
    });
    expect(created.status).toBe(201);
    const { key } = await keyWith({}, slug);
    const headers = { policy: 'starter', limit: 60, window: 60 };

    for (let i = 1; i <= 60; i++) {
      const response = await me(key);
      expect(response.status).toBe(200);
      // GCRA: each request moves the time the bucket is full again 60 s / 60 = 1 s later.
      expectRateHeaders(response, { ...headers, remaining: 60 - i, resetIn: i });
    }
    const refused = await me(key);
    expectRateLimited(refused, 1);
    expectRateHeaders(refused, { ...headers, remaining: 0, resetIn: 60 });

    clock.advance(1000);
    const next = await me(key);
    expect(next.status).toBe(200);
    expectRateHeaders(next, { ...headers, remaining: 0, resetIn: 60 });
    expectRateLimited(await me(key), 1);

    clock.advance(60_000);
    for (let i = 1; i <= 60; i++) expect((await me(key)).status).toBe(200);
    expectRateLimited(await me(key), 1);
  });

  it('names the default plan "default", 600 per minute', async () => {
    const { key } = await keyWith({});
    const response = await me(key);
    expectRateHeaders(response, { policy: 'default', limit: 600, window: 60, remaining: 599, resetIn: 1 });
    expect(response.body.data.rateLimit).toEqual({ limit: 600, windowSeconds: 60 });
  });
});

describe("a key's own rateLimit", () => {
  it('overrides the plan: 5 per 10 s, the 6th refused for 2 s, 5 again after 10 s', async () => {
    const { key } = await keyWith({ rateLimit: { limit: 5, windowSeconds: 10 } });
    const headers = { policy: 'key', limit: 5, window: 10 };
    for (let i = 1; i <= 5; i++) {
      const response = await me(key);
      expect(response.status).toBe(200);
      expectRateHeaders(response, { ...headers, remaining: 5 - i, resetIn: 2 * i });
    }
    const refused = await me(key);
    expectRateLimited(refused, 2);
    expect(refused.body.detail).toBe('Rate limit "key" of 5 requests per 10 s reached');

    clock.advance(1999);
    expectRateLimited(await me(key), 1);
    clock.advance(1);
    expect((await me(key)).status).toBe(200);
    expectRateLimited(await me(key), 2);

    clock.advance(10_000);
    for (let i = 1; i <= 5; i++) expect((await me(key)).status).toBe(200);
    expectRateLimited(await me(key), 2);
  });

  it('is exact when the window does not divide by the limit (7 per 60 s)', async () => {
    const { key } = await keyWith({ rateLimit: { limit: 7, windowSeconds: 60 } });
    for (let round = 0; round < 3; round++) {
      for (let i = 1; i <= 7; i++) expect((await me(key)).status).toBe(200);
      // The next request fits 60/7 s = 8.57 s later.
      expectRateLimited(await me(key), 9);
      clock.advance(60_000);
    }
    // Seven emission intervals later, exactly one more fits.
    for (let i = 1; i <= 7; i++) expect((await me(key)).status).toBe(200);
    clock.advance(8571);
    expect((await me(key)).status).toBe(429);
    clock.advance(1);
    expect((await me(key)).status).toBe(200);
    // Back to a whole second for the tests that follow.
    clock.advance(428);
  });

  it('counts every authenticated answer, errors included, and leaves other keys alone', async () => {
    const { key } = await keyWith({ rateLimit: { limit: 2, windowSeconds: 60 } });
    const forbidden = await call(server, 'POST', '/api/v1/partners', { key, body: {} });
    expect(forbidden.status).toBe(403);
    expectRateHeaders(forbidden, { policy: 'key', limit: 2, window: 60, remaining: 1, resetIn: 30 });
    const missing = await call(server, 'GET', '/api/v1/partners/ptn_01jd8x3v4w5y6z7a8b9c0d1e2f', { key });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-ratelimit-remaining')).toBe('0');
    expectRateLimited(await me(key), 30);
    const other = await keyWith({ rateLimit: { limit: 2, windowSeconds: 60 } });
    expect((await me(other.key)).status).toBe(200);
  });

  it('does not limit the platform admin key on tenant URLs', async () => {
    for (let i = 0; i < 5; i++) {
      const response = await call(server, 'GET', `/api/t/${tenant.slug}/v1/me`, { key: ADMIN_KEY });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-ratelimit-limit')).toBeNull();
      expect(response.body.data.rateLimit).toBeNull();
    }
  });
});

describe('a route with a limit of its own (RATE_LIMIT_ROUTES=POST /events=3/60)', () => {
  it('takes from a per-key route bucket as well as the key bucket, and reports the tighter one', async () => {
    const { key } = await keyWith({ scopes: ['write'] });
    const route = { policy: 'POST /events', limit: 3, window: 60 };
    for (let i = 1; i <= 3; i++) {
      // An invalid body: the request is counted before the body is even read.
      const response = await call(server, 'POST', '/api/v1/events', { key, body: {} });
      expect(response.status).toBe(400);
      expectRateHeaders(response, { ...route, remaining: 3 - i, resetIn: 20 * i });
    }
    const refused = await call(server, 'POST', `/api/t/${tenant.slug}/v1/events`, { key, body: {} });
    expectRateLimited(refused, 20);
    expectRateHeaders(refused, { ...route, remaining: 0, resetIn: 60 });

    // Other routes only take from the key bucket, which the refused request did not touch.
    const other = await me(key);
    expect(other.status).toBe(200);
    expectRateHeaders(other, { policy: 'default', limit: 600, window: 60, remaining: 596, resetIn: 1 });

    clock.advance(20_000);
    expect((await call(server, 'POST', '/api/v1/events', { key, body: {} })).status).toBe(400);
    expectRateLimited(await call(server, 'POST', '/api/v1/events', { key, body: {} }), 20);
  });

  it('takes nothing from the route bucket when the key bucket refuses', async () => {
    const { id, key } = await keyWith({ scopes: ['write'], rateLimit: { limit: 1, windowSeconds: 60 } });
    expect((await me(key)).status).toBe(200);
    const refused = await call(server, 'POST', '/api/v1/events', { key, body: {} });
    expectRateLimited(refused, 60);
    expectRateHeaders(refused, { policy: 'key', limit: 1, window: 60, remaining: 0, resetIn: 60 });
    // Back on the plan's roomy limit, the route bucket turns out full: the refusal took nothing.
    const patched = await patchKey(id, { rateLimit: null });
    expect(patched.status).toBe(200);
    const next = await call(server, 'POST', '/api/v1/events', { key, body: {} });
    expect(next.status).toBe(400);
    expectRateHeaders(next, { policy: 'POST /events', limit: 3, window: 60, remaining: 2, resetIn: 20 });
  });
});

describe('a route with a path parameter (GET /partners/{id}=3/60, PATCH /partners/:id=2/60)', () => {
  it('names its policy as the API reference writes the route, whichever form configured it', async () => {
    const { key } = await keyWith({ scopes: ['read', 'write'] });
    const path = '/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f';
    const get = { policy: 'GET /partners/{id}', limit: 3, window: 60 };
    for (const [i, base] of ['/api/v1', `/api/t/${tenant.slug}/v1`, '/api/v1'].entries()) {
      const response = await call(server, 'GET', `${base}${path}`, { key });
      expect(response.status).toBe(404);
      expectRateHeaders(response, { ...get, remaining: 2 - i, resetIn: 20 * (i + 1) });
    }
    const refused = await call(server, 'GET', `/api/v1${path}`, { key });
    expectRateLimited(refused, 20);
    expectRateHeaders(refused, { ...get, remaining: 0, resetIn: 60 });
    expect(refused.body.detail).toBe('Rate limit "GET /partners/{id}" of 3 requests per 60 s reached');

    const patched = await call(server, 'PATCH', `/api/v1${path}`, { key, body: { name: 'Ada' } });
    expect(patched.status).toBe(404);
    expectRateHeaders(patched, {
      policy: 'PATCH /partners/{id}',
      limit: 2,
      window: 60,
      remaining: 1,
      resetIn: 30,
    });
  });

  it('escapes quotes and backslashes in a policy name, as an RFC 9651 string', () => {
    const policy = { kind: 'rate', name: 'say "hi" \\ bye', limit: 5, windowSeconds: 60 } as const;
    const decision = {
      allowed: true,
      limit: 5,
      remaining: 4,
      resetAt: 1_777_000_000,
      resetSeconds: 12,
      retryAfterSeconds: 0,
    };
    const headers = rateLimitHeaders(policy, decision);
    expect(headers['ratelimit-policy']).toBe('"say \\"hi\\" \\\\ bye";q=5;w=60');
    expect(headers.ratelimit).toBe('"say \\"hi\\" \\\\ bye";r=4;t=12');
  });
});

describe('requests without a key (UNAUTHENTICATED_RATE_LIMIT=5/30)', () => {
  it('limits them per IP across tenant and admin URLs, with the headers on each 401', async () => {
    clock.advance(60_000);
    const headers = { policy: 'unauthenticated', limit: 5, window: 30 };
    const requests = [
      [`/api/t/${tenant.slug}/v1/partners`, 'api_key_missing'],
      [`/api/t/${tenant.slug}/v1/me`, 'api_key_missing'],
      ['/api/admin/tenants', 'api_key_missing'],
      // No key and no tenant in the URL: 400, and counted all the same.
      ['/api/v1/me', 'tenant_slug_missing'],
      ['/api/admin/tenants', 'api_key_missing'],
    ];
    for (const [i, [path, code]] of requests.entries()) {
      const response = await call(server, 'GET', path as string);
      expect(response.body.code).toBe(code);
      expectRateHeaders(response, { ...headers, remaining: 4 - i, resetIn: 6 * (i + 1) });
    }
    expectRateLimited(await call(server, 'GET', '/api/admin/tenants'), 6);
    expectRateLimited(await call(server, 'GET', '/api/v1/partners'), 6);

    // Never limited: probes and docs. Keys have their own budgets.
    for (const path of ['/health', '/ready', '/api/doc.json']) {
      const response = await call(server, 'GET', path);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-ratelimit-limit')).toBeNull();
    }
    expect((await me(tenant.key)).status).toBe(200);

    clock.advance(30_000);
    for (let i = 0; i < 5; i++) expect((await call(server, 'GET', '/api/admin/tenants')).status).toBe(401);
    expect((await call(server, 'GET', '/api/admin/tenants')).status).toBe(429);
  });

  it('takes a refused key from the IP budget too, and nothing from the key', async () => {
    clock.advance(60_000);
    const headers = { policy: 'unauthenticated', limit: 5, window: 30 };
    const elsewhere = await keyWith({ allowedIps: ['10.1.2.3'] });
    const revoked = await keyWith({});
    expect((await call(server, 'DELETE', `/api/v1/api-keys/${revoked.id}`, { key: tenant.key })).status).toBe(
      200,
    );
    const suspended = await createTenant(server);
    const suspend = await call(server, 'PATCH', `/api/admin/tenants/${suspended.id}`, {
      key: ADMIN_KEY,
      body: { status: 'suspended' },
    });
    expect(suspend.status).toBe(200);
    const requests = [
      [`/api/v1/me`, elsewhere.key, 'ip_not_allowed'],
      [`/api/v1/me`, revoked.key, 'api_key_revoked'],
      [`/api/v1/me`, suspended.key, 'tenant_suspended'],
      // The key with its last character changed (to another one, whatever it was).
      [`/api/v1/me`, `${tenant.key.slice(0, -1)}${tenant.key.endsWith('x') ? 'y' : 'x'}`, 'api_key_invalid'],
      ['/api/admin/tenants', 'not-the-admin-key-0123456789abcdefghijkl', 'api_key_invalid'],
    ];
    for (const [i, [path, key, code]] of requests.entries()) {
      const response = await call(server, 'GET', path as string, { key: key as string });
      expect(response.body.code).toBe(code);
      expectRateHeaders(response, { ...headers, remaining: 4 - i, resetIn: 6 * (i + 1) });
    }
    // The budget spent, the refusal becomes a 429.
    expectRateLimited(await call(server, 'GET', '/api/v1/me', { key: elsewhere.key }), 6);
    // The key's own budget was never touched.
    const patched = await call(server, 'PATCH', `/api/v1/api-keys/${elsewhere.id}`, {
      key: tenant.key,
      body: { allowedIps: null },
    });
    expect(patched.status).toBe(200);
    const allowed = await me(elsewhere.key);
    expect(allowed.status).toBe(200);
    const limit = Number(allowed.headers.get('x-ratelimit-limit'));
    expect(allowed.headers.get('x-ratelimit-remaining')).toBe(String(limit - 1));
  });

  it('limits requests that no route takes the same way, under the tenant API and outside it', async () => {
    clock.advance(60_000);
    const headers = { policy: 'unauthenticated', limit: 5, window: 30 };
    const requests = [
      ['GET', '/api/v1/no-such-thing', 404, 'not_found'],
      ['GET', `/api/t/${tenant.slug}/v1/no-such-thing`, 404, 'not_found'],
      ['DELETE', '/api/v1/me', 405, 'method_not_allowed'],
      ['GET', '/favicon.ico', 404, 'not_found'],
      // Refused by the router before any route is matched.
      ['GET', '/api/v1/partners/%zz', 400, 'validation_error'],
    ] as const;
    for (const [i, [method, path, status, code]] of requests.entries()) {
      const response = await call(server, method, path);
      expect([response.status, response.body.code]).toEqual([status, code]);
      expectRateHeaders(response, { ...headers, remaining: 4 - i, resetIn: 6 * (i + 1) });
    }
    expectRateLimited(await call(server, 'GET', '/api/v2/partners'), 6);
    expectRateLimited(await call(server, 'GET', '/%zz'), 6);
    // A key that is not checked where no route takes it does not lift the limit; the admin key does.
    expectRateLimited(await call(server, 'GET', '/api/v2/partners', { key: tenant.key }), 6);
    const admin = await call(server, 'GET', '/api/admin/no-such-thing', { key: ADMIN_KEY });
    expect([admin.status, admin.headers.get('x-ratelimit-limit')]).toEqual([404, null]);
    // A tenant key's own mistyped URL takes from the key's budget instead.
    const keyed = await call(server, 'GET', '/api/v1/no-such-thing', { key: tenant.key });
    expect(keyed.status).toBe(404);
    expect(keyed.headers.get('ratelimit-policy')).not.toContain('unauthenticated');
  });
});

describe('quotas', () => {
  it('allows a day quota until spent, then 429 quota_exceeded until 00:00 UTC', async () => {
    clock.set(new Date('2026-05-01T23:59:00.000Z'));
    const { id, key } = await keyWith({ quota: { limit: 3, period: 'day' } });
    const midnight = Date.parse('2026-05-02T00:00:00.000Z') / 1000;
    for (let i = 1; i <= 3; i++) {
      const response = await me(key);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-quota-limit')).toBe('3');
      expect(response.headers.get('x-quota-remaining')).toBe(String(3 - i));
      expect(response.headers.get('x-quota-reset')).toBe(String(midnight));
      expect(response.body.data.quota).toEqual({
        limit: 3,
        period: 'day',
        remaining: 3 - i,
        resetsAt: '2026-05-02T00:00:00.000Z',
      });
      expect(response.headers.get('x-ratelimit-remaining')).toBe(String(600 - i));
    }
    const spent = await me(key);
    expectRateLimited(spent, 60, 'quota_exceeded');
    expect(spent.body.title).toBe('Quota exceeded');
    expect(spent.headers.get('x-quota-remaining')).toBe('0');
    // A refused request takes nothing from the rate limit either.
    expect(spent.headers.get('x-ratelimit-remaining')).toBe('597');

    clock.advance(59_000);
    expectRateLimited(await me(key), 1, 'quota_exceeded');
    clock.advance(1_000);
    const renewed = await me(key);
    expect(renewed.status).toBe(200);
    expect(renewed.headers.get('x-quota-remaining')).toBe('2');
    expect(renewed.headers.get('x-quota-reset')).toBe(String(midnight + 86_400));

    // The key record shows the quota; PATCH null removes it, and with it the headers.
    const record = await call(server, 'GET', `/api/v1/api-keys/${id}`, { key: tenant.key });
    expect(record.body.data.quota).toEqual({ limit: 3, period: 'day' });
    const cleared = await patchKey(id, { quota: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body.data.quota).toBeNull();
    const free = await me(key);
    expect(free.status).toBe(200);
    expect(free.headers.get('x-quota-limit')).toBeNull();
    expect(free.body.data.quota).toBeNull();
  });

  it('renews a month quota on the 1st at 00:00 UTC, and keeps the count when the limit changes', async () => {
    clock.set(new Date('2026-05-31T23:59:30.000Z'));
    const { id, key } = await keyWith({});
    const set = await patchKey(id, { quota: { limit: 2, period: 'month' } });
    expect(set.status).toBe(200);
    expect(set.body.data.quota).toEqual({ limit: 2, period: 'month' });
    expect((await me(key)).status).toBe(200);
    const last = await me(key);
    expect(last.headers.get('x-quota-remaining')).toBe('0');
    expect(last.headers.get('x-quota-reset')).toBe(String(Date.parse('2026-06-01T00:00:00.000Z') / 1000));
    expectRateLimited(await me(key), 30, 'quota_exceeded');

    const raised = await patchKey(id, { quota: { limit: 3, period: 'month' } });
    expect(raised.status).toBe(200);
    expect((await me(key)).headers.get('x-quota-remaining')).toBe('0');
    expectRateLimited(await me(key), 30, 'quota_exceeded');

    clock.set(new Date('2026-06-01T00:00:00.000Z'));
    const renewed = await me(key);
    expect(renewed.status).toBe(200);
    expect(renewed.body.data.quota).toEqual({
      limit: 3,
      period: 'month',
      remaining: 2,
      resetsAt: '2026-07-01T00:00:00.000Z',
    });
  });

  it('counts a new period from the moment the quota period changes', async () => {
    const { id, key } = await keyWith({ quota: { limit: 1, period: 'day' } });
    expect((await me(key)).status).toBe(200);
    expect((await me(key)).body.code).toBe('quota_exceeded');
    const monthly = await patchKey(id, { quota: { limit: 1, period: 'month' } });
    expect(monthly.status).toBe(200);
    const first = await me(key);
    expect([first.status, first.headers.get('x-quota-remaining')]).toEqual([200, '0']);
    expect((await me(key)).body.code).toBe('quota_exceeded');
    // And back to the day: counted anew from this moment, not where today's first count stopped.
    clock.advance(1_000);
    const daily = await patchKey(id, { quota: { limit: 1, period: 'day' } });
    expect(daily.status).toBe(200);
    const again = await me(key);
    expect([again.status, again.headers.get('x-quota-remaining')]).toEqual([200, '0']);
    expect((await me(key)).body.code).toBe('quota_exceeded');
    // A new limit alone keeps the count.
    const raised = await patchKey(id, { quota: { limit: 2, period: 'day' } });
    expect(raised.status).toBe(200);
    expect((await me(key)).headers.get('x-quota-remaining')).toBe('0');
  });

  it('is not consumed by a request the rate limit refuses', async () => {
    const { key } = await keyWith({
      rateLimit: { limit: 1, windowSeconds: 60 },
      quota: { limit: 5, period: 'day' },
    });
    expect((await me(key)).headers.get('x-quota-remaining')).toBe('4');
    const refused = await me(key);
    expectRateLimited(refused, 60);
    expect(refused.headers.get('x-quota-remaining')).toBe('4');
    clock.advance(60_000);
    expect((await me(key)).headers.get('x-quota-remaining')).toBe('3');
  });

  it.each([
    ['an unknown period', { limit: 10, period: 'week' }, 'quota.period'],
    ['a limit of 0', { limit: 0, period: 'day' }, 'quota.limit'],
    ['no period', { limit: 10 }, 'quota.period'],
    ['an extra field', { limit: 10, period: 'day', burst: 2 }, 'quota.burst'],
  ])('refuses a quota with %s', async (_name, quota, field) => {
    const response = await call(server, 'POST', '/api/v1/api-keys', {
      key: tenant.key,
      body: { name: 'bad quota', scopes: ['read'], quota },
    });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });
});

describe('the in-process store', () => {
  const check = (bucket: string) => ({
    bucket,
    policy: { kind: 'rate', name: 't', limit: 2, windowSeconds: 10 } as const,
  });

  it('stays within its bound by dropping the bucket used least recently', async () => {
    const store = new MemoryRateLimitStore(3);
    for (const bucket of ['a', 'b', 'c']) await store.hit([check(bucket)], START);
    await store.hit([check('a')], START);
    await store.hit([check('d')], START);
    expect(store.size).toBe(3);
    // `b` was dropped (full again), `a` was kept (one request left).
    expect((await store.hit([check('b')], START)).decisions[0]?.remaining).toBe(1);
    expect((await store.hit([check('a')], START)).allowed).toBe(false);
  });

  it('stays within its bound when every bucket is in use, dropping the oldest', async () => {
    const store = new MemoryRateLimitStore(3);
    for (const bucket of ['a', 'b', 'c', 'a', 'b', 'c']) await store.hit([check(bucket)], START);
    await store.hit([check('d')], START);
    expect(store.size).toBe(3);
    // Every bucket was in use, so the oldest, `a`, went; `b` and `c` are still spent.
    expect((await store.hit([check('b')], START)).allowed).toBe(false);
    expect((await store.hit([check('c')], START)).allowed).toBe(false);
    expect((await store.hit([check('a')], START)).decisions[0]?.remaining).toBe(1);
    expect(store.size).toBe(3);
  });

  it('sweeps buckets that are full again', async () => {
    const store = new MemoryRateLimitStore();
    for (let i = 0; i < 100; i++) await store.hit([check(`ip-${i}`)], START);
    expect(store.size).toBe(100);
    await store.hit([check('late')], START + 10_000);
    expect(store.size).toBe(1);
  });
});

describe('rate-limit settings', () => {
  it.each([
    ['RATE_LIMIT_ROUTES', 'POST /events'],
    ['RATE_LIMIT_ROUTES', 'POST /events=0/60'],
    ['RATE_LIMIT_ROUTES', 'FETCH /events=10/60'],
    ['RATE_LIMIT_ROUTES', 'POST /api/v1/events=10/60'],
    ['RATE_LIMIT_ROUTES', 'POST /events=10/60,POST /events=20/60'],
    ['RATE_LIMIT_PLANS', 'gold=10/60'],
    ['RATE_LIMIT_PLANS', 'starter=10'],
    ['UNAUTHENTICATED_RATE_LIMIT', '60'],
    ['UNAUTHENTICATED_RATE_LIMIT', '10/100000'],
    ['RATE_LIMIT_FAIL_CLOSED', 'maybe'],
    ['RATE_LIMIT_REDIS_PREFIX', 'has space'],
  ])('%s=%s is a ConfigError naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name} must be`));
  });

  it('refuses to start when RATE_LIMIT_ROUTES names a route the API does not have', async () => {
    const testDb = await createTestDatabase();
    const services = await createServices(loadConfig({ RATE_LIMIT_ROUTES: 'POST /event=10/60' }), {
      database: testDb.database,
    });
    try {
      await expect(buildApp(services)).rejects.toThrow(
        new ConfigError('RATE_LIMIT_ROUTES names POST /event, which is not a route of the API'),
      );
    } finally {
      await closeServices(services);
      await testDb.drop();
    }
  });

  it('parses routes (either path style), plan overrides and the unauthenticated limit', () => {
    const { rateLimits } = loadConfig({
      RATE_LIMIT_ROUTES: 'POST /events=100/60, GET /partners/{id}=5/1,PATCH /partners/:id=7/10',
      RATE_LIMIT_PLANS: 'starter=120/60',
      UNAUTHENTICATED_RATE_LIMIT: '10/60',
      RATE_LIMIT_FAIL_CLOSED: 'true',
    });
    expect(Object.fromEntries(rateLimits.routes)).toEqual({
      'POST /events': { limit: 100, windowSeconds: 60 },
      'GET /partners/{id}': { limit: 5, windowSeconds: 1 },
      'PATCH /partners/{id}': { limit: 7, windowSeconds: 10 },
    });
    expect(rateLimits.plans.starter).toEqual({ limit: 120, windowSeconds: 60 });
    expect(rateLimits.plans.enterprise).toEqual({ limit: 1000, windowSeconds: 60 });
    expect(rateLimits.unauthenticated).toEqual({ limit: 10, windowSeconds: 60 });
    expect(rateLimits.failClosed).toBe(true);
  });
});

describe('where the buckets live', () => {
  it('in process memory without REDIS_URL', () => {
    if (server.config.redisUrl)
      return expect(server.services.rateLimits).toBeInstanceOf(FailoverRateLimitStore);
    expect(server.services.rateLimits).toBeInstanceOf(MemoryRateLimitStore);
  });

  it('in Redis under the prefix of this server when REDIS_URL is set (the PostgreSQL + Redis run)', async () => {
    if (!server.config.redisUrl)
      return expect(server.services.rateLimits).toBeInstanceOf(MemoryRateLimitStore);
    const redis = new Redis(server.config.redisUrl);
    try {
      expect((await redis.keys(`${server.config.rateLimits.redisPrefix}*`)).length).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
    expect(server.services.rateLimits.failures).toBe(0);
  });
});
