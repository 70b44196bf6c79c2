import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../helpers/server.ts';

const KEY = /^plk_(live|test)_[0-7][0-9a-hjkmnp-tv-z]{25}_[0-9A-Za-z]{36}$/;
const DAY_MS = 86_400_000;

const clock = new TestClock(new Date('2026-05-01T12:00:00.000Z'));
let server: TestServer;
let tenant: TestTenant;

beforeAll(async () => {
  server = await startServer({ clock });
  // Usage is written only when a test flushes, so no timer races the assertions on the stored row.
  await server.services.keyUsage.stop();
  tenant = await createTenant(server);
});
afterAll(() => server.close());

type Body = Record<string, unknown>;

/** `/api/v1{path}` as the tenant's admin key (or `key`). */
const api = (
  method: string,
  path: string,
  body?: unknown,
  key = tenant.key,
  headers?: Record<string, string>,
) =>
  call(server, method, `/api/v1${path}`, {
    key,
    ...(body === undefined ? {} : { body }),
    ...(headers ? { headers } : {}),
  });

async function createKey(body: Body, caller = tenant): Promise<{ id: string; key: string } & Body> {
  const response = await api('POST', '/api-keys', { name: 'k', scopes: ['read'], ...body }, caller.key);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.data;
}

const getKey = async (id: string, key = tenant.key) => {
  const response = await api('GET', `/api-keys/${id}`, undefined, key);
  expect(response.status).toBe(200);
  return response.body.data;
};

/** The status of a request made with `key`, and its problem code if any. */
async function useKey(key: string, path = '/partners'): Promise<{ status: number; code?: string }> {
  const response = await api('GET', path, undefined, key);
  return { status: response.status, ...(response.body?.code ? { code: response.body.code } : {}) };
}

const later = (ms: number) => new Date(clock.now().getTime() + ms).toISOString();

describe('create and get', () => {
  it('stores every field and derives status', async () => {
    const expiresAt = later(30 * DAY_MS);
    const body = {
      name: 'Warehouse export',
      description: 'Nightly export into the warehouse',
      scopes: ['partners:read', 'customers:read'],
      environment: 'test',
      expiresAt,
      allowedIps: ['127.0.0.1', '10.0.0.0/8', '2001:db8::/32'],
      rateLimit: { limit: 100, windowSeconds: 60 },
      metadata: { team: 'data', ticket: 'OPS-12' },
    };
    const created = await createKey(body);
    expect(created.key).toMatch(KEY);
    expect(created.key).toMatch(/^plk_test_/);
    const expected = {
      ...body,
      id: created.id,
      status: 'active',
      createdBy: tenant.keyId,
      createdAt: clock.now().toISOString(),
      updatedAt: clock.now().toISOString(),
      lastUsedAt: null,
      lastUsedIp: null,
      requestCount: 0,
      quota: null,
      deactivatedAt: null,
      revokedAt: null,
      replacedBy: null,
    };
    expect(created).toMatchObject(expected);
    const stored = await getKey(created.id);
    expect(stored).toMatchObject({ ...expected, start: created.start });
    expect(stored).not.toHaveProperty('key');
  });

  it('defaults: live, no description, expiry, IP restriction or rate limit, empty metadata', async () => {
    const created = await createKey({ name: 'plain', scopes: ['read'] });
    expect(created).toMatchObject({
      environment: 'live',
      description: null,
      expiresAt: null,
      allowedIps: null,
      rateLimit: null,
      metadata: {},
    });
  });

  it.each([
    ['rateLimit.limit 0', { rateLimit: { limit: 0, windowSeconds: 60 } }, 'rateLimit.limit'],
    ['rateLimit without windowSeconds', { rateLimit: { limit: 5 } }, 'rateLimit.windowSeconds'],
    [
      'rateLimit with an unknown field',
      { rateLimit: { limit: 5, windowSeconds: 60, burst: 2 } },
      'rateLimit.burst',
    ],
    [
      'rateLimit.windowSeconds over a day',
      { rateLimit: { limit: 5, windowSeconds: 86_401 } },
      'rateLimit.windowSeconds',
    ],
    ['allowedIps not a list', { allowedIps: '127.0.0.1' }, 'allowedIps'],
    ['a description over 500 characters', { description: 'd'.repeat(501) }, 'description'],
    ['metadata with a non-string value', { metadata: { n: 1 } }, 'metadata.n'],
  ])('refuses %s: 400 naming the field', async (_, body, field) => {
    const response = await api('POST', '/api-keys', { name: 'bad', scopes: ['read'], ...body });
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });
});

describe('PATCH /api-keys/{id}', () => {
  it('with every field as it is: 200, the same version, no audit entry', async () => {
    const body = {
      name: 'steady',
      scopes: ['partners:read'],
      allowedIps: ['10.0.0.0/8'],
      rateLimit: { limit: 10, windowSeconds: 60 },
      metadata: { team: 'ops' },
    };
    const created = await createKey(body);
    const before = await api('GET', `/api-keys/${created.id}`);
    const same = await api('PATCH', `/api-keys/${created.id}`, body);
    expect(same.status).toBe(200);
    expect(same.headers.get('etag')).toBe(before.headers.get('etag'));
    expect(same.body.data).toEqual(before.body.data);
    const audit = await api('GET', `/audit-log?resourceId=${created.id}`);
    expect(audit.body.data.map((entry: { action: string }) => entry.action)).toEqual(['api_key.created']);
  });

  it('changes name, description, scopes, expiry, allowed IPs and rate limit, with ETags', async () => {
    const created = await createKey({ name: 'before', scopes: ['partners:read', 'customers:read'] });
    const first = await api('GET', `/api-keys/${created.id}`);
    expect(first.headers.get('etag')).toBe('"v1"');

    clock.advance(1_000);
    const expiresAt = later(7 * DAY_MS);
    const changes = {
      name: 'after',
      description: 'now described',
      scopes: ['customers:read'],
      expiresAt,
      allowedIps: ['127.0.0.0/8'],
      rateLimit: { limit: 50, windowSeconds: 10 },
    };
    const patched = await api('PATCH', `/api-keys/${created.id}`, changes, tenant.key, {
      'if-match': '"v1"',
    });
    expect(patched.status).toBe(200);
    expect(patched.headers.get('etag')).toBe('"v2"');
    expect(patched.body.data).toMatchObject({
      ...changes,
      status: 'active',
      updatedAt: clock.now().toISOString(),
    });
    expect(await getKey(created.id)).toMatchObject(changes);

    // The new settings hold at once: partners:read is gone, the rate limit is the key's own.
    expect(await useKey(created.key, '/partners')).toEqual({ status: 403, code: 'insufficient_scope' });
    expect(await useKey(created.key, '/customers')).toEqual({ status: 200 });
    const me = await api('GET', '/me', undefined, created.key);
    expect(me.body.data.rateLimit).toEqual({ limit: 50, windowSeconds: 10 });
    expect(me.headers.get('ratelimit-policy')).toBe('"key";q=50;w=10');

    // A stale ETag is refused and changes nothing.
    const stale = await api('PATCH', `/api-keys/${created.id}`, { name: 'lost update' }, tenant.key, {
      'if-match': '"v1"',
    });
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe('precondition_failed');
    expect((await getKey(created.id)).name).toBe('after');
  });

  it('null clears expiresAt, allowedIps, rateLimit and description', async () => {
    const created = await createKey({
      description: 'temporary',
      expiresAt: later(DAY_MS),
      allowedIps: ['10.0.0.0/8'],
      rateLimit: { limit: 1, windowSeconds: 60 },
    });
    expect(await useKey(created.key)).toEqual({ status: 403, code: 'ip_not_allowed' });
    const cleared = await api('PATCH', `/api-keys/${created.id}`, {
      description: null,
      expiresAt: null,
      allowedIps: null,
      rateLimit: null,
    });
    expect(cleared.status).toBe(200);
    expect(cleared.body.data).toMatchObject({
      description: null,
      expiresAt: null,
      allowedIps: null,
      rateLimit: null,
    });
    expect(await useKey(created.key)).toEqual({ status: 200 });
    expect(await useKey(created.key)).toEqual({ status: 200 });
    const me = await api('GET', '/me', undefined, created.key);
    expect(me.body.data.rateLimit).toEqual({ limit: 600, windowSeconds: 60 });
  });

  it('an empty body changes nothing', async () => {
    const created = await createKey({ name: 'untouched' });
    const response = await api('PATCH', `/api-keys/${created.id}`, {});
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe('"v1"');
    expect(response.body.data.updatedAt).toBe(created.updatedAt);
  });

  it('moving expiresAt forward revives an expired key', async () => {
    const created = await createKey({ expiresAt: later(1_000) });
    clock.advance(2_000);
    expect(await useKey(created.key)).toEqual({ status: 401, code: 'api_key_expired' });
    expect((await getKey(created.id)).status).toBe('expired');
    const revived = await api('PATCH', `/api-keys/${created.id}`, { expiresAt: later(DAY_MS) });
    expect(revived.body.data.status).toBe('active');
    expect(await useKey(created.key)).toEqual({ status: 200 });
  });

  it.each([
    ['an unknown field', { status: 'active' }, 'status'],
    ['environment (fixed at creation)', { environment: 'test' }, 'environment'],
    ['the key itself', { key: 'plk_live_x' }, 'key'],
    ['an empty name', { name: '' }, 'name'],
    ['no scopes', { scopes: [] }, 'scopes'],
    ['an unknown scope', { scopes: ['keys:steal'] }, 'scopes.0'],
    ['an expiresAt in the past', { expiresAt: '2020-01-01T00:00:00.000Z' }, 'expiresAt'],
    ['an expiresAt of now', { expiresAt: 'NOW' }, 'expiresAt'],
    ['a malformed expiresAt', { expiresAt: 'next week' }, 'expiresAt'],
    ['a bad allowedIps entry', { allowedIps: ['127.0.0.1', 'localhost'] }, 'allowedIps.1'],
    ['a rateLimit of the wrong type', { rateLimit: 100 }, 'rateLimit'],
  ])('refuses %s: 400 naming the field, nothing changes', async (_, body, field) => {
    const created = await createKey({ name: 'stays' });
    const sent = (body as Body).expiresAt === 'NOW' ? { expiresAt: clock.now().toISOString() } : body;
    const response = await api('PATCH', `/api-keys/${created.id}`, sent);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    const after = await getKey(created.id);
    expect(after.updatedAt).toBe(created.updatedAt);
  });

  it('refuses a revoked key: 409 invalid_state', async () => {
    const created = await createKey({ name: 'gone' });
    expect((await api('DELETE', `/api-keys/${created.id}`)).status).toBe(200);
    const response = await api('PATCH', `/api-keys/${created.id}`, { name: 'back?' });
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('invalid_state');
    expect((await getKey(created.id)).name).toBe('gone');
  });

  it('404 for an unknown key', async () => {
    const response = await api('PATCH', '/api-keys/key_01jd8x3v4w5y6z7a8b9c0d1e2f', { name: 'x' });
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('not_found');
  });
});

describe('deactivate and activate', () => {
  it('is reversible: 401 api_key_inactive meanwhile', async () => {
    const created = await createKey({ name: 'pausable' });
    expect(await useKey(created.key)).toEqual({ status: 200 });

    clock.advance(1_000);
    const deactivatedAt = clock.now().toISOString();
    const off = await api('POST', `/api-keys/${created.id}/deactivate`);
    expect(off.status).toBe(200);
    expect(off.body.data).toMatchObject({ status: 'inactive', deactivatedAt });
    const refused = await api('GET', '/partners', undefined, created.key);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('api_key_inactive');
    expect(refused.headers.get('www-authenticate')).toContain('error_description="api_key_inactive"');

    // Deactivating again changes nothing.
    clock.advance(1_000);
    const again = await api('POST', `/api-keys/${created.id}/deactivate`, {});
    expect(again.status).toBe(200);
    expect(again.body.data.deactivatedAt).toBe(deactivatedAt);
    expect((await getKey(created.id)).status).toBe('inactive');

    const on = await api('POST', `/api-keys/${created.id}/activate`);
    expect(on.status).toBe(200);
    expect(on.body.data).toMatchObject({ status: 'active', deactivatedAt: null });
    expect(await useKey(created.key)).toEqual({ status: 200 });
    const twice = await api('POST', `/api-keys/${created.id}/activate`);
    expect(twice.status).toBe(200);
    expect(twice.body.data.status).toBe('active');
  });

  it('a deactivated key can still be revoked, and then not activated', async () => {
    const created = await createKey({ name: 'paused then gone' });
    await api('POST', `/api-keys/${created.id}/deactivate`);
    expect((await api('DELETE', `/api-keys/${created.id}`)).body.data.status).toBe('revoked');
    expect(await useKey(created.key)).toEqual({ status: 401, code: 'api_key_revoked' });
    for (const action of ['activate', 'deactivate']) {
      const response = await api('POST', `/api-keys/${created.id}/${action}`);
      expect(response.status).toBe(409);
      expect(response.body.code).toBe('invalid_state');
    }
    expect(await useKey(created.key)).toEqual({ status: 401, code: 'api_key_revoked' });
  });

  it('takes no body fields', async () => {
    const created = await createKey({ name: 'strict' });
    const response = await api('POST', `/api-keys/${created.id}/deactivate`, { reason: 'x' });
    expect(response.status).toBe(400);
    expect(response.body.errors[0].field).toBe('reason');
    expect((await getKey(created.id)).status).toBe('active');
  });
});

describe('POST /api-keys/{id}/rotate', () => {
  const settings = {
    name: 'Rotating',
    description: 'rotated every quarter',
    scopes: ['partners:read', 'customers:read'],
    environment: 'test',
    allowedIps: ['127.0.0.0/8'],
    rateLimit: { limit: 100, windowSeconds: 60 },
    metadata: { owner: 'ops' },
  };

  it('issues a new key with the same settings; the old one works for a day, then expires', async () => {
    const old = await createKey({ ...settings, expiresAt: later(30 * DAY_MS) });
    clock.advance(5_000);
    const rotatedAt = clock.now();
    const response = await api('POST', `/api-keys/${old.id}/rotate`);
    expect(response.status).toBe(201);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const fresh = response.body.data;
    expect(fresh.key).toMatch(/^plk_test_/);
    expect(fresh.id).not.toBe(old.id);
    expect(fresh).toMatchObject({
      ...settings,
      expiresAt: old.expiresAt,
      status: 'active',
      replacedBy: null,
      createdBy: tenant.keyId,
      createdAt: rotatedAt.toISOString(),
    });
    expect(fresh.key.startsWith(`${fresh.start}_`)).toBe(true);

    const replaced = await getKey(old.id);
    expect(replaced).toMatchObject({
      status: 'active',
      replacedBy: fresh.id,
      expiresAt: new Date(rotatedAt.getTime() + DAY_MS).toISOString(),
    });
    expect(await useKey(old.key)).toEqual({ status: 200 });
    expect(await useKey(fresh.key)).toEqual({ status: 200 });
    const me = await api('GET', '/me', undefined, fresh.key);
    expect(me.body.data).toMatchObject({ id: fresh.id, name: 'Rotating', rateLimit: settings.rateLimit });

    // A key is rotated once; its successor may be rotated in turn.
    const twice = await api('POST', `/api-keys/${old.id}/rotate`);
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe('invalid_state');

    clock.advance(DAY_MS - 1_000);
    expect(await useKey(old.key)).toEqual({ status: 200 });
    clock.advance(1_000);
    expect(await useKey(old.key)).toEqual({ status: 401, code: 'api_key_expired' });
    expect(await useKey(fresh.key)).toEqual({ status: 200 });
    expect((await getKey(old.id)).status).toBe('expired');
  });

  it('gracePeriodSeconds 0 expires the old key at once', async () => {
    const old = await createKey({ name: 'instant' });
    expect(await useKey(old.key)).toEqual({ status: 200 });
    const response = await api('POST', `/api-keys/${old.id}/rotate`, { gracePeriodSeconds: 0 });
    expect(response.status).toBe(201);
    expect(await useKey(old.key)).toEqual({ status: 401, code: 'api_key_expired' });
    expect(await useKey(response.body.data.key)).toEqual({ status: 200 });
    expect(await getKey(old.id)).toMatchObject({ status: 'expired', replacedBy: response.body.data.id });
  });

  it('a grace period never outlasts the old expiry', async () => {
    const expiresAt = later(3_600_000);
    const old = await createKey({ name: 'ending soon', expiresAt });
    const response = await api('POST', `/api-keys/${old.id}/rotate`, { gracePeriodSeconds: 604_800 });
    expect(response.status).toBe(201);
    expect((await getKey(old.id)).expiresAt).toBe(expiresAt);
  });

  it("a rotated key's expiry can be brought forward by PATCH, never lifted or pushed back (409)", async () => {
    const old = await createKey({ name: 'rotated, grace of an hour' });
    expect((await api('POST', `/api-keys/${old.id}/rotate`, { gracePeriodSeconds: 3_600 })).status).toBe(201);
    const graceEnds = (await getKey(old.id)).expiresAt;
    for (const expiresAt of [null, later(2 * 3_600_000)]) {
      const refused = await api('PATCH', `/api-keys/${old.id}`, { expiresAt });
      expect(refused.status, String(expiresAt)).toBe(409);
      expect(refused.body.code).toBe('invalid_state');
    }
    expect((await getKey(old.id)).expiresAt).toBe(graceEnds);
    const sooner = later(60_000);
    const shortened = await api('PATCH', `/api-keys/${old.id}`, { expiresAt: sooner });
    expect(shortened.status).toBe(200);
    expect(shortened.body.data.expiresAt).toBe(sooner);
  });

  it('the successor can be rotated in turn', async () => {
    const first = await createKey({ name: 'chain' });
    const second = (await api('POST', `/api-keys/${first.id}/rotate`, { gracePeriodSeconds: 0 })).body.data;
    const third = await api('POST', `/api-keys/${second.id}/rotate`, { gracePeriodSeconds: 60 });
    expect(third.status).toBe(201);
    expect((await getKey(second.id)).replacedBy).toBe(third.body.data.id);
  });

  it.each([
    ['revoked', (id: string) => api('DELETE', `/api-keys/${id}`)],
    ['inactive', (id: string) => api('POST', `/api-keys/${id}/deactivate`)],
    [
      'expired',
      async () => {
        clock.advance(2_000);
      },
    ],
  ])('refuses a %s key: 409 invalid_state, no new key', async (_, makeUnusable) => {
    const old = await createKey({ name: 'unusable', expiresAt: later(1_000) });
    await makeUnusable(old.id);
    const before = (await api('GET', '/api-keys?limit=100')).body.pagination.total;
    const response = await api('POST', `/api-keys/${old.id}/rotate`);
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('invalid_state');
    expect(response.body).not.toHaveProperty('data');
    expect((await api('GET', '/api-keys?limit=100')).body.pagination.total).toBe(before);
    expect((await getKey(old.id)).replacedBy).toBeNull();
  });

  it.each([
    ['-1', -1],
    ['over seven days', 604_801],
    ['a fraction', 1.5],
    ['a string', '60'],
  ])('refuses gracePeriodSeconds %s: 400', async (_, value) => {
    const old = await createKey({ name: 'grace' });
    const response = await api('POST', `/api-keys/${old.id}/rotate`, { gracePeriodSeconds: value });
    expect(response.status).toBe(400);
    expect(response.body.errors[0].field).toBe('gracePeriodSeconds');
    expect((await getKey(old.id)).replacedBy).toBeNull();
  });

  it('404 for an unknown key', async () => {
    const response = await api('POST', '/api-keys/key_01jd8x3v4w5y6z7a8b9c0d1e2f/rotate');
    expect(response.status).toBe(404);
  });

  it('two rotations at once: one wins, the other gets 409', async () => {
    const old = await createKey({ name: 'raced' });
    const responses = await Promise.all([
      api('POST', `/api-keys/${old.id}/rotate`, { gracePeriodSeconds: 60 }),
      api('POST', `/api-keys/${old.id}/rotate`, { gracePeriodSeconds: 60 }),
    ]);
    expect(responses.map((r) => r.status).sort()).toEqual([201, 409]);
    const winner = responses.find((r) => r.status === 201)?.body.data;
    expect((await getKey(old.id)).replacedBy).toBe(winner.id);
    const siblings = (await api('GET', '/api-keys?q=raced&limit=100')).body.data;
    expect(siblings.map((k: { id: string }) => k.id).sort()).toEqual([old.id, winner.id].sort());
  });
});

describe('ETags', () => {
  it('every answer that returns a key carries its current ETag: create, deactivate, activate, rotate, revoke', async () => {
    const etagOf = async (id: string) => (await api('GET', `/api-keys/${id}`)).headers.get('etag');
    const created = await api('POST', '/api-keys', { name: 'tagged', scopes: ['read'] });
    const id = created.body.data.id;
    expect(created.headers.get('etag')).toBe(await etagOf(id));
    for (const action of ['deactivate', 'activate']) {
      const response = await api('POST', `/api-keys/${id}/${action}`);
      expect(response.headers.get('etag'), action).toBe(await etagOf(id));
    }
    const rotated = await api('POST', `/api-keys/${id}/rotate`, { gracePeriodSeconds: 60 });
    expect(rotated.headers.get('etag')).toBe(await etagOf(rotated.body.data.id));
    const revoked = await api('DELETE', `/api-keys/${id}`);
    expect(revoked.headers.get('etag')).toBe(await etagOf(id));
    expect(new Set([created, revoked].map((r) => r.headers.get('etag'))).size).toBe(2);
  });
});

describe('concurrent changes without If-Match', () => {
  it('each applies in turn; none gets a 412 it did not ask for', async () => {
    const created = await createKey({ name: 'busy record' });
    const responses = await Promise.all([
      api('PATCH', `/api-keys/${created.id}`, { name: 'renamed' }),
      api('PATCH', `/api-keys/${created.id}`, { description: 'described' }),
      api('POST', `/api-keys/${created.id}/deactivate`),
    ]);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await getKey(created.id)).toMatchObject({
      name: 'renamed',
      description: 'described',
      status: 'inactive',
    });
  });
});

describe('GET /api-keys filters and pagination', () => {
  let owner: TestTenant;
  const ids: Record<string, string> = {};
  const listed = async (query: string) => {
    const response = await api('GET', `/api-keys?${query}`, undefined, owner.key);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body;
  };
  const idsOf = (body: { data: { id: string }[] }) => body.data.map((k) => k.id).sort();

  beforeAll(async () => {
    owner = await createTenant(server);
    ids.admin = owner.keyId;
    const make = async (name: string, body: Body = {}) => {
      ids[name] = (await createKey({ name, scopes: ['read'], ...body }, owner)).id;
    };
    await make('alpha', { description: 'CRM sync' });
    await make('beta', { environment: 'test', description: 'Nightly EXPORT 100%' });
    await make('gamma');
    await make('delta');
    await make('epsilon', { expiresAt: later(1_000) });
    await api('POST', `/api-keys/${ids.gamma}/deactivate`, undefined, owner.key);
    await api('DELETE', `/api-keys/${ids.delta}`, undefined, owner.key);
    clock.advance(2_000);
  });

  it.each([
    ['active', ['admin', 'alpha', 'beta']],
    ['inactive', ['gamma']],
    ['revoked', ['delta']],
    ['expired', ['epsilon']],
  ])('status=%s', async (status, names) => {
    const body = await listed(`status=${status}`);
    expect(idsOf(body)).toEqual(names.map((n) => ids[n]).sort());
    for (const key of body.data) expect(key.status).toBe(status);
    expect(body.pagination.total).toBe(names.length);
  });

  it('environment and q (name, description or start; case-insensitive, wildcards literal)', async () => {
    expect(idsOf(await listed('environment=test'))).toEqual([ids.beta]);
    expect((await listed('environment=live')).pagination.total).toBe(5);
    expect(idsOf(await listed('q=ALPH'))).toEqual([ids.alpha]);
    expect(idsOf(await listed('q=crm'))).toEqual([ids.alpha]);
    expect(idsOf(await listed('q=export'))).toEqual([ids.beta]);
    expect(idsOf(await listed(`q=${encodeURIComponent('100%')}`))).toEqual([ids.beta]);
    expect(idsOf(await listed(`q=${encodeURIComponent('0%')}`))).toEqual([ids.beta]);
    const start = (await getKey(ids.gamma as string, owner.key)).start as string;
    expect(idsOf(await listed(`q=${start.slice(-12)}`))).toEqual([ids.gamma]);
    expect(idsOf(await listed('q=zzz-nothing'))).toEqual([]);
    expect(idsOf(await listed('q=a&status=active&environment=live'))).toEqual([ids.admin, ids.alpha].sort());
  });

  it('classic pages carry total, pages and a cursor; cursor pages cover every key once, newest first', async () => {
    const all = Object.values(ids).sort().reverse();
    const page1 = await listed('limit=2');
    expect(page1.pagination).toMatchObject({ page: 1, limit: 2, total: 6, pages: 3 });
    expect(page1.data.map((k: { id: string }) => k.id)).toEqual(all.slice(0, 2));
    const page3 = await listed('page=3&limit=2');
    expect(page3.data.map((k: { id: string }) => k.id)).toEqual(all.slice(4, 6));

    const seen: string[] = [];
    let cursor: string | null = page1.pagination.nextCursor;
    seen.push(...page1.data.map((k: { id: string }) => k.id));
    while (cursor) {
      const page = await listed(`limit=2&cursor=${cursor}`);
      expect(page.pagination).not.toHaveProperty('total');
      seen.push(...page.data.map((k: { id: string }) => k.id));
      cursor = page.pagination.nextCursor;
    }
    expect(seen).toEqual(all);

    // Filters apply in cursor mode too.
    const filtered = await listed(`status=active&limit=2&cursor=${page1.pagination.nextCursor}`);
    expect(filtered.data.map((k: { id: string }) => k.id)).toEqual(
      all
        .slice(2)
        .filter((id) => [ids.admin, ids.alpha, ids.beta].includes(id))
        .slice(0, 2),
    );
  });

  it.each([
    ['status=gone', 'status'],
    ['environment=prod', 'environment'],
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['q=', 'q'],
    ['sort=name', 'sort'],
  ])('%s: 400', async (query, field) => {
    const response = await api('GET', `/api-keys?${query}`, undefined, owner.key);
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('page and cursor together, or a foreign cursor: 400', async () => {
    const both = await api('GET', '/api-keys?page=1&cursor=abc', undefined, owner.key);
    expect(both.status).toBe(400);
    const bad = await api('GET', '/api-keys?cursor=bm9wZQ', undefined, owner.key);
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_cursor');
  });
});

describe('usage: requestCount, lastUsedAt, lastUsedIp', () => {
  const stored = (id: string) =>
    server.services.db
      .selectFrom('apiKeys')
      .select(['lastUsedAt', 'lastUsedIp', 'requestCount'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

  it('counts requests and writes the last use off the request path, at most once a minute', async () => {
    const created = await createKey({ name: 'metered' });
    const t0 = clock.now();
    for (let i = 0; i < 3; i++) expect(await useKey(created.key)).toEqual({ status: 200 });
    // Nothing is written while requests are served: only a flush writes.
    expect(await stored(created.id)).toEqual({ lastUsedAt: null, lastUsedIp: null, requestCount: 0 });

    await server.services.keyUsage.flush();
    expect(await stored(created.id)).toEqual({ lastUsedAt: t0, lastUsedIp: '127.0.0.1', requestCount: 3 });

    // Within the minute, counts keep moving but the last use is not written again.
    for (const step of [10_000, 20_000, 29_000]) {
      clock.advance(step);
      expect(await useKey(created.key)).toEqual({ status: 200 });
      await server.services.keyUsage.flush();
      const row = await stored(created.id);
      expect(row.lastUsedAt).toEqual(t0);
    }
    expect((await stored(created.id)).requestCount).toBe(6);
    // This process still knows the latest use.
    const me = await api('GET', '/me', undefined, created.key);
    expect(me.body.data.lastUsedAt).toBe(clock.now().toISOString());

    clock.advance(2_000);
    const t1 = clock.now();
    expect(await useKey(created.key)).toEqual({ status: 200 });
    await server.services.keyUsage.flush();
    expect(await stored(created.id)).toEqual({ lastUsedAt: t1, lastUsedIp: '127.0.0.1', requestCount: 8 });

    const record = await getKey(created.id);
    expect(record).toMatchObject({ lastUsedAt: t1.toISOString(), lastUsedIp: '127.0.0.1', requestCount: 8 });
  });

  it('the list shows each key its request count and last use', async () => {
    const owner = await createTenant(server);
    const busy = await createKey({ name: 'busy' }, owner);
    const idle = await createKey({ name: 'idle' }, owner);
    const usedAt = clock.now().toISOString();
    for (let i = 0; i < 4; i++) await useKey(busy.key);
    await server.services.keyUsage.flush();
    const list = (await api('GET', '/api-keys?limit=100', undefined, owner.key)).body.data;
    expect(list.find((k: { id: string }) => k.id === busy.id)).toMatchObject({
      requestCount: 4,
      lastUsedAt: usedAt,
      lastUsedIp: '127.0.0.1',
    });
    expect(list.find((k: { id: string }) => k.id === idle.id)).toMatchObject({
      requestCount: 0,
      lastUsedAt: null,
      lastUsedIp: null,
    });
  });

  it('refused requests are not counted as uses', async () => {
    const created = await createKey({ name: 'refused', allowedIps: ['10.0.0.0/8'] });
    expect(await useKey(created.key)).toEqual({ status: 403, code: 'ip_not_allowed' });
    await api('POST', `/api-keys/${created.id}/deactivate`);
    expect(await useKey(created.key)).toEqual({ status: 401, code: 'api_key_inactive' });
    await server.services.keyUsage.flush();
    expect(await stored(created.id)).toEqual({ lastUsedAt: null, lastUsedIp: null, requestCount: 0 });
  });
});
