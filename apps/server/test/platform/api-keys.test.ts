import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/platform/auth/key-format.ts';
import { call, createKey, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../helpers/server.ts';

const KEY_FORMAT = /^plk_(live|test)_([0-7][0-9a-hjkmnp-tv-z]{25})_([0-9A-Za-z]{36})$/;

const clock = new TestClock();
let server: TestServer;
let tenant: TestTenant;
let other: TestTenant;

beforeAll(async () => {
  server = await startServer({ clock });
  tenant = await createTenant(server);
  other = await createTenant(server);
});
afterAll(() => server.close());

const create = (body: unknown, key = tenant.key) => call(server, 'POST', '/api/v1/api-keys', { key, body });

describe('POST /api/v1/api-keys', () => {
  it('returns the key once, with its record', async () => {
    const response = await create({ name: 'CRM sync', scopes: ['partners:read'] });
    expect(response.status).toBe(201);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const data = response.body.data;
    expect(data).toMatchObject({
      name: 'CRM sync',
      scopes: ['partners:read'],
      environment: 'live',
      status: 'active',
      lastUsedAt: null,
      revokedAt: null,
      expiresAt: null,
    });
    expect(data.id).toMatch(/^key_[0-7][0-9a-hjkmnp-tv-z]{25}$/);
    expect(data.createdAt).toBe(new Date(data.createdAt).toISOString());
    const [, environment, idSuffix] = KEY_FORMAT.exec(data.key) ?? [];
    expect(environment).toBe('live');
    expect(`key_${idSuffix}`).toBe(data.id);
    expect(data.start).toBe(`plk_live_${idSuffix}`);
    expect(data.key.startsWith(`${data.start}_`)).toBe(true);
  });

  it('takes null for every setting a response shows as null, as unset', async () => {
    const unset = { description: null, expiresAt: null, allowedIps: null, rateLimit: null, quota: null };
    const response = await create({ name: 'nulls', scopes: ['read'], ...unset });
    expect(response.status).toBe(201);
    expect(response.body.data).toMatchObject(unset);
    const me = await call(server, 'GET', '/api/v1/me', { key: response.body.data.key });
    expect(me.status).toBe(200);
  });

  it('mints test keys', async () => {
    const response = await create({ name: 'sandbox', scopes: ['read'], environment: 'test' });
    expect(response.body.data.key).toMatch(/^plk_test_/);
    const me = await call(server, 'GET', '/api/v1/me', { key: response.body.data.key });
    expect(me.body.data.environment).toBe('test');
  });

  it.each([
    ['no name', { scopes: ['read'] }, 'name'],
    ['an empty name', { name: '', scopes: ['read'] }, 'name'],
    ['a name over 100 characters', { name: 'n'.repeat(101), scopes: ['read'] }, 'name'],
    ['no scopes', { name: 'k' }, 'scopes'],
    ['an empty scope list', { name: 'k', scopes: [] }, 'scopes'],
    ['an unknown scope', { name: 'k', scopes: ['partners:delete'] }, 'scopes.0'],
    ['a repeated scope', { name: 'k', scopes: ['read', 'read'] }, 'scopes'],
    ['an unknown environment', { name: 'k', scopes: ['read'], environment: 'prod' }, 'environment'],
    ['an unknown field', { name: 'k', scopes: ['read'], key: 'plk_live_mine' }, 'key'],
    ['a malformed expiresAt', { name: 'k', scopes: ['read'], expiresAt: 'tomorrow' }, 'expiresAt'],
    [
      'an expiresAt in the past',
      { name: 'k', scopes: ['read'], expiresAt: '2020-01-01T00:00:00.000Z' },
      'expiresAt',
    ],
  ])('refuses %s: 400 naming the field', async (_, body, field) => {
    const response = await create(body);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });
});

describe('reading keys', () => {
  it('never shows a key, its secret or its hash again', async () => {
    const created = (await create({ name: 'secret keeper', scopes: ['read'] })).body.data;
    const secret = created.key.split('_').at(-1) as string;
    const list = await call(server, 'GET', '/api/v1/api-keys?limit=100', { key: tenant.key });
    const one = await call(server, 'GET', `/api/v1/api-keys/${created.id}`, { key: tenant.key });
    expect(list.status).toBe(200);
    expect(one.status).toBe(200);
    expect(list.body.data.map((k: { id: string }) => k.id)).toContain(created.id);
    expect(one.body.data).toMatchObject({ id: created.id, name: 'secret keeper', start: created.start });
    for (const response of [list, one]) {
      const text = JSON.stringify(response.body);
      expect(text).not.toContain(created.key);
      expect(text).not.toContain(secret);
      expect(text).not.toContain(hashKey(created.key));
      expect(text).not.toMatch(/"key"|hash/i);
    }
  });

  it.each([
    ['a malformed id', 'nope'],
    ['an id of another type', 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f'],
    ['an unknown id', 'key_01jd8x3v4w5y6z7a8b9c0d1e2f'],
  ])('answers 404 for %s', async (_, id) => {
    for (const method of ['GET', 'DELETE']) {
      const response = await call(server, method, `/api/v1/api-keys/${id}`, { key: tenant.key });
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
  });

  it("answers 404 for another tenant's key and leaves it alone", async () => {
    const foreign = await createKey(server, other.key, { name: 'theirs', scopes: ['read'] });
    for (const method of ['GET', 'DELETE']) {
      const response = await call(server, method, `/api/v1/api-keys/${foreign.id}`, { key: tenant.key });
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
    expect((await call(server, 'GET', '/api/v1/me', { key: foreign.key })).status).toBe(200);
  });
});

describe('DELETE /api/v1/api-keys/{id}', () => {
  it('revokes at once and keeps the record', async () => {
    const victim = await createKey(server, tenant.key, { name: 'to revoke', scopes: ['read'] });
    expect((await call(server, 'GET', '/api/v1/partners', { key: victim.key })).status).toBe(200);

    const revoked = await call(server, 'DELETE', `/api/v1/api-keys/${victim.id}`, { key: tenant.key });
    expect(revoked.status).toBe(200);
    expect(revoked.body.data).toMatchObject({ id: victim.id, status: 'revoked' });

    const refused = await call(server, 'GET', '/api/v1/partners', { key: victim.key });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('api_key_revoked');
    expect(refused.headers.get('www-authenticate')).toContain('api_key_revoked');

    const record = await call(server, 'GET', `/api/v1/api-keys/${victim.id}`, { key: tenant.key });
    expect(record.body.data.status).toBe('revoked');
    expect(record.body.data.revokedAt).toBe(revoked.body.data.revokedAt);
    const again = await call(server, 'DELETE', `/api/v1/api-keys/${victim.id}`, { key: tenant.key });
    expect(again.status).toBe(200);
    expect(again.body.data.revokedAt).toBe(revoked.body.data.revokedAt);
  });
});

describe('expiry', () => {
  it('answers 401 api_key_expired once expiresAt has passed', async () => {
    const expiresAt = new Date(clock.now().getTime() + 5_000).toISOString();
    const created = (await create({ name: 'short-lived', scopes: ['read'], expiresAt })).body.data;
    expect(created.expiresAt).toBe(expiresAt);
    expect((await call(server, 'GET', '/api/v1/me', { key: created.key })).status).toBe(200);

    clock.advance(10_000);
    const refused = await call(server, 'GET', '/api/v1/me', { key: created.key });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('api_key_expired');
    expect(refused.headers.get('www-authenticate')).toContain('api_key_expired');
    const record = await call(server, 'GET', `/api/v1/api-keys/${created.id}`, { key: tenant.key });
    expect(record.body.data.status).toBe('expired');
  });
});

describe('GET /api/v1/me', () => {
  it('describes the calling key, its tenant and its rate limit', async () => {
    const created = (await create({ name: 'reporting', scopes: ['read', 'usage:read'] })).body.data;
    const response = await call(server, 'GET', '/api/v1/me', { key: created.key });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({
      id: created.id,
      name: 'reporting',
      scopes: ['read', 'usage:read'],
      environment: 'live',
      tenant: { id: tenant.id, slug: tenant.slug, name: `Tenant ${tenant.slug}` },
      createdAt: created.createdAt,
      lastUsedAt: clock.now().toISOString(),
      rateLimit: { limit: 600, windowSeconds: 60 },
      quota: null,
    });
  });

  it('persists lastUsedAt', async () => {
    const created = await createKey(server, tenant.key, { name: 'used', scopes: ['read'] });
    const before = await call(server, 'GET', `/api/v1/api-keys/${created.id}`, { key: tenant.key });
    expect(before.body.data.lastUsedAt).toBeNull();

    clock.advance(1_000);
    const usedAt = clock.now().toISOString();
    expect((await call(server, 'GET', '/api/v1/partners', { key: created.key })).status).toBe(200);
    await server.services.keyUsage.flush();

    const after = await call(server, 'GET', `/api/v1/api-keys/${created.id}`, { key: tenant.key });
    expect(after.body.data.lastUsedAt).toBe(usedAt);
    const row = await server.services.db
      .selectFrom('apiKeys')
      .select(['lastUsedAt', 'lastUsedIp'])
      .where('id', '=', created.id)
      .executeTakeFirstOrThrow();
    expect(row.lastUsedAt?.toISOString()).toBe(usedAt);
    expect(row.lastUsedIp).toBe('127.0.0.1');
  });
});
