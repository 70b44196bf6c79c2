import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuthFailureGuard } from '../../src/platform/auth/auth-failures.ts';
import { generateKey } from '../../src/platform/auth/key-format.ts';
import { KeyVerifier } from '../../src/platform/auth/key-verifier.ts';
import { TtlCache } from '../../src/platform/auth/ttl-cache.ts';
import { newId } from '../../src/platform/ids.ts';
import { call, createTenant, type TestTenant } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, TestClock, type TestServer } from '../helpers/server.ts';

// A frozen clock keeps every request of a test in one rate-limit window.
const clock = new TestClock(new Date('2026-05-01T12:00:10.000Z'));
let server: TestServer;
let tenant: TestTenant;
let other: TestTenant;

beforeAll(async () => {
  // TRUST_PROXY lets a test speak from any client address through X-Forwarded-For.
  server = await startServer({ clock, env: { TRUST_PROXY: 'true' } });
  tenant = await createTenant(server);
  other = await createTenant(server);
});
afterAll(() => server.close());
afterEach(() => {
  vi.restoreAllMocks();
});

type Body = Record<string, unknown>;

function request(
  target: TestServer,
  method: string,
  path: string,
  options: { key?: string; body?: unknown; from?: string; headers?: Record<string, string> } = {},
) {
  const headers = { ...options.headers, ...(options.from ? { 'x-forwarded-for': options.from } : {}) };
  return call(target, method, `/api/v1${path}`, {
    ...(options.key === undefined ? {} : { key: options.key }),
    ...(options.body === undefined ? {} : { body: options.body }),
    headers,
  });
}

async function createKey(body: Body, caller = tenant.key, target = server) {
  const response = await request(target, 'POST', '/api-keys', {
    key: caller,
    body: { name: 'k', scopes: ['read'], ...body },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.data as { id: string; key: string } & Body;
}

/** Changes one character of the key's random secret; the checksum no longer matches. */
function breakChecksum(key: string): string {
  const i = key.length - 10;
  return key.slice(0, i) + (key[i] === 'a' ? 'b' : 'a') + key.slice(i + 1);
}

const unknownKey = () => generateKey('plk', 'live', newId('key').slice('key_'.length));

describe("a key's own restrictions bound the keys it makes", () => {
  const MANAGER_SCOPES = ['api_keys:write', 'api_keys:read', 'partners:read'];
  const restricted = {
    allowedIps: ['203.0.113.0/24', '2001:db8::/32'],
    expiresAt: '2026-06-01T00:00:00.000Z',
    rateLimit: { limit: 1000, windowSeconds: 60 },
    quota: { limit: 1000, period: 'day' },
  };
  const from = '203.0.113.9';
  let manager: { id: string; key: string } & Body;
  const asManager = (method: string, path: string, body?: unknown) =>
    request(server, method, path, { key: manager.key, from, ...(body === undefined ? {} : { body }) });
  const refusedFields = (response: { status: number; body: any }) => {
    expect(response.status, JSON.stringify(response.body)).toBe(403);
    expect(response.body.code).toBe('key_restrictions_exceeded');
    return response.body.errors.map((error: { field: string; code: string }) => {
      expect(error.code).toBe('exceeds_caller');
      return error.field;
    });
  };

  beforeAll(async () => {
    manager = await createKey({ name: 'restricted manager', scopes: MANAGER_SCOPES, ...restricted });
  });

  it('a new key takes the restrictions it is not given from its maker', async () => {
    const made = await asManager('POST', '/api-keys', { name: 'twin', scopes: MANAGER_SCOPES });
    expect(made.status).toBe(201);
    expect(made.body.data).toMatchObject(restricted);
  });

  it('narrower ones are allowed: addresses inside its blocks, an earlier expiry, a slower rate, a smaller quota', async () => {
    const made = await asManager('POST', '/api-keys', {
      name: 'narrower',
      scopes: ['partners:read'],
      allowedIps: ['203.0.113.7', '203.0.113.128/25', '2001:db8:1::/48', '2001:db8::203.0.113.1'],
      expiresAt: '2026-05-20T00:00:00.000Z',
      rateLimit: { limit: 2, windowSeconds: 60 },
      quota: { limit: 5, period: 'day' },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
  });

  it.each([
    ['no IP restriction', { allowedIps: null }, ['allowedIps']],
    ['a wider block', { allowedIps: ['203.0.112.0/23'] }, ['allowedIps']],
    ['another family', { allowedIps: ['::ffff:203.0.113.7'] }, ['allowedIps']],
    ['no expiry', { expiresAt: null }, ['expiresAt']],
    ['a later expiry', { expiresAt: '2026-07-01T00:00:00.000Z' }, ['expiresAt']],
    ['no rate limit', { rateLimit: null }, ['rateLimit']],
    ['a larger burst', { rateLimit: { limit: 1001, windowSeconds: 120 } }, ['rateLimit']],
    ['a faster rate', { rateLimit: { limit: 1000, windowSeconds: 30 } }, ['rateLimit']],
    ['no quota', { quota: null }, ['quota']],
    ['a larger quota', { quota: { limit: 1001, period: 'day' } }, ['quota']],
    ['another period', { quota: { limit: 1000, period: 'month' } }, ['quota']],
    [
      'all of them',
      { allowedIps: null, expiresAt: null, rateLimit: null, quota: null },
      ['allowedIps', 'expiresAt', 'rateLimit', 'quota'],
    ],
  ])('a new key with %s: 403 key_restrictions_exceeded, nothing created', async (_, body, fields) => {
    const before = (await request(server, 'GET', '/api-keys?limit=100', { key: tenant.key })).body.pagination
      .total;
    const response = await asManager('POST', '/api-keys', {
      name: 'wider',
      scopes: ['partners:read'],
      ...body,
    });
    expect(refusedFields(response)).toEqual(fields);
    const after = (await request(server, 'GET', '/api-keys?limit=100', { key: tenant.key })).body.pagination
      .total;
    expect(after).toBe(before);
  });

  it('it cannot lift its own restrictions, but may narrow them', async () => {
    const lifted = await asManager('PATCH', `/api-keys/${manager.id}`, {
      allowedIps: null,
      expiresAt: null,
      rateLimit: null,
      quota: null,
    });
    expect(refusedFields(lifted)).toEqual(['allowedIps', 'expiresAt', 'rateLimit', 'quota']);
    expect((await asManager('GET', `/api-keys/${manager.id}`)).body.data).toMatchObject(restricted);
    const narrowed = await asManager('PATCH', `/api-keys/${manager.id}`, {
      quota: { limit: 999, period: 'day' },
    });
    expect(narrowed.status).toBe(200);
    expect(narrowed.body.data.quota).toEqual({ limit: 999, period: 'day' });
  });

  it('nor lift those of another key, nor rotate a key with fewer restrictions into a secret of its own', async () => {
    const open = await createKey({ name: 'unrestricted', scopes: ['partners:read'] });
    expect(refusedFields(await asManager('PATCH', `/api-keys/${open.id}`, { rateLimit: null }))).toEqual([
      'rateLimit',
    ]);
    // A change that touches no restriction is its to make.
    expect((await asManager('PATCH', `/api-keys/${open.id}`, { name: 'renamed' })).status).toBe(200);
    const rotated = await asManager('POST', `/api-keys/${open.id}/rotate`, {});
    expect(refusedFields(rotated)).toEqual(['allowedIps', 'expiresAt', 'rateLimit', 'quota']);
    expect(
      (await request(server, 'GET', `/api-keys/${open.id}`, { key: tenant.key })).body.data.replacedBy,
    ).toBeNull();
    // Its own key rotates fine: the successor has exactly its restrictions.
    const own = await asManager('POST', `/api-keys/${manager.id}/rotate`, { gracePeriodSeconds: 60 });
    expect(own.status, JSON.stringify(own.body)).toBe(201);
    manager = { ...manager, ...own.body.data };
  });
});

describe('allowedIps', () => {
  it.each([
    [['127.0.0.1'], 200],
    [['127.0.0.0/8'], 200],
    [['10.0.0.0/8', '127.0.0.1/32'], 200],
    [['0.0.0.0/0'], 200],
    [['::ffff:127.0.0.1'], 200],
    [['::1'], 403],
    [['10.0.0.0/8'], 403],
    [['127.0.0.2'], 403],
    [['2001:db8::/32'], 403],
  ])('%j from 127.0.0.1 → %i', async (allowedIps, status) => {
    const created = await createKey({ allowedIps });
    const response = await request(server, 'GET', '/partners', { key: created.key });
    expect(response.status).toBe(status);
    if (status === 403) {
      expect(response.body.code).toBe('ip_not_allowed');
      expect(response.body.detail).toContain('127.0.0.1');
      expect(response.body.detail).not.toContain('::ffff:');
    }
  });

  it.each([
    ['203.0.113.7', ['203.0.113.0/24'], 200],
    ['203.0.113.7', ['203.0.113.7'], 200],
    ['203.0.114.7', ['203.0.113.0/24'], 403],
    ['2001:db8::5', ['2001:db8::/32'], 200],
    ['2001:db8:ffff::1', ['2001:db8::/32'], 200],
    ['2001:db9::1', ['2001:db8::/32'], 403],
    ['2001:db8::5', ['203.0.113.0/24'], 403],
    ['203.0.113.7', ['2001:db8::/32'], 403],
    ['::ffff:203.0.113.7', ['203.0.113.0/24'], 200],
  ])('from %s with %j → %i (X-Forwarded-For behind a trusted proxy)', async (from, allowedIps, status) => {
    const created = await createKey({ allowedIps });
    const response = await request(server, 'GET', '/partners', { key: created.key, from });
    expect(response.status).toBe(status);
    if (status === 403) expect(response.body.code).toBe('ip_not_allowed');
  });

  it('records the client address as lastUsedIp', async () => {
    const created = await createKey({ allowedIps: ['198.51.100.0/24'] });
    expect((await request(server, 'GET', '/me', { key: created.key, from: '198.51.100.23' })).status).toBe(
      200,
    );
    await server.services.keyUsage.flush();
    const record = await request(server, 'GET', `/api-keys/${created.id}`, { key: tenant.key });
    expect(record.body.data.lastUsedIp).toBe('198.51.100.23');
  });

  it('records an IPv4 client on a dual-stack socket (::ffff:a.b.c.d) as a.b.c.d', async () => {
    const created = await createKey({ allowedIps: ['198.51.100.0/24'] });
    const me = await request(server, 'GET', '/me', { key: created.key, from: '::ffff:198.51.100.24' });
    expect(me.status).toBe(200);
    await server.services.keyUsage.flush();
    const record = await request(server, 'GET', `/api-keys/${created.id}`, { key: tenant.key });
    expect(record.body.data.lastUsedIp).toBe('198.51.100.24');
  });

  it('a narrowed list applies at once; null lifts it', async () => {
    const created = await createKey({});
    expect((await request(server, 'GET', '/me', { key: created.key })).status).toBe(200);
    const narrowed = await request(server, 'PATCH', `/api-keys/${created.id}`, {
      key: tenant.key,
      body: { allowedIps: ['192.0.2.0/24'] },
    });
    expect(narrowed.status).toBe(200);
    expect((await request(server, 'GET', '/me', { key: created.key })).body.code).toBe('ip_not_allowed');
    expect((await request(server, 'GET', '/me', { key: created.key, from: '192.0.2.1' })).status).toBe(200);
    await request(server, 'PATCH', `/api-keys/${created.id}`, {
      key: tenant.key,
      body: { allowedIps: null },
    });
    expect((await request(server, 'GET', '/me', { key: created.key })).status).toBe(200);
  });

  it('refuses an empty list (which would allow no address): 400, null allows every address', async () => {
    const created = await request(server, 'POST', '/api-keys', {
      key: tenant.key,
      body: { name: 'no ips', scopes: ['read'], allowedIps: [] },
    });
    expect(created.status).toBe(400);
    expect(created.body.errors).toEqual([
      { field: 'allowedIps', code: 'too_few', message: 'allowedIps must have at least 1 entry' },
    ]);
  });

  it('a nullable object with a wrong field: only that field is named, not "must be null"', async () => {
    const response = await request(server, 'POST', '/api-keys', {
      key: tenant.key,
      body: { name: 'bad limit', scopes: ['read'], rateLimit: { limit: 0, windowSeconds: 60 } },
    });
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string; code: string }) => [e.field, e.code])).toEqual([
      ['rateLimit.limit', 'out_of_range'],
    ]);
  });

  const badEntries = [
    'localhost',
    '10.0.0.0/33',
    '::1/129',
    '10.0.0.1/8/8',
    '10.0.0.256',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '2001:db8::g',
    ' 203.0.113.7 ',
    '203.0.113.7\n',
    '1.2.3.4/08',
    '2001:db8::/032',
    '10.0.0.0/+8',
    '10.0.0.0/8.0',
    '010.0.0.1',
    'fe80::1%eth0',
  ];
  it.each(badEntries)('refuses %j: 400 naming allowedIps.N on create and PATCH', async (entry) => {
    const allowedIps = ['127.0.0.1', entry];
    const created = await request(server, 'POST', '/api-keys', {
      key: tenant.key,
      body: { name: 'bad ips', scopes: ['read'], allowedIps },
    });
    expect(created.status).toBe(400);
    expect(created.body.code).toBe('validation_error');
    expect(created.body.errors.map((e: { field: string }) => e.field)).toEqual(['allowedIps.1']);
    const existing = await createKey({});
    const patched = await request(server, 'PATCH', `/api-keys/${existing.id}`, {
      key: tenant.key,
      body: { allowedIps },
    });
    expect(patched.status).toBe(400);
    expect(patched.body.errors.map((e: { field: string }) => e.field)).toEqual(['allowedIps.1']);
  });

  it.each([
    [' 203.0.113.7 ', 'invalid_format', '" 203.0.113.7 " has white space around it'],
    ['1.2.3.4/08', 'invalid_format', '"1.2.3.4/08" has a prefix length with a leading zero: write /8'],
    ['10.0.0.0/33', 'out_of_range', '"10.0.0.0/33" has a prefix length over 32, the most an IPv4 block has'],
    ['::/129', 'out_of_range', '"::/129" has a prefix length over 128, the most an IPv6 block has'],
    [
      'fe80::1%eth0',
      'invalid_format',
      '"fe80::1%eth0" has a zone index (%eth0), which names no client address',
    ],
    ['localhost', 'invalid_format', '"localhost" is not an IP address or CIDR block'],
  ])('%j: the error says why', async (entry, code, message) => {
    for (const [method, path] of [
      ['POST', '/api-keys'],
      ['PATCH', `/api-keys/${(await createKey({})).id}`],
    ] as const) {
      const response = await request(server, method, path, {
        key: tenant.key,
        body: { ...(method === 'POST' ? { name: 'bad ips', scopes: ['read'] } : {}), allowedIps: [entry] },
      });
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual([{ field: 'allowedIps.0', code, message }]);
    }
  });

  it('stores each entry in one form: IPv6 in lower case and compressed, each entry once', async () => {
    const sent = [
      '2001:DB8:0:0:0:0:0:1',
      '2001:0db8::/32',
      '::FFFF:7f00:1',
      '203.0.113.0/24',
      '2001:db8::1',
      '0.0.0.0/0',
      '::/0',
    ];
    const stored = [
      '2001:db8::1',
      '2001:db8::/32',
      '::ffff:127.0.0.1',
      '203.0.113.0/24',
      '0.0.0.0/0',
      '::/0',
    ];
    const created = await createKey({ allowedIps: sent });
    expect(created.allowedIps).toEqual(stored);
    const fetched = await request(server, 'GET', `/api-keys/${created.id}`, { key: tenant.key });
    expect(fetched.body.data.allowedIps).toEqual(stored);
    // The stored form admits what the sent one says: ::ffff:127.0.0.1 is this client.
    expect((await request(server, 'GET', '/me', { key: created.key as string })).status).toBe(200);

    const other = await createKey({});
    const patched = await request(server, 'PATCH', `/api-keys/${other.id}`, {
      key: tenant.key,
      body: { allowedIps: ['2001:DB8::A/64', '2001:db8:0::a/64'] },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.data.allowedIps).toEqual(['2001:db8::a/64']);
    // Sending the stored list in another spelling changes nothing.
    const again = await request(server, 'PATCH', `/api-keys/${other.id}`, {
      key: tenant.key,
      body: { allowedIps: ['2001:0DB8:0000::000A/64'] },
    });
    expect(again.status).toBe(200);
    expect(patched.headers.get('etag')).toEqual(expect.any(String));
    expect(again.headers.get('etag')).toBe(patched.headers.get('etag'));
  });

  it('a list stored before entries were checked strictly keeps admitting what it did', async () => {
    const created = await createKey({ allowedIps: ['192.0.2.1'] });
    // As earlier versions stored what they were sent; the key was never used, so never cached.
    await server.services.db
      .updateTable('apiKeys')
      .set({ allowedIps: [' 127.0.0.1 ', '10.0.0.0/08', 'fe80::1%eth0'] })
      .where('id', '=', created.id)
      .execute();
    for (const [from, status] of [
      ['127.0.0.1', 200],
      ['10.1.2.3', 200],
      ['fe80::1', 200],
      ['11.0.0.1', 403],
    ] as const) {
      expect((await request(server, 'GET', '/me', { key: created.key, from })).status, from).toBe(status);
    }
  });

  it('names every bad entry at once', async () => {
    const response = await request(server, 'POST', '/api-keys', {
      key: tenant.key,
      body: { name: 'bad ips', scopes: ['read'], allowedIps: ['nope', '127.0.0.1', '1.2.3.4/40'] },
    });
    expect(response.body.errors.map((e: { field: string }) => e.field)).toEqual([
      'allowedIps.0',
      'allowedIps.2',
    ]);
  });

  it('ip_not_allowed is not counted as a failed authentication', async () => {
    const created = await createKey({ allowedIps: ['10.0.0.0/8'] });
    for (let i = 0; i < 35; i++) {
      const response = await request(server, 'GET', '/me', { key: created.key, from: '192.0.2.77' });
      expect(response.status).toBe(403);
    }
    expect((await request(server, 'GET', '/me', { key: tenant.key, from: '192.0.2.77' })).status).toBe(200);
  });
});

describe('checksum', () => {
  it('a key whose checksum does not match is refused without a database lookup and never cached', async () => {
    const load = vi.spyOn(KeyVerifier.prototype as unknown as { load: () => unknown }, 'load');
    const cacheWrite = vi.spyOn(TtlCache.prototype, 'set');
    for (const key of [
      breakChecksum(tenant.key),
      `${tenant.key.slice(0, -1)}${tenant.key.endsWith('A') ? 'B' : 'A'}`,
    ]) {
      const response = await request(server, 'GET', '/partners', { key });
      expect(response.status).toBe(401);
      expect(response.body.code).toBe('api_key_invalid');
    }
    expect(load).not.toHaveBeenCalled();
    expect(cacheWrite).not.toHaveBeenCalled();

    // The control: a well-formed key is looked up once, then answered from the cache.
    const unknown = unknownKey();
    for (let i = 0; i < 2; i++) {
      expect((await request(server, 'GET', '/partners', { key: unknown })).body.code).toBe('api_key_invalid');
    }
    expect(load).toHaveBeenCalledTimes(1);
    expect(cacheWrite).toHaveBeenCalledTimes(1);
  });

  it('a correct checksum on a guessed secret does not open a real key', async () => {
    const id = tenant.keyId.slice('key_'.length);
    const forged = generateKey('plk', 'live', id);
    const response = await request(server, 'GET', '/me', { key: forged });
    expect(response.status).toBe(401);
    expect(response.body.code).toBe('api_key_invalid');
  });
});

describe('brute force: failed authentications per IP (AUTH_FAILURE_LIMIT=5)', () => {
  const guardClock = new TestClock(new Date('2026-05-01T12:00:10.000Z'));
  let guarded: TestServer;
  let owner: TestTenant;

  beforeAll(async () => {
    guarded = await startServer({ clock: guardClock, env: { AUTH_FAILURE_LIMIT: '5', TRUST_PROXY: 'true' } });
    owner = await createTenant(guarded);
  });
  afterAll(() => guarded.close());

  const me = (from: string, key?: string) =>
    request(guarded, 'GET', '/me', { from, ...(key ? { key } : {}) });

  it('the 6th failure within a minute blocks the IP, valid key or not, until the window ends; logged', async () => {
    const warn = vi.spyOn(guarded.services.log, 'warn');
    const from = '203.0.113.10';
    const failures = [unknownKey(), breakChecksum(owner.key), 'garbage', unknownKey(), unknownKey()];
    for (const [i, key] of failures.entries()) {
      const response = await me(from, key);
      expect(response.status).toBe(401);
      // A refused key is no authentication: the request takes from its IP's budget, and says so.
      expect(response.headers.get('ratelimit-policy')).toBe('"unauthenticated";q=60;w=60');
      expect(response.headers.get('x-ratelimit-remaining')).toBe(String(59 - i));
    }
    const blocked = await me(from, owner.key);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(blocked.body.code).toBe('rate_limited');
    expect(Number(blocked.headers.get('retry-after'))).toBe(60);
    // The guard's refusal describes the guard's own window.
    expect(blocked.headers.get('x-ratelimit-limit')).toBe('5');
    expect(blocked.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(blocked.headers.get('x-ratelimit-reset')).toBe(
      String(Date.parse('2026-05-01T12:01:10.000Z') / 1000),
    );
    expect(blocked.headers.get('ratelimit-policy')).toBe('"auth-failures";q=5;w=60');
    expect(blocked.headers.get('ratelimit')).toBe('"auth-failures";r=0;t=60');
    // Every path of the tenant API, the admin API too.
    const admin = await call(guarded, 'GET', '/api/admin/tenants', {
      key: ADMIN_KEY,
      headers: { 'x-forwarded-for': from },
    });
    expect(admin.status).toBe(429);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toMatchObject({ ip: from, failures: 5 });

    // Other addresses are not affected.
    expect((await me('203.0.113.11', owner.key)).status).toBe(200);

    guardClock.advance(30_000);
    const later = await me(from, owner.key);
    expect(later.status).toBe(429);
    expect(Number(later.headers.get('retry-after'))).toBe(30);
    guardClock.advance(30_000);
    expect((await me(from, owner.key)).status).toBe(200);
  });

  it('missing keys do not count; failures at the admin API do', async () => {
    const from = '203.0.113.20';
    for (let i = 0; i < 10; i++) {
      const response = await request(guarded, 'GET', `/partners`, { from, headers: {} });
      expect(response.status).toBe(400);
      const missing = await call(guarded, 'GET', `/api/t/${owner.slug}/v1/partners`, {
        headers: { 'x-forwarded-for': from },
      });
      expect(missing.body.code).toBe('api_key_missing');
    }
    expect((await me(from, owner.key)).status).toBe(200);

    for (let i = 0; i < 5; i++) {
      const response = await call(guarded, 'GET', '/api/admin/tenants', {
        key: 'not-the-admin-key-0123456789abcdefghijkl',
        headers: { 'x-forwarded-for': from },
      });
      expect(response.status).toBe(401);
    }
    expect((await me(from, owner.key)).status).toBe(429);
  });

  it('revoked, expired and inactive keys count as failures', async () => {
    const from = '203.0.113.30';
    const revoked = await createKey({}, owner.key, guarded);
    await request(guarded, 'DELETE', `/api-keys/${revoked.id}`, { key: owner.key });
    const inactive = await createKey({}, owner.key, guarded);
    await request(guarded, 'POST', `/api-keys/${inactive.id}/deactivate`, { key: owner.key });
    for (const key of [revoked.key, inactive.key, revoked.key, inactive.key, revoked.key]) {
      expect((await me(from, key)).status).toBe(401);
    }
    expect((await me(from, owner.key)).status).toBe(429);
  });

  it('forgets the addresses whose window has ended once requests come again, failing or not', async () => {
    const { authFailures } = guarded.services;
    for (let i = 0; i < 50; i++) expect((await me(`198.18.0.${i}`, unknownKey())).status).toBe(401);
    expect(authFailures.size).toBeGreaterThanOrEqual(50);
    guardClock.advance(61_000);
    // A request with a valid key from an address that never failed: the ended windows go.
    expect((await me('203.0.113.99', owner.key)).status).toBe(200);
    expect(authFailures.size).toBe(0);
  });
});

describe('the failed-authentication guard under a flood of addresses', () => {
  it('tracks at most 100,000 addresses; the window that began first makes room', () => {
    const guard = new AuthFailureGuard(2, pino({ level: 'silent' }));
    const start = Date.parse('2026-05-01T12:00:00.000Z');
    guard.recordFailure('first', start);
    guard.recordFailure('first', start);
    expect(() => guard.check('first', start + 1)).toThrow(/Too many failed authentications/);
    for (let i = 0; i < 100_000; i++)
      guard.recordFailure(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, start + 2);
    expect(guard.size).toBe(100_000);
    expect(() => guard.check('first', start + 3)).not.toThrow();
  });
});

describe('AUTH_FAILURE_LIMIT', () => {
  it('defaults to 30 per minute', async () => {
    const from = '198.51.100.30';
    for (let i = 0; i < 30; i++) {
      expect((await request(server, 'GET', '/me', { key: unknownKey(), from })).status).toBe(401);
    }
    expect((await request(server, 'GET', '/me', { key: tenant.key, from })).status).toBe(429);
  });

  it('0 disables the guard', async () => {
    const open = await startServer({ env: { AUTH_FAILURE_LIMIT: '0' } });
    try {
      const owner = await createTenant(open);
      for (let i = 0; i < 40; i++) {
        expect((await request(open, 'GET', '/me', { key: unknownKey() })).status).toBe(401);
      }
      expect((await request(open, 'GET', '/me', { key: owner.key })).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe('rate-limit override', () => {
  it('rateLimit {limit: 3, windowSeconds: 60}: the 4th request is 429 under the key policy', async () => {
    const created = await createKey({ rateLimit: { limit: 3, windowSeconds: 60 } });
    const me = await request(server, 'GET', '/me', { key: created.key });
    expect(me.body.data.rateLimit).toEqual({ limit: 3, windowSeconds: 60 });
    const nowSeconds = clock.now().getTime() / 1000;
    for (const remaining of [1, 0]) {
      const response = await request(server, 'GET', '/partners', { key: created.key });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-ratelimit-limit')).toBe('3');
      expect(response.headers.get('x-ratelimit-remaining')).toBe(String(remaining));
      const reset = Number(response.headers.get('x-ratelimit-reset'));
      expect(reset).toBeGreaterThan(nowSeconds);
      expect(reset).toBeLessThanOrEqual(nowSeconds + 60);
      expect(response.headers.get('ratelimit-policy')).toBe('"key";q=3;w=60');
      expect(response.headers.get('ratelimit')).toMatch(new RegExp(`^"key";r=${remaining};t=\\d+$`));
    }
    const limited = await request(server, 'GET', '/partners', { key: created.key });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(limited.body.code).toBe('rate_limited');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.headers.get('x-ratelimit-limit')).toBe('3');
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(limited.headers.get('ratelimit-policy')).toBe('"key";q=3;w=60');

    // The tenant's other keys keep the plan's budget.
    const sibling = await request(server, 'GET', '/partners', { key: tenant.key });
    expect(sibling.status).toBe(200);
    expect(sibling.headers.get('ratelimit-policy')).toBe('"default";q=600;w=60');

    // Raising the override lifts the block at once.
    await request(server, 'PATCH', `/api-keys/${created.id}`, {
      key: tenant.key,
      body: { rateLimit: { limit: 10, windowSeconds: 60 } },
    });
    const raised = await request(server, 'GET', '/partners', { key: created.key });
    expect(raised.status).toBe(200);
    expect(raised.headers.get('x-ratelimit-limit')).toBe('10');
  });
});

describe('HEAD requests', () => {
  it('pass the gate of their GET route: key, scope, and the same rate-limit budget', async () => {
    const partner = await request(server, 'POST', '/partners', {
      key: tenant.key,
      body: { email: `head-${Date.now()}@example.com`, name: 'Head' },
    });
    expect(partner.status).toBe(201);
    const path = `/partners/${partner.body.data.id}`;

    // No key on /api/v1 names no tenant (400 tenant_slug_missing, as for GET); on the twin, 401.
    expect((await request(server, 'HEAD', path)).status).toBe(400);
    expect((await call(server, 'HEAD', `/api/t/${tenant.slug}/v1${path}`)).status).toBe(401);
    expect((await request(server, 'HEAD', path, { key: unknownKey() })).status).toBe(401);
    const noScope = await createKey({ scopes: ['api_keys:read'] });
    expect((await request(server, 'HEAD', path, { key: noScope.key })).status).toBe(403);

    const limited = await createKey({ rateLimit: { limit: 3, windowSeconds: 60 } });
    const head = await request(server, 'HEAD', path, { key: limited.key });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-ratelimit-remaining')).toBe('2');
    expect(head.headers.get('ratelimit-policy')).toBe('"key";q=3;w=60');
    expect(
      (await request(server, 'GET', path, { key: limited.key })).headers.get('x-ratelimit-remaining'),
    ).toBe('1');
    // The tenant's URL twin takes from the same budget too.
    const twin = await call(server, 'HEAD', `/api/t/${tenant.slug}/v1${path}`, { key: limited.key });
    expect(twin.status).toBe(200);
    expect(twin.headers.get('x-ratelimit-remaining')).toBe('0');
    expect((await request(server, 'HEAD', path, { key: limited.key })).status).toBe(429);
  });
});

describe('scopes of the key-management routes', () => {
  const routes: [string, string, (id: string) => string, Body | undefined][] = [
    ['list', 'GET', () => '/api-keys', undefined],
    ['get', 'GET', (id) => `/api-keys/${id}`, undefined],
    ['update', 'PATCH', (id) => `/api-keys/${id}`, { name: 'renamed' }],
    ['deactivate', 'POST', (id) => `/api-keys/${id}/deactivate`, undefined],
    ['activate', 'POST', (id) => `/api-keys/${id}/activate`, undefined],
    ['rotate', 'POST', (id) => `/api-keys/${id}/rotate`, { gracePeriodSeconds: 60 }],
    ['revoke', 'DELETE', (id) => `/api-keys/${id}`, undefined],
  ];
  const needs = (route: string) => (['list', 'get'].includes(route) ? 'api_keys:read' : 'api_keys:write');

  it.each(['read', 'write', 'partners:write'])('a %s key may use none of them', async (scope) => {
    const caller = await createKey({ scopes: [scope] });
    const target = await createKey({ name: 'target' });
    for (const [route, method, path, body] of routes) {
      const response = await request(server, method, path(target.id), { key: caller.key, body });
      expect(response.status, route).toBe(403);
      expect(response.body).toMatchObject({ code: 'insufficient_scope', requiredScope: needs(route) });
    }
    expect((await request(server, 'GET', '/me', { key: target.key })).status).toBe(200);
  });

  it('api_keys:read reads but does not change; api_keys:write changes but does not read', async () => {
    const reader = await createKey({ scopes: ['api_keys:read'] });
    const writer = await createKey({ scopes: ['api_keys:write', 'read'] });
    for (const [route, method, path, body] of routes) {
      const target = await createKey({ name: `target ${route}` });
      if (route === 'activate')
        await request(server, 'POST', `/api-keys/${target.id}/deactivate`, { key: tenant.key });
      const byReader = await request(server, method, path(target.id), { key: reader.key, body });
      const byWriter = await request(server, method, path(target.id), { key: writer.key, body });
      if (needs(route) === 'api_keys:read') {
        expect(byReader.status, route).toBe(200);
        expect(byWriter.status, route).toBe(403);
      } else {
        expect(byReader.status, route).toBe(403);
        expect(byWriter.status, route).toBe(route === 'rotate' ? 201 : 200);
      }
    }
  });

  it("another tenant's key: 404 on every route, and it keeps working unchanged", async () => {
    const foreign = await createKey({ name: 'foreign' }, other.key);
    for (const [route, method, path, body] of routes.slice(1)) {
      const response = await request(server, method, path(foreign.id), { key: tenant.key, body });
      expect(response.status, route).toBe(404);
      expect(response.body.code).toBe('not_found');
      const viaSlug = await call(server, method, `/api/t/${tenant.slug}/v1${path(foreign.id)}`, {
        key: ADMIN_KEY,
        ...(body ? { body } : {}),
      });
      expect(viaSlug.status, route).toBe(404);
    }
    const record = await request(server, 'GET', `/api-keys/${foreign.id}`, { key: other.key });
    expect(record.body.data).toMatchObject({ name: 'foreign', status: 'active', replacedBy: null });
    expect((await request(server, 'GET', '/me', { key: foreign.key })).status).toBe(200);
  });

  it.each([
    ['PATCH scopes beyond its own', 'patch'],
    ['PATCH its own scopes upwards', 'self'],
    ['rotate a key with more scopes', 'rotate'],
  ])('a key cannot %s: 403 insufficient_scope, nothing changes', async (_, attempt) => {
    const caller = await createKey({ scopes: ['api_keys:write', 'api_keys:read', 'partners:read'] });
    const target = await createKey({
      name: 'strong',
      scopes: attempt === 'rotate' ? ['admin'] : ['partners:read'],
    });
    const id = attempt === 'self' ? caller.id : target.id;
    const response =
      attempt === 'rotate'
        ? await request(server, 'POST', `/api-keys/${id}/rotate`, { key: caller.key })
        : await request(server, 'PATCH', `/api-keys/${id}`, {
            key: caller.key,
            body: { scopes: ['partners:read', attempt === 'self' ? 'admin' : 'partners:write'] },
          });
    expect(response.status).toBe(403);
    expect(response.body.code).toBe('insufficient_scope');
    expect(response.body).not.toHaveProperty('data');
    const record = await request(server, 'GET', `/api-keys/${id}`, { key: tenant.key });
    expect(record.body.data.version).toBeUndefined();
    expect(record.headers.get('etag')).toBe('"v1"');
    expect(record.body.data.replacedBy).toBeNull();
  });

  it('a key may narrow the scopes of a key within its own', async () => {
    const caller = await createKey({
      scopes: ['api_keys:write', 'api_keys:read', 'partners:read', 'customers:read'],
    });
    const target = await createKey({ scopes: ['partners:read', 'customers:read'] });
    const response = await request(server, 'PATCH', `/api-keys/${target.id}`, {
      key: caller.key,
      body: { scopes: ['partners:read'] },
    });
    expect(response.status).toBe(200);
    expect(response.body.data.scopes).toEqual(['partners:read']);
  });

  it('a key cannot change, deactivate or revoke a key holding scopes it lacks', async () => {
    const caller = await createKey({ scopes: ['api_keys:write', 'api_keys:read', 'partners:read'] });
    const admin = await createKey({ name: 'tenant admin', scopes: ['admin'] });
    for (const [method, path, body] of [
      ['PATCH', `/api-keys/${admin.id}`, { scopes: ['partners:read'] }],
      ['PATCH', `/api-keys/${admin.id}`, { name: 'renamed', rateLimit: { limit: 1, windowSeconds: 86_400 } }],
      ['POST', `/api-keys/${admin.id}/deactivate`, undefined],
      ['DELETE', `/api-keys/${admin.id}`, undefined],
    ] as const) {
      const response = await request(server, method, path, { key: caller.key, ...(body ? { body } : {}) });
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.body.code).toBe('insufficient_scope');
      expect(response.body.missingScopes).toContain('partners:write');
    }
    const after = await request(server, 'GET', `/api-keys/${admin.id}`, { key: tenant.key });
    expect(after.body.data).toMatchObject({
      name: 'tenant admin',
      scopes: ['admin'],
      status: 'active',
      rateLimit: null,
    });
    expect((await request(server, 'GET', '/me', { key: admin.key })).status).toBe(200);
  });
});

describe('secrets', () => {
  it('a rotated key is shown once: not in GET, lists or an idempotent replay', async () => {
    const old = await createKey({ name: 'replayed' });
    const headers = { 'idempotency-key': `rotate-${old.id}` };
    const first = await request(server, 'POST', `/api-keys/${old.id}/rotate`, { key: tenant.key, headers });
    expect(first.status).toBe(201);
    const fresh = first.body.data;
    const secret = fresh.key.split('_').at(-1);
    const replay = await request(server, 'POST', `/api-keys/${old.id}/rotate`, { key: tenant.key, headers });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body.data.id).toBe(fresh.id);
    expect(replay.body.data).not.toHaveProperty('key');

    const list = await request(server, 'GET', '/api-keys?q=replayed', { key: tenant.key });
    expect(list.body.data).toHaveLength(2);
    for (const response of [
      replay,
      list,
      await request(server, 'GET', `/api-keys/${fresh.id}`, { key: tenant.key }),
    ]) {
      const text = JSON.stringify(response.body);
      expect(text).not.toContain(secret);
      expect(text).not.toContain(old.key.split('_').at(-1));
    }
  });

  it('revoke and deactivate take effect at once with a warm cache', async () => {
    const revoked = await createKey({});
    const paused = await createKey({});
    for (const key of [revoked.key, paused.key]) {
      expect((await request(server, 'GET', '/me', { key })).status).toBe(200);
    }
    await request(server, 'DELETE', `/api-keys/${revoked.id}`, { key: tenant.key });
    await request(server, 'POST', `/api-keys/${paused.id}/deactivate`, { key: tenant.key });
    expect((await request(server, 'GET', '/me', { key: revoked.key })).body.code).toBe('api_key_revoked');
    expect((await request(server, 'GET', '/me', { key: paused.key })).body.code).toBe('api_key_inactive');
  });
});

describe('the key cache', () => {
  it('drops expired entries as it is used, before they are read again', () => {
    let now = 0;
    const cache = new TtlCache<string, number>(60_000, 50_000, () => now);
    for (let i = 0; i < 1_000; i++) cache.set(`unused ${i}`, i);
    now = 30_000;
    cache.set('recent', 1);
    expect(cache.size).toBe(1_001);
    now = 61_000;
    // Any use a minute on: the thousand expired entries go, the one still live stays.
    expect(cache.get('recent')).toBe(1);
    expect(cache.size).toBe(1);
  });
});
