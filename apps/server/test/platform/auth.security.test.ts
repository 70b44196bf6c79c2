import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../src/platform/auth/key-format.ts';
import { newId } from '../../src/platform/ids.ts';
import { call, createKey, createTenant, type TestTenant, uniqueSlug } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, TestClock, type TestServer } from '../helpers/server.ts';

// A frozen clock keeps every request of a test in one rate-limit window.
const clock = new TestClock(new Date('2026-05-01T12:00:10.000Z'));
let server: TestServer;
let a: TestTenant;
let b: TestTenant;

beforeAll(async () => {
  server = await startServer({ clock });
  a = await createTenant(server);
  b = await createTenant(server);
});
afterAll(() => server.close());

const keyWith = (scopes: string[], tenant = a) =>
  createKey(server, tenant.key, { name: scopes.join(' '), scopes }).then((k) => k.key);

/** Changes one character of the key's random secret; the checksum no longer matches. */
function breakChecksum(key: string): string {
  const i = key.length - 10;
  return key.slice(0, i) + (key[i] === 'a' ? 'b' : 'a') + key.slice(i + 1);
}

describe('401 answers', () => {
  const unknownKey = generateKey('plk', 'live', newId('key').slice('key_'.length));
  const cases: [string, () => Record<string, string>, string][] = [
    ['no key', () => ({}), 'api_key_missing'],
    ['garbage in X-API-Key', () => ({ 'x-api-key': 'not-a-key' }), 'api_key_invalid'],
    ['garbage as Bearer', () => ({ authorization: 'Bearer not-a-key' }), 'api_key_invalid'],
    ['a key with a broken checksum', () => ({ 'x-api-key': breakChecksum(a.key) }), 'api_key_invalid'],
    ['a well-formed unknown key', () => ({ 'x-api-key': unknownKey }), 'api_key_invalid'],
    ['a key of another prefix', () => ({ 'x-api-key': a.key.replace(/^plk_/, 'sk_') }), 'api_key_invalid'],
    [
      'a Basic Authorization header',
      () => ({ authorization: `Basic ${btoa(`user:${a.key}`)}` }),
      'api_key_invalid',
    ],
    ['a bare key in Authorization', () => ({ authorization: a.key }), 'api_key_invalid'],
  ];

  it.each(cases)('%s: 401 %s with WWW-Authenticate', async (_, headers, code) => {
    const response = await call(server, 'GET', `/api/t/${a.slug}/v1/partners`, { headers: headers() });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ status: 401, code });
    const challenge = response.headers.get('www-authenticate');
    if (code === 'api_key_missing') expect(challenge).toBe('Bearer realm="partnerline"');
    else
      expect(challenge).toBe(
        `Bearer realm="partnerline", error="invalid_token", error_description="${code}"`,
      );
  });

  it('revoked and expired keys: 401 with their own codes', async () => {
    const revoked = await createKey(server, a.key, { name: 'revoked', scopes: ['read'] });
    await call(server, 'DELETE', `/api/v1/api-keys/${revoked.id}`, { key: a.key });
    const expiresAt = new Date(clock.now().getTime() + 1_000).toISOString();
    const expiring = await call(server, 'POST', '/api/v1/api-keys', {
      key: a.key,
      body: { name: 'expiring', scopes: ['read'], expiresAt },
    });
    clock.advance(2_000);
    for (const [key, code] of [
      [revoked.key, 'api_key_revoked'],
      [expiring.body.data.key, 'api_key_expired'],
    ]) {
      const response = await call(server, 'GET', '/api/v1/partners', { key });
      expect(response.status).toBe(401);
      expect(response.body.code).toBe(code);
      expect(response.headers.get('www-authenticate')).toContain(`error_description="${code}"`);
      // Under another tenant's URL, or one that does not exist, they are unknown keys, not revoked
      // or expired ones: nothing about the key's tenant shows.
      for (const slug of [b.slug, 'no-such-tenant']) {
        for (let i = 0; i < 2; i++) {
          const elsewhere = await call(server, 'GET', `/api/t/${slug}/v1/partners`, { key });
          expect(elsewhere.status).toBe(401);
          expect(elsewhere.body.code).toBe('api_key_invalid');
        }
      }
    }
  });

  it('never echoes the presented key', async () => {
    const broken = breakChecksum(a.key);
    const response = await call(server, 'GET', '/api/v1/me', { key: broken });
    expect(JSON.stringify(response.body)).not.toContain(broken);
  });
});

describe('credentials', () => {
  it.each([
    ['X-API-Key', (key: string) => ({ 'x-api-key': key })],
    ['Authorization: Bearer', (key: string) => ({ authorization: `Bearer ${key}` })],
    ['Authorization: bearer (any case)', (key: string) => ({ authorization: `bearer ${key}` })],
  ])('%s works on /api/v1 and /api/t/{slug}/v1', async (_, headers) => {
    for (const path of ['/api/v1/me', `/api/t/${a.slug}/v1/me`]) {
      const response = await call(server, 'GET', path, { headers: headers(a.key) });
      expect(response.status).toBe(200);
      expect(response.body.data.tenant.slug).toBe(a.slug);
    }
  });
});

describe('two keys in one request', () => {
  // A server of its own: these requests are refused on purpose, and on the shared one the guard
  // against failed authentications would answer this file's later requests with 429.
  let own: TestServer;
  let mine: TestTenant;
  let other: TestTenant;
  beforeAll(async () => {
    own = await startServer({ clock, env: { AUTH_FAILURE_LIMIT: '0' } });
    mine = await createTenant(own);
    other = await createTenant(own);
  });
  afterAll(() => own.close());

  it('the same key in both headers works', async () => {
    const response = await call(own, 'GET', '/api/v1/me', {
      headers: { 'x-api-key': mine.key, authorization: `Bearer ${mine.key}` },
    });
    expect(response.status).toBe(200);
  });

  it('an Authorization that is no bearer token beside X-API-Key is left to whom it is for', async () => {
    const response = await call(own, 'GET', '/api/v1/me', {
      headers: { 'x-api-key': mine.key, authorization: 'Basic cHJveHk6c2VjcmV0' },
    });
    expect(response.status).toBe(200);
  });

  it.each([
    [
      'a valid X-API-Key and another bearer',
      () => ({ 'x-api-key': mine.key, authorization: 'Bearer plk_live_x' }),
    ],
    [
      'a valid bearer and another X-API-Key',
      () => ({ 'x-api-key': 'plk_live_x', authorization: `Bearer ${mine.key}` }),
    ],
    ['the keys of two tenants', () => ({ 'x-api-key': mine.key, authorization: `Bearer ${other.key}` })],
  ])('two different keys (%s): 401 api_key_invalid, whichever header holds which', async (_, headers) => {
    for (const path of ['/api/v1/me', `/api/t/${mine.slug}/v1/me`]) {
      const response = await call(own, 'GET', path, { headers: headers() });
      expect(response.status, path).toBe(401);
      expect(response.body.code).toBe('api_key_invalid');
    }
  });

  it.each([
    ['X-API-Key', 'x-api-key', (key: string) => key],
    ['Authorization', 'authorization', (key: string) => `Bearer ${key}`],
  ])(
    'the %s header twice: 401 api_key_invalid, even if one of them is valid',
    async (name, header, value) => {
      for (const order of [
        [mine.key, 'plk_live_x'],
        ['plk_live_x', mine.key],
        [mine.key, mine.key],
      ]) {
        const answer = await rawGet(
          own,
          '/api/v1/me',
          order.flatMap((key) => [header, value(key)]),
        );
        expect(answer.status, order.join(' then ')).toBe(401);
        expect(answer.body.code).toBe('api_key_invalid');
        expect(answer.body.detail).toContain(`one ${name} header`);
      }
    },
  );
});

/**
 * A GET through node:http with exactly these headers, as name and value pairs (`rawHeaders` form):
 * fetch() may not set Host nor send a header twice. Host is the first pair unless given.
 */
function rawGet(target: TestServer, path: string, headers: string[]): Promise<{ status: number; body: any }> {
  const { port } = new URL(target.url);
  const withHost = headers.some((name, i) => i % 2 === 0 && name === 'host')
    ? headers
    : ['host', 'localhost', ...headers];
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: withHost }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('scopes', () => {
  it('403 insufficient_scope names the scope', async () => {
    const key = await keyWith(['partners:read']);
    const response = await call(server, 'POST', '/api/v1/partners', {
      key,
      body: { email: 'x@example.com' },
    });
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ code: 'insufficient_scope', requiredScope: 'partners:write' });
    expect(response.body.detail).toContain('partners:write');
  });

  const partner = () => ({ email: `${uniqueSlug('p')}@example.com` });
  const table: [string, string, string, () => unknown, number, string?][] = [
    ['read', 'GET', '/partners', () => undefined, 200],
    ['read', 'POST', '/partners', partner, 403, 'partners:write'],
    ['read', 'GET', '/api-keys', () => undefined, 403, 'api_keys:read'],
    ['write', 'GET', '/partners', () => undefined, 200],
    ['write', 'POST', '/partners', partner, 201],
    ['write', 'GET', '/api-keys', () => undefined, 403, 'api_keys:read'],
    ['write', 'POST', '/api-keys', () => ({ name: 'k', scopes: ['read'] }), 403, 'api_keys:write'],
    ['admin', 'POST', '/partners', partner, 201],
    ['admin', 'GET', '/api-keys', () => undefined, 200],
    ['admin', 'POST', '/api-keys', () => ({ name: 'k', scopes: ['write'] }), 201],
    ['api_keys:read', 'GET', '/api-keys', () => undefined, 200],
    ['api_keys:read', 'GET', '/partners', () => undefined, 403, 'partners:read'],
    ['partners:write', 'POST', '/partners', partner, 201],
    ['partners:write', 'GET', '/partners', () => undefined, 403, 'partners:read'],
  ];

  it.each(table)('a %s key: %s %s → %i', async (scope, method, path, body, status, requiredScope) => {
    const key = await keyWith([scope]);
    const response = await call(server, method, `/api/v1${path}`, { key, body: body() });
    expect(response.status).toBe(status);
    if (requiredScope) expect(response.body).toMatchObject({ code: 'insufficient_scope', requiredScope });
  });

  it.each([
    [['api_keys:write', 'partners:read'], ['partners:write'], 403],
    [['api_keys:write', 'partners:read'], ['partners:read'], 201],
    [['write', 'api_keys:write'], ['admin'], 403],
    [['write', 'api_keys:write'], ['read'], 201],
    [['write', 'api_keys:write'], ['api_keys:read'], 403],
    [['api_keys:write', 'partners:read', 'partners:write'], ['write'], 403],
  ])('a key with %j minting %j → %i', async (held, requested, status) => {
    const key = await keyWith(held);
    const response = await call(server, 'POST', '/api/v1/api-keys', {
      key,
      body: { name: 'minted', scopes: requested },
    });
    expect(response.status).toBe(status);
    if (status === 403) expect(response.body.code).toBe('insufficient_scope');
  });
});

describe('tenant isolation', () => {
  it("refuses tenant A's key under tenant B's URL like an unknown key", async () => {
    const response = await call(server, 'GET', `/api/t/${b.slug}/v1/partners`, { key: a.key });
    expect(response.status).toBe(401);
    expect(response.body.code).toBe('api_key_invalid');
  });

  it("answers 404 for tenant A's partner fetched with B's key", async () => {
    const created = await call(server, 'POST', '/api/v1/partners', { key: a.key, body: partnerBody() });
    expect(created.status).toBe(201);
    const id = created.body.data.id;
    expect((await call(server, 'GET', `/api/v1/partners/${id}`, { key: a.key })).status).toBe(200);
    for (const path of [`/api/v1/partners/${id}`, `/api/t/${b.slug}/v1/partners/${id}`]) {
      const response = await call(server, 'GET', path, { key: b.key });
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
    const list = await call(server, 'GET', '/api/v1/partners?limit=100', { key: b.key });
    expect(list.body.data.map((p: { id: string }) => p.id)).not.toContain(id);
  });
});

function partnerBody() {
  return { email: `${uniqueSlug('p')}@example.com` };
}

describe('tenant resolution', () => {
  it('takes the tenant from the key on /api/v1 and from the path on /api/t/{slug}/v1', async () => {
    expect((await call(server, 'GET', '/api/v1/me', { key: b.key })).body.data.tenant.slug).toBe(b.slug);
    const viaPath = await call(server, 'GET', `/api/t/${b.slug}/v1/me`, { key: b.key });
    expect(viaPath.body.data.tenant.slug).toBe(b.slug);
  });

  it('400 tenant_slug_missing without key and slug; 401 api_key_missing with a slug only', async () => {
    const none = await call(server, 'GET', '/api/v1/partners');
    expect(none.status).toBe(400);
    expect(none.body.code).toBe('tenant_slug_missing');
    const slugOnly = await call(server, 'GET', `/api/t/${a.slug}/v1/partners`);
    expect(slugOnly.status).toBe(401);
    expect(slugOnly.body.code).toBe('api_key_missing');
  });

  describe('ADMIN_API_KEY on tenant URLs', () => {
    it('acts with every scope under /api/t/{slug}/v1', async () => {
      const base = `/api/t/${a.slug}/v1`;
      const me = await call(server, 'GET', `${base}/me`, { key: ADMIN_KEY });
      expect(me.body.data).toMatchObject({ id: 'admin', scopes: ['admin'], tenant: { slug: a.slug } });
      expect((await call(server, 'GET', `${base}/api-keys`, { key: ADMIN_KEY })).status).toBe(200);
      const partner = await call(server, 'POST', `${base}/partners`, { key: ADMIN_KEY, body: partnerBody() });
      expect(partner.status).toBe(201);
      const minted = await call(server, 'POST', `${base}/api-keys`, {
        key: ADMIN_KEY,
        body: { name: 'by admin', scopes: ['admin'] },
      });
      expect(minted.status).toBe(201);
      expect(minted.body.data.createdBy).toBe('admin');
      const bearer = await call(server, 'GET', `${base}/partners`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      expect(bearer.status).toBe(200);
    });

    it.each([
      ['less its last character', ADMIN_KEY.slice(0, -1)],
      ['and one character more', `${ADMIN_KEY}x`],
      ['with its last character changed', `${ADMIN_KEY.slice(0, -1)}X`],
      ['less its first character', ADMIN_KEY.slice(1)],
    ])('the admin key %s is refused on tenant and admin URLs alike', async (_, key) => {
      const tenantUrl = await call(server, 'GET', `/api/t/${a.slug}/v1/me`, { key });
      expect(tenantUrl.status).toBe(401);
      expect(tenantUrl.body.code).toBe('api_key_invalid');
      const adminUrl = await call(server, 'GET', '/api/admin/tenants', { key });
      expect(adminUrl.status).toBe(401);
      expect(adminUrl.body.code).toBe('api_key_invalid');
      expect((await call(server, 'GET', '/api/admin/tenants', { key: ADMIN_KEY })).status).toBe(200);
    });

    it('400 tenant_slug_missing on /api/v1 and 404 tenant_not_found for an unknown slug', async () => {
      const noSlug = await call(server, 'GET', '/api/v1/me', { key: ADMIN_KEY });
      expect(noSlug.status).toBe(400);
      expect(noSlug.body.code).toBe('tenant_slug_missing');
      // Without BASE_DOMAIN the path is the only way to name it.
      expect(noSlug.body.detail).toBe('The admin key acts on a tenant named in the URL: /api/t/{slug}/v1/…');
      for (const slug of ['no-such-tenant', 'Bad_Slug']) {
        const unknown = await call(server, 'GET', `/api/t/${slug}/v1/me`, { key: ADMIN_KEY });
        expect(unknown.status).toBe(404);
        expect(unknown.body.code).toBe('tenant_not_found');
      }
    });
  });
});

describe('tenant from the Host subdomain (BASE_DOMAIN)', () => {
  let hosted: TestServer;
  let tenant: TestTenant;
  let neighbour: TestTenant;

  beforeAll(async () => {
    hosted = await startServer({ env: { BASE_DOMAIN: 'partnerline.test' } });
    tenant = await createTenant(hosted);
    neighbour = await createTenant(hosted);
  });
  afterAll(() => hosted.close());

  const get = (path: string, host: string, key?: string) =>
    rawGet(hosted, path, ['host', host, ...(key ? ['x-api-key', key] : [])]);

  it('resolves {slug}.BASE_DOMAIN', async () => {
    const me = await get('/api/v1/me', `${tenant.slug}.partnerline.test`, tenant.key);
    expect(me.status).toBe(200);
    expect(me.body.data.tenant.slug).toBe(tenant.slug);
    const withPort = await get('/api/v1/me', `${tenant.slug}.partnerline.test:8080`, tenant.key);
    expect(withPort.body.data.tenant.slug).toBe(tenant.slug);
    const admin = await get('/api/v1/me', `${tenant.slug}.partnerline.test`, ADMIN_KEY);
    expect(admin.status).toBe(200);
    expect(admin.body.data).toMatchObject({ id: 'admin', tenant: { slug: tenant.slug } });
  });

  it("refuses a key under another tenant's subdomain and asks for a key under a subdomain", async () => {
    const foreign = await get('/api/v1/me', `${neighbour.slug}.partnerline.test`, tenant.key);
    expect(foreign.status).toBe(401);
    expect(foreign.body.code).toBe('api_key_invalid');
    const noKey = await get('/api/v1/me', `${tenant.slug}.partnerline.test`);
    expect(noKey.status).toBe(401);
    expect(noKey.body.code).toBe('api_key_missing');
  });

  it('resolves a fully-qualified host name ending in a dot', async () => {
    const me = await get('/api/v1/me', `${tenant.slug}.partnerline.test.`, tenant.key);
    expect(me.status).toBe(200);
    expect(me.body.data.tenant.slug).toBe(tenant.slug);
    const withPort = await get('/api/v1/me', `${tenant.slug}.partnerline.test.:8080`, ADMIN_KEY);
    expect(withPort.status).toBe(200);
    expect(withPort.body.data.tenant.slug).toBe(tenant.slug);
    const noKey = await get('/api/v1/me', `${tenant.slug}.partnerline.test.`);
    expect(noKey.body.code).toBe('api_key_missing');
  });

  it.each([
    ['the admin key', ADMIN_KEY, 'The admin key acts on a tenant named in the URL: '],
    ['no key', undefined, 'Name the tenant: send its API key, or call '],
  ])('tenant_slug_missing with %s names both ways to name the tenant', async (_, key, start) => {
    const response = await get('/api/v1/me', 'partnerline.test', key);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('tenant_slug_missing');
    expect(response.body.detail).toBe(`${start}/api/t/{slug}/v1/… or {slug}.partnerline.test/api/v1/…`);
  });

  // '' is `.partnerline.test`: an empty first label names no tenant either.
  it.each(['www', 'api', 'app', ''])(
    "takes %s.<BASE_DOMAIN> for the deployment's own host: the key names the tenant",
    async (name) => {
      const me = await get('/api/v1/me', `${name}.partnerline.test`, tenant.key);
      expect(me.status).toBe(200);
      expect(me.body.data.tenant.slug).toBe(tenant.slug);
      const admin = await get('/api/v1/me', `${name}.partnerline.test`, ADMIN_KEY);
      expect(admin.body.code).toBe('tenant_slug_missing');
    },
  );

  it('takes the host of a request target in absolute form over the Host header', async () => {
    const me = await get(
      `http://${neighbour.slug}.partnerline.test/api/v1/me`,
      `${tenant.slug}.partnerline.test`,
      ADMIN_KEY,
    );
    expect(me.status).toBe(200);
    expect(me.body.data.tenant.slug).toBe(neighbour.slug);
    const unknown = await get(
      'http://nosuch.partnerline.test/api/v1/me',
      `${tenant.slug}.partnerline.test`,
      ADMIN_KEY,
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('tenant_not_found');
  });

  it('falls back to the key on other hosts', async () => {
    const plain = await get('/api/v1/me', 'api.example.com', tenant.key);
    expect(plain.body.data.tenant.slug).toBe(tenant.slug);
    const noSlug = await get('/api/v1/me', 'partnerline.test');
    expect(noSlug.status).toBe(400);
    expect(noSlug.body.code).toBe('tenant_slug_missing');
  });
});

describe('rate limits', () => {
  it('sends the rate-limit headers on authenticated responses', async () => {
    const key = await keyWith(['read']);
    const first = await call(server, 'GET', '/api/v1/partners', { key });
    const second = await call(server, 'GET', '/api/v1/api-keys', { key });
    expect(second.status).toBe(403);
    for (const [response, remaining] of [
      [first, 599],
      [second, 598],
    ] as const) {
      const reset = Number(response.headers.get('x-ratelimit-reset'));
      expect(response.headers.get('x-ratelimit-limit')).toBe('600');
      expect(response.headers.get('x-ratelimit-remaining')).toBe(String(remaining));
      // GCRA: each request moves the bucket's full-again time 60 s / 600 = 100 ms later.
      expect(reset).toBe(Math.ceil((clock.now().getTime() + (600 - remaining) * 100) / 1000));
      expect(response.headers.get('ratelimit-policy')).toBe('"default";q=600;w=60');
      expect(response.headers.get('ratelimit')).toMatch(new RegExp(`^"default";r=${remaining};t=\\d+$`));
    }
  });

  it('answers request 61 of a starter tenant with 429 rate_limited and Retry-After', async () => {
    const slug = uniqueSlug('starter');
    await call(server, 'POST', '/api/admin/tenants', {
      key: ADMIN_KEY,
      body: { slug, name: 'Starter', plan: 'starter' },
    });
    const key = (await createKey(server, ADMIN_KEY, { name: 'busy', scopes: ['read'] }, slug)).key;
    for (let i = 1; i <= 60; i++) {
      const response = await call(server, 'GET', '/api/v1/me', { key });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-ratelimit-remaining')).toBe(String(60 - i));
    }
    const limited = await call(server, 'GET', '/api/v1/me', { key });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(limited.body.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-limit')).toBe('60');
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');

    // Another key of the same tenant has its own budget.
    const fresh = (await createKey(server, ADMIN_KEY, { name: 'idle', scopes: ['read'] }, slug)).key;
    expect((await call(server, 'GET', '/api/v1/me', { key: fresh })).status).toBe(200);
  });
});
