import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../../src/platform/ids.ts';
import { call, createKey, createTenant, type RequestOptions, type TestTenant } from '../../helpers/http.ts';
import { ADMIN_KEY, startServer, type TestServer } from '../../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

async function createPartner(tenant: TestTenant): Promise<string> {
  const response = await call(server, 'POST', '/api/v1/partners', {
    key: tenant.key,
    body: { email: `${newId('prt').slice(-12)}@example.com` },
  });
  expect(response.status).toBe(201);
  return response.body.data.id;
}

const keyWith = (tenant: TestTenant, scopes: string[]) =>
  createKey(server, tenant.key, { name: `scopes ${scopes.join(' ')}`, scopes }).then((k) => k.key);

type Operation = 'list' | 'get' | 'create' | 'update';

/** Each partner route, called so that it would succeed with enough rights. */
function request(op: Operation, partnerId: string, base = '/api/v1'): [string, string, RequestOptions] {
  switch (op) {
    case 'list':
      return ['GET', `${base}/partners`, {}];
    case 'get':
      return ['GET', `${base}/partners/${partnerId}`, {}];
    case 'create':
      return ['POST', `${base}/partners`, { body: { email: `${newId('prt').slice(-12)}@example.com` } }];
    case 'update':
      return ['PATCH', `${base}/partners/${partnerId}`, { body: { name: 'Renamed' } }];
  }
}

async function attempt(op: Operation, partnerId: string, options: RequestOptions, base?: string) {
  const [method, path, extra] = request(op, partnerId, base);
  return call(server, method, path, { ...extra, ...options });
}

const SUCCESS: Record<Operation, number> = { list: 200, get: 200, create: 201, update: 200 };
const REQUIRED: Record<Operation, string> = {
  list: 'partners:read',
  get: 'partners:read',
  create: 'partners:write',
  update: 'partners:write',
};
const OPERATIONS: Operation[] = ['list', 'get', 'create', 'update'];

describe('scopes', () => {
  const grants: [string, string[], Operation[]][] = [
    ['partners:read', ['partners:read'], ['list', 'get']],
    ['partners:write', ['partners:write'], ['create', 'update']],
    ['partners:read and partners:write', ['partners:read', 'partners:write'], OPERATIONS],
    ['the read shorthand', ['read'], ['list', 'get']],
    ['the write shorthand', ['write'], OPERATIONS],
    ['admin', ['admin'], OPERATIONS],
    ['only another resource', ['customers:read', 'customers:write'], []],
  ];

  describe.each(grants)('a key with %s', (_, scopes, allowed) => {
    let tenant: TestTenant;
    let key: string;
    let partnerId: string;
    beforeAll(async () => {
      tenant = await createTenant(server);
      key = await keyWith(tenant, scopes);
      partnerId = await createPartner(tenant);
    });

    it.each(OPERATIONS)('%s', async (op) => {
      const response = await attempt(op, partnerId, { key });
      if (allowed.includes(op)) {
        expect(response.status).toBe(SUCCESS[op]);
        return;
      }
      expect(response.status).toBe(403);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(response.body).toMatchObject({
        status: 403,
        code: 'insufficient_scope',
        detail: expect.stringContaining(REQUIRED[op]),
      });
    });
  });

  it('the scope is checked before the body: an invalid body from a read-only key is 403', async () => {
    const tenant = await createTenant(server);
    const key = await keyWith(tenant, ['partners:read']);
    const response = await call(server, 'POST', '/api/v1/partners', { key, body: { nope: true } });
    expect(response.status).toBe(403);
    expect(response.body.code).toBe('insufficient_scope');
  });

  it('a refused write changes nothing', async () => {
    const tenant = await createTenant(server);
    const key = await keyWith(tenant, ['partners:read']);
    const partnerId = await createPartner(tenant);
    await attempt('update', partnerId, { key });
    await attempt('create', partnerId, { key });

    const list = await call(server, 'GET', '/api/v1/partners', { key });
    expect(list.body.pagination.total).toBe(1);
    expect(list.body.data[0].name).toBeNull();
  });
});

describe('authentication', () => {
  let tenant: TestTenant;
  let partnerId: string;
  beforeAll(async () => {
    tenant = await createTenant(server);
    partnerId = await createPartner(tenant);
  });

  it.each(OPERATIONS)('%s without a key under /api/t/{slug}/v1: 401 api_key_missing', async (op) => {
    const response = await attempt(op, partnerId, {}, `/api/t/${tenant.slug}/v1`);
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    expect(response.body.code).toBe('api_key_missing');
  });

  it.each(OPERATIONS)(
    '%s without a key under /api/v1 names no tenant: 400 tenant_slug_missing',
    async (op) => {
      const response = await attempt(op, partnerId, {});
      expect(response.status).toBe(400);
      expect(response.body.code).toBe('tenant_slug_missing');
    },
  );

  it.each(OPERATIONS)('%s with an unknown key: 401 api_key_invalid', async (op) => {
    const forged = `${tenant.key.slice(0, -6)}AAAAAA`;
    const response = await attempt(op, partnerId, { key: forged });
    expect(response.status).toBe(401);
    expect(response.body.code).toBe('api_key_invalid');
    expect(JSON.stringify(response.body)).not.toContain(forged);
  });

  it.each(OPERATIONS)('%s with a revoked key: 401 api_key_revoked', async (op) => {
    const revoked = await createKey(server, tenant.key, { name: 'to revoke', scopes: ['admin'] });
    const revoke = await call(server, 'DELETE', `/api/v1/api-keys/${revoked.id}`, { key: tenant.key });
    expect(revoke.status).toBe(200);

    const response = await attempt(op, partnerId, { key: revoked.key });
    expect(response.status).toBe(401);
    expect(response.body.code).toBe('api_key_revoked');
  });

  it.each(OPERATIONS)('%s with the key as a Bearer token works', async (op) => {
    const response = await attempt(op, partnerId, { headers: { authorization: `Bearer ${tenant.key}` } });
    expect(response.status).toBe(SUCCESS[op]);
  });
});

describe('tenant isolation', () => {
  let owner: TestTenant;
  let stranger: TestTenant;
  let partnerId: string;
  beforeAll(async () => {
    owner = await createTenant(server);
    stranger = await createTenant(server);
    partnerId = await createPartner(owner);
    await createPartner(stranger);
  });

  it("a list shows only the caller's own partners, also when searching and filtering", async () => {
    for (const query of ['', '?q=example.com', '?status=active', '?limit=100', '?page=1']) {
      const response = await call(server, 'GET', `/api/v1/partners${query}`, { key: stranger.key });
      expect(response.status).toBe(200);
      expect(response.body.data.map((p: { id: string }) => p.id)).not.toContain(partnerId);
      expect(response.body.data).toHaveLength(1);
    }
  });

  it("another tenant's partner id in a cursor reveals nothing", async () => {
    const cursor = Buffer.from(`v1:${newId('prt')}`).toString('base64url');
    const response = await call(server, 'GET', `/api/v1/partners?cursor=${cursor}`, { key: stranger.key });
    expect(response.status).toBe(200);
    expect(response.body.data.map((p: { id: string }) => p.id)).not.toContain(partnerId);
  });

  it.each(['get', 'update'] as const)("%s of another tenant's partner: 404 not_found", async (op) => {
    const response = await attempt(op, partnerId, { key: stranger.key });
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('not_found');
  });

  it.each(OPERATIONS)("%s under another tenant's URL: 401 api_key_invalid, as an unknown key", async (op) => {
    const response = await attempt(op, partnerId, { key: stranger.key }, `/api/t/${owner.slug}/v1`);
    expect(response.status).toBe(401);
    expect(response.body.code).toBe('api_key_invalid');
  });

  it('the platform admin key works on a URL that names the tenant, and not without one', async () => {
    const named = await call(server, 'GET', `/api/t/${owner.slug}/v1/partners/${partnerId}`, {
      key: ADMIN_KEY,
    });
    expect(named.status).toBe(200);
    const unnamed = await call(server, 'GET', `/api/v1/partners/${partnerId}`, { key: ADMIN_KEY });
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.code).toBe('tenant_slug_missing');
  });
});
