import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../src/platform/auth/key-format.ts';
import { newId } from '../../src/platform/ids.ts';
import { type ApiResponse, call, createKey, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../helpers/server.ts';

const PATH = '/api/v1/api-keys/revoke-leaked';
const clock = new TestClock(new Date('2026-05-01T12:00:10.000Z'));
let server: TestServer;
let a: TestTenant;
let b: TestTenant;

beforeAll(async () => {
  // Behind a trusted proxy each test reports from its own address, so the per-IP limit (which
  // may live in a Redis shared with other runs) never carries over between tests.
  server = await startServer({ clock, env: { TRUST_PROXY: 'true' } });
  a = await createTenant(server);
  b = await createTenant(server);
});
afterAll(() => server.close());

/** A documentation-range address no other test or run uses. */
const freshIp = () => `198.18.${randomInt(256)}.${randomInt(1, 255)}`;

function report(body: unknown, from: string, headers: Record<string, string> = {}) {
  return call(server, 'POST', PATH, {
    body,
    headers: { 'x-forwarded-for': from, 'user-agent': 'GitHub-Secret-Scanning/1.0', ...headers },
  });
}

const unknownKey = () => generateKey('plk', 'live', newId('key').slice('key_'.length));
const me = (key: string) => call(server, 'GET', '/api/v1/me', { key });

async function auditOf(tenantId: string, keyId: string) {
  return server.services.db
    .selectFrom('auditLog')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('resourceId', '=', keyId)
    .orderBy('id')
    .execute();
}

describe('POST /api/v1/api-keys/revoke-leaked', () => {
  it("needs no key; revokes valid keys of any tenant at once, each audited in its key's tenant", async () => {
    const leakedA = await createKey(server, a.key, { name: 'leaked a', scopes: ['read'] });
    const leakedB = await createKey(server, b.key, { name: 'leaked b', scopes: ['write'] });
    for (const key of [leakedA.key, leakedB.key]) expect((await me(key)).status).toBe(200);

    const from = freshIp();
    const response = await report({ keys: [leakedA.key, leakedB.key] }, from);
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ data: { received: 2 } });

    for (const key of [leakedA.key, leakedB.key]) {
      const refused = await me(key);
      expect(refused.status).toBe(401);
      expect(refused.body.code).toBe('api_key_revoked');
    }
    for (const [tenant, leaked] of [
      [a, leakedA],
      [b, leakedB],
    ] as const) {
      const entries = await auditOf(tenant.id, leaked.id);
      expect(entries.map((e) => e.action)).toEqual(['api_key.created', 'api_key.revoked_leaked']);
      expect(entries[1]).toMatchObject({
        actorType: 'system',
        actorId: null,
        resourceType: 'api_key',
        ip: from,
        userAgent: 'GitHub-Secret-Scanning/1.0',
        requestId: response.headers.get('x-request-id'),
      });
      expect(entries[1]?.changes).toMatchObject({
        status: { before: 'active', after: 'revoked' },
        revokedAt: { before: null, after: clock.now().toISOString() },
      });
      expect(JSON.stringify(entries)).not.toContain(leaked.key.split('_').at(-1));
      // The tenant sees it through its own audit log, the other tenant does not.
      const log = await call(server, 'GET', `/api/v1/audit-log?action=api_key.revoked_leaked`, {
        key: tenant.key,
      });
      expect(log.body.data.map((e: { resourceId: string }) => e.resourceId)).toEqual([leaked.id]);
    }
    const record = await call(server, 'GET', `/api/v1/api-keys/${leakedA.id}`, { key: a.key });
    expect(record.body.data).toMatchObject({ status: 'revoked', revokedAt: clock.now().toISOString() });
  });

  it('answers the same for unknown, malformed, forged and already revoked keys, and revokes nothing else', async () => {
    const valid = await createKey(server, a.key, { name: 'leaked', scopes: ['read'] });
    const bystander = await createKey(server, a.key, { name: 'bystander', scopes: ['read'] });
    const revoked = await createKey(server, a.key, { name: 'revoked', scopes: ['read'] });
    await call(server, 'DELETE', `/api/v1/api-keys/${revoked.id}`, { key: a.key });
    const forged = generateKey('plk', 'live', bystander.id.slice('key_'.length));
    const broken = `${bystander.key.slice(0, -1)}${bystander.key.endsWith('A') ? 'B' : 'A'}`;

    const from = freshIp();
    const answers = [];
    for (const keys of [
      [valid.key],
      [unknownKey()],
      ['not a key at all'],
      [forged],
      [broken],
      [revoked.key],
      [bystander.key.replace(/^plk_/, 'sk_')],
    ]) {
      const response = await report({ keys }, from);
      answers.push({
        status: response.status,
        body: response.body,
        contentType: response.headers.get('content-type'),
      });
    }
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(answers[0]).toMatchObject({ status: 202, body: { data: { received: 1 } } });

    expect((await me(valid.key)).body.code).toBe('api_key_revoked');
    expect((await me(bystander.key)).status).toBe(200);
    // An already revoked key gets no second entry.
    expect((await auditOf(a.id, revoked.id)).map((e) => e.action)).toEqual([
      'api_key.created',
      'api_key.revoked',
    ]);
    expect(await auditOf(a.id, bystander.id)).toHaveLength(1);
  });

  it('revokes inactive and expired keys too, and a key listed twice once', async () => {
    const inactive = await createKey(server, a.key, { name: 'inactive', scopes: ['read'] });
    await call(server, 'POST', `/api/v1/api-keys/${inactive.id}/deactivate`, { key: a.key });
    const expiring = await call(server, 'POST', '/api/v1/api-keys', {
      key: a.key,
      body: {
        name: 'expiring',
        scopes: ['read'],
        expiresAt: new Date(clock.now().getTime() + 1_000).toISOString(),
      },
    });
    clock.advance(2_000);
    const expired = expiring.body.data;
    const response = await report({ keys: [inactive.key, expired.key, inactive.key, 'junk'] }, freshIp());
    expect(response.body).toEqual({ data: { received: 4 } });
    for (const key of [inactive.key, expired.key]) expect((await me(key)).body.code).toBe('api_key_revoked');
    expect((await auditOf(a.id, inactive.id)).map((e) => e.action)).toEqual([
      'api_key.created',
      'api_key.deactivated',
      'api_key.revoked_leaked',
    ]);
  });

  it('ignores an API key header', async () => {
    const leaked = await createKey(server, a.key, { name: 'leaked with header', scopes: ['read'] });
    const response = await report({ keys: [leaked.key] }, freshIp(), { 'x-api-key': 'plk_live_nonsense' });
    expect(response.status).toBe(202);
    expect((await me(leaked.key)).body.code).toBe('api_key_revoked');
  });

  it('more than 10 reports a minute from one IP: 429; other IPs are unaffected', async () => {
    const from = freshIp();
    for (let i = 0; i < 10; i++) expect((await report({ keys: [unknownKey()] }, from)).status).toBe(202);
    const leaked = await createKey(server, a.key, { name: 'reported too late', scopes: ['read'] });
    const limited = await report({ keys: [leaked.key] }, from);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(limited.body.code).toBe('rate_limited');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // The refused report revoked nothing.
    expect((await me(leaked.key)).status).toBe(200);

    expect((await report({ keys: [leaked.key] }, freshIp())).status).toBe(202);
    expect((await me(leaked.key)).body.code).toBe('api_key_revoked');
  });

  it('counts malformed reports too: the 11th a minute from one IP is 429, and each answer has the headers', async () => {
    const from = freshIp();
    const malformed = [
      () => report({}, from),
      () => report({ keys: [] }, from),
      () =>
        call(server, 'POST', PATH, {
          raw: '{"keys": [',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
        }),
    ];
    for (let i = 0; i < 10; i++) {
      const response = await (malformed[i % malformed.length] as () => Promise<ApiResponse>)();
      expect(response.status).toBe(400);
      expect(response.headers.get('ratelimit-policy')).toBe('"leak-reports";q=10;w=60');
      expect(response.headers.get('x-ratelimit-remaining')).toBe(String(9 - i));
    }
    const limited = await report({}, from);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    // A valid report from the same IP is limited alike.
    expect((await report({ keys: [unknownKey()] }, from)).status).toBe(429);
  });

  it.each([
    ['no body fields', {}, 'keys'],
    ['an empty list', { keys: [] }, 'keys'],
    ['keys as a string', { keys: 'plk_live_x' }, 'keys'],
    ['a non-string entry', { keys: [42] }, 'keys.0'],
    ['an empty entry', { keys: [''] }, 'keys.0'],
    ['an entry over 200 characters', { keys: ['k'.repeat(201)] }, 'keys.0'],
    ['more than 100 keys', { keys: Array.from({ length: 101 }, () => 'k') }, 'keys'],
    ['an unknown field', { keys: ['k'], source: 'github' }, 'source'],
  ])('refuses %s: 400 naming the field', async (_, body, field) => {
    const response = await report(body, freshIp());
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('malformed JSON and other content types', async () => {
    const from = freshIp();
    const malformed = await call(server, 'POST', PATH, {
      raw: '{"keys": [',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe('invalid_json');
    const text = await call(server, 'POST', PATH, {
      raw: 'plk_live_x',
      headers: { 'content-type': 'text/plain', 'x-forwarded-for': from },
    });
    expect(text.status).toBe(415);
  });
});
