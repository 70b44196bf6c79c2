import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertApiKey } from '../../src/platform/api-keys/service.ts';
import { hashKey } from '../../src/platform/auth/key-format.ts';
import { call, createTenant, type TestTenant, uniqueSlug } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, TestClock, type TestServer } from '../helpers/server.ts';

const clock = new TestClock(new Date('2026-03-01T10:00:00.000Z'));
const USER_AGENT = 'audit-suite/1.0';
let server: TestServer;
let tenant: TestTenant;
let other: TestTenant;

/** Every secret this file has seen; none may ever appear in the audit log. */
const secrets: string[] = [];
function remember(key: string): string {
  secrets.push(key, key.split('_').at(-1) as string, hashKey(key));
  return key;
}

beforeAll(async () => {
  server = await startServer({ clock });
  tenant = await createTenant(server);
  other = await createTenant(server);
  remember(tenant.key);
  remember(other.key);
});
afterAll(() => server.close());

type Body = Record<string, unknown>;

/** `/api/v1{path}` with the tenant's admin key (or `key`), sent with a known User-Agent. */
function api(method: string, path: string, body?: unknown, key = tenant.key) {
  return call(server, method, `/api/v1${path}`, {
    key,
    headers: { 'user-agent': USER_AGENT },
    ...(body === undefined ? {} : { body }),
  });
}

async function createKey(body: Body, key = tenant.key) {
  const response = await api('POST', '/api-keys', { name: 'k', scopes: ['read'], ...body }, key);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  remember(response.body.data.key);
  return response;
}

/** The tenant's audit entries matching `query`, newest first, through the API. */
async function audit(query = '', key = tenant.key): Promise<Body[]> {
  const response = await api('GET', `/audit-log?limit=100&${query}`, undefined, key);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.data;
}

/** What every entry made by a request must carry. */
const origin = (response: { headers: Headers }, actorId: string | null = tenant.keyId) => ({
  actorType: actorId ? 'api_key' : 'admin',
  actorId,
  ip: '127.0.0.1',
  userAgent: USER_AGENT,
  requestId: response.headers.get('x-request-id'),
  createdAt: clock.now().toISOString(),
});

describe('what is audited', () => {
  it('every change of a key: create, update, deactivate, activate, rotate, revoke', async () => {
    const created = await createKey({
      name: 'audited',
      scopes: ['partners:read'],
      metadata: { team: 'ops' },
    });
    const id = created.body.data.id;
    const [createdEntry] = await audit(`resourceId=${id}`);
    expect(createdEntry).toMatchObject({
      action: 'api_key.created',
      resourceType: 'api_key',
      resourceId: id,
      ...origin(created),
    });
    expect(createdEntry?.changes).toMatchObject({
      name: { before: null, after: 'audited' },
      scopes: { before: null, after: ['partners:read'] },
      status: { before: null, after: 'active' },
      metadata: { before: null, after: { team: 'ops' } },
    });
    expect(createdEntry?.changes).not.toHaveProperty('key');

    clock.advance(60_000);
    const updated = await api('PATCH', `/api-keys/${id}`, { name: 'renamed', allowedIps: ['127.0.0.1'] });
    expect(updated.status).toBe(200);
    const [updatedEntry] = await audit(`resourceId=${id}`);
    expect(updatedEntry).toMatchObject({ action: 'api_key.updated', ...origin(updated) });
    expect(updatedEntry?.changes).toEqual({
      name: { before: 'audited', after: 'renamed' },
      allowedIps: { before: null, after: ['127.0.0.1'] },
    });

    clock.advance(60_000);
    const deactivated = await api('POST', `/api-keys/${id}/deactivate`);
    const [deactivatedEntry] = await audit(`resourceId=${id}`);
    expect(deactivatedEntry).toMatchObject({ action: 'api_key.deactivated', ...origin(deactivated) });
    expect(deactivatedEntry?.changes).toEqual({
      deactivatedAt: { before: null, after: clock.now().toISOString() },
      status: { before: 'active', after: 'inactive' },
    });

    clock.advance(60_000);
    const activated = await api('POST', `/api-keys/${id}/activate`);
    const [activatedEntry] = await audit(`resourceId=${id}`);
    expect(activatedEntry).toMatchObject({ action: 'api_key.activated', ...origin(activated) });
    expect(activatedEntry?.changes).toMatchObject({ status: { before: 'inactive', after: 'active' } });

    clock.advance(60_000);
    const rotated = await api('POST', `/api-keys/${id}/rotate`, { gracePeriodSeconds: 3600 });
    expect(rotated.status).toBe(201);
    const successor = rotated.body.data.id;
    remember(rotated.body.data.key);
    const [rotatedEntry] = await audit(`resourceId=${id}`);
    expect(rotatedEntry).toMatchObject({ action: 'api_key.rotated', ...origin(rotated) });
    expect(rotatedEntry?.changes).toEqual({
      replacedBy: { before: null, after: successor },
      expiresAt: { before: null, after: new Date(clock.now().getTime() + 3_600_000).toISOString() },
    });
    const [successorEntry] = await audit(`resourceId=${successor}`);
    expect(successorEntry).toMatchObject({ action: 'api_key.created', ...origin(rotated) });
    expect(successorEntry?.changes).toMatchObject({ name: { before: null, after: 'renamed' } });

    clock.advance(60_000);
    const revoked = await api('DELETE', `/api-keys/${successor}`);
    const [revokedEntry] = await audit(`resourceId=${successor}`);
    expect(revokedEntry).toMatchObject({ action: 'api_key.revoked', ...origin(revoked) });
    expect(revokedEntry?.changes).toEqual({
      revokedAt: { before: null, after: clock.now().toISOString() },
      status: { before: 'active', after: 'revoked' },
    });

    // Calls that change nothing leave no entry.
    await api('DELETE', `/api-keys/${successor}`);
    await api('POST', `/api-keys/${id}/activate`);
    await api('PATCH', `/api-keys/${id}`, {});
    expect((await audit(`resourceId=${id}`)).map((e) => e.action)).toEqual([
      'api_key.rotated',
      'api_key.activated',
      'api_key.deactivated',
      'api_key.updated',
      'api_key.created',
    ]);
    expect((await audit(`resourceId=${successor}`)).map((e) => e.action)).toEqual([
      'api_key.revoked',
      'api_key.created',
    ]);
  });

  it('tenant create and update by the platform admin: actorType admin, no actorId', async () => {
    const slug = uniqueSlug('aud');
    const created = await call(server, 'POST', '/api/admin/tenants', {
      key: ADMIN_KEY,
      headers: { 'user-agent': USER_AGENT },
      body: { slug, name: 'Audited Inc.' },
    });
    expect(created.status).toBe(201);
    const tenantId = created.body.data.id;
    clock.advance(60_000);
    const updated = await call(server, 'PATCH', `/api/admin/tenants/${slug}`, {
      key: ADMIN_KEY,
      headers: { 'user-agent': USER_AGENT },
      body: { name: 'Audited GmbH', status: 'suspended' },
    });
    expect(updated.status).toBe(200);
    // The same values again change nothing, and leave no entry.
    const again = await call(server, 'PATCH', `/api/admin/tenants/${slug}`, {
      key: ADMIN_KEY,
      body: { name: 'Audited GmbH', status: 'suspended', plan: created.body.data.plan },
    });
    expect(again.status).toBe(200);
    expect(again.body.data.updatedAt).toBe(updated.body.data.updatedAt);

    const log = await call(server, 'GET', `/api/t/${slug}/v1/audit-log?resourceType=tenant`, {
      key: ADMIN_KEY,
    });
    expect(log.status).toBe(200);
    const [updateEntry, createEntry] = log.body.data;
    expect(createEntry).toMatchObject({
      action: 'tenant.created',
      resourceId: tenantId,
      ...origin(created, null),
      createdAt: expect.any(String),
    });
    expect(createEntry.changes).toMatchObject({ slug: { before: null, after: slug } });
    expect(updateEntry).toMatchObject({
      action: 'tenant.updated',
      resourceId: tenantId,
      ...origin(updated, null),
    });
    expect(updateEntry.changes).toEqual({
      name: { before: 'Audited Inc.', after: 'Audited GmbH' },
      status: { before: 'active', after: 'suspended' },
    });
  });

  it('the platform admin acting on a tenant URL is recorded as admin', async () => {
    const response = await call(server, 'POST', `/api/t/${tenant.slug}/v1/api-keys`, {
      key: ADMIN_KEY,
      headers: { 'user-agent': USER_AGENT },
      body: { name: 'by admin', scopes: ['read'] },
    });
    expect(response.status).toBe(201);
    remember(response.body.data.key);
    const [entry] = await audit(`resourceId=${response.body.data.id}`);
    expect(entry).toMatchObject({ action: 'api_key.created', ...origin(response, null) });
  });

  it('keeps no key from the User-Agent, and at most its first 512 characters', async () => {
    const userAgent = `bot/1.0 admin=${ADMIN_KEY} key=${other.key} ${'x'.repeat(600)}`;
    const response = await call(server, 'POST', '/api/v1/api-keys', {
      key: tenant.key,
      headers: { 'user-agent': userAgent },
      body: { name: 'from a leaky agent', scopes: ['read'] },
    });
    expect(response.status).toBe(201);
    remember(response.body.data.key);
    const [entry] = await audit(`resourceId=${response.body.data.id}`);
    expect(entry?.userAgent).toBe(
      `bot/1.0 admin=[redacted-key] key=[redacted-key] ${'x'.repeat(600)}`.slice(0, 512),
    );
  });

  it('partner status, customer attribution and partner-group changes', async () => {
    const partner = async () => {
      const response = await api('POST', '/partners', { email: `${uniqueSlug('p')}@example.com` });
      expect(response.status).toBe(201);
      return response.body.data.id as string;
    };
    const [first, second, third] = [await partner(), await partner(), await partner()];

    clock.advance(60_000);
    const invited = await api('POST', `/partners/${first}/invite`);
    expect(invited.status).toBe(200);
    const url = /"(https?:[^"]*\/invite\/[^"]+)"/.exec(JSON.stringify(invited.body))?.[1] as string;
    const token = url.split('/invite/')[1] as string;
    secrets.push(token, createHash('sha256').update(token).digest('hex'));
    const revoked = await api('POST', `/partners/${second}/revoke`);
    expect(revoked.status).toBe(200);
    const [revokedEntry] = await audit(`resourceId=${second}`);
    expect(revokedEntry).toMatchObject({
      action: 'partner.revoked',
      resourceType: 'partner',
      ...origin(revoked),
    });
    expect(revokedEntry?.changes).toMatchObject({ status: { before: 'active', after: 'revoked' } });
    const [invitedEntry] = await audit(`resourceId=${first}`);
    expect(invitedEntry).toMatchObject({ action: 'partner.invited', ...origin(invited) });
    expect(invitedEntry?.changes).toMatchObject({ status: { before: 'active', after: 'invited' } });

    const customer = await api('POST', '/customers', { externalId: uniqueSlug('c'), partnerId: first });
    expect(customer.status).toBe(201);
    clock.advance(60_000);
    // To an active partner: a revoked one gains no customers.
    const moved = await api('PATCH', `/customers/${customer.body.data.id}`, { partnerId: third });
    expect(moved.status).toBe(200);
    const [movedEntry] = await audit(`resourceId=${customer.body.data.id}`);
    expect(movedEntry).toMatchObject({
      action: 'customer.reattributed',
      resourceType: 'customer',
      ...origin(moved),
    });
    expect(movedEntry?.changes).toMatchObject({ partnerId: { before: first, after: third } });

    const group = await api('GET', '/partner-groups/default');
    expect(group.status).toBe(200);
    clock.advance(60_000);
    const holdbackDays = group.body.data.holdbackDays === 14 ? 21 : 14;
    const changed = await api('PATCH', '/partner-groups/default', { holdbackDays });
    expect(changed.status).toBe(200);
    const [groupEntry] = await audit('resourceType=partner_group');
    expect(groupEntry).toMatchObject({ action: 'partner_group.updated', ...origin(changed) });
    expect(groupEntry?.changes).toMatchObject({
      holdbackDays: { before: group.body.data.holdbackDays, after: holdbackDays },
    });
  });
});

describe('GET /audit-log filters and pagination', () => {
  let owner: TestTenant;
  let keyId: string;
  const day = (n: number) => `2026-04-0${n}`;

  beforeAll(async () => {
    clock.set(new Date(`${day(1)}T09:00:00.000Z`));
    owner = await createTenant(server);
    remember(owner.key);
    clock.set(new Date(`${day(2)}T09:00:00.000Z`));
    keyId = (await createKey({ name: 'filtered' }, owner.key)).body.data.id;
    clock.set(new Date(`${day(3)}T09:00:00.000Z`));
    await api('PATCH', `/api-keys/${keyId}`, { name: 'filtered again' }, owner.key);
    clock.set(new Date(`${day(4)}T09:00:00.000Z`));
    await api('POST', `/api-keys/${keyId}/deactivate`, undefined, owner.key);
    clock.set(new Date(`${day(4)}T18:00:00.000Z`));
    await api('DELETE', `/api-keys/${keyId}`, undefined, owner.key);
  });

  const actions = async (query: string) => (await audit(query, owner.key)).map((e) => e.action);

  it('all entries, newest first', async () => {
    expect(await actions('')).toEqual([
      'api_key.revoked',
      'api_key.deactivated',
      'api_key.updated',
      'api_key.created',
      'api_key.created',
      'tenant.created',
    ]);
  });

  it.each([
    ['action=api_key.updated', ['api_key.updated']],
    ['action=api_key', []],
    ['resourceType=tenant', ['tenant.created']],
    ['resourceType=api_key&action=api_key.created', ['api_key.created', 'api_key.created']],
    ['from=2026-04-03', ['api_key.revoked', 'api_key.deactivated', 'api_key.updated']],
    ['to=2026-04-02', ['api_key.created', 'api_key.created', 'tenant.created']],
    ['from=2026-04-03&to=2026-04-03', ['api_key.updated']],
    ['from=2026-04-04T12:00:00.000Z', ['api_key.revoked']],
    [
      'to=2026-04-04T09:00:00Z',
      ['api_key.deactivated', 'api_key.updated', 'api_key.created', 'api_key.created', 'tenant.created'],
    ],
    ['from=2026-04-04T10:00:00%2B02:00&to=2026-04-04', ['api_key.revoked', 'api_key.deactivated']],
    ['from=2026-05-01', []],
  ])('%s', async (query, expected) => {
    expect(await actions(query)).toEqual(expected);
  });

  it('actorId and resourceId', async () => {
    const mine = await audit(`actorId=${owner.keyId}`, owner.key);
    expect(mine.map((e) => e.action)).toEqual([
      'api_key.revoked',
      'api_key.deactivated',
      'api_key.updated',
      'api_key.created',
    ]);
    for (const entry of mine) expect(entry.actorId).toBe(owner.keyId);
    const one = await audit(`resourceId=${keyId}`, owner.key);
    expect(one.map((e) => e.action)).toEqual([
      'api_key.revoked',
      'api_key.deactivated',
      'api_key.updated',
      'api_key.created',
    ]);
    expect(
      await audit(`resourceId=${keyId}&action=api_key.updated&actorId=${owner.keyId}`, owner.key),
    ).toHaveLength(1);
    expect(await audit(`actorId=${tenant.keyId}`, owner.key)).toEqual([]);
  });

  it('actorType: a key, the platform admin, the CLI and the server itself, each on its own', async () => {
    const mixed = await createTenant(server);
    remember(mixed.key);
    // The command line creates keys through the same domain function as this.
    const fromCli = await insertApiKey(server.services.db, {
      tenantId: mixed.id,
      keyPrefix: server.config.keyPrefix,
      createdBy: 'cli',
      now: clock.now(),
      name: 'from the CLI',
      scopes: ['read'],
    });
    remember(fromCli.key);
    // A secret scanner's report: the server revokes the key itself.
    const reported = await call(server, 'POST', '/api/v1/api-keys/revoke-leaked', {
      body: { keys: [fromCli.key] },
    });
    expect(reported.status).toBe(202);
    await createKey({ name: 'by a key' }, mixed.key);

    const byType = async (actorType: string) =>
      (await audit(`actorType=${actorType}`, mixed.key)).map((e) => [e.action, e.actorType, e.actorId]);
    expect(await byType('api_key')).toEqual([['api_key.created', 'api_key', mixed.keyId]]);
    expect(await byType('admin')).toEqual([
      ['api_key.created', 'admin', null],
      ['tenant.created', 'admin', null],
    ]);
    expect(await byType('cli')).toEqual([['api_key.created', 'cli', null]]);
    expect(await byType('system')).toEqual([['api_key.revoked_leaked', 'system', null]]);
    // With the other filters.
    expect((await audit(`actorType=admin&resourceType=tenant`, mixed.key)).map((e) => e.action)).toEqual([
      'tenant.created',
    ]);
    expect(await audit(`actorType=admin&actorId=${mixed.keyId}`, mixed.key)).toEqual([]);
    // Another tenant's admin, CLI and system entries stay its own.
    expect((await audit('actorType=cli', owner.key)).map((e) => e.resourceId)).not.toContain(fromCli.id);
  });

  it('classic pages and cursor pages', async () => {
    const all = (await audit('', owner.key)).map((e) => e.id);
    const page1 = await api('GET', '/audit-log?limit=4', undefined, owner.key);
    expect(page1.body.pagination).toMatchObject({ page: 1, limit: 4, total: 6, pages: 2 });
    expect(page1.body.pagination.nextCursor).toEqual(expect.any(String));
    const page2 = await api('GET', '/audit-log?limit=4&page=2', undefined, owner.key);
    expect([...page1.body.data, ...page2.body.data].map((e: Body) => e.id)).toEqual(all);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Body = (
        await api('GET', `/audit-log?limit=2${cursor ? `&cursor=${cursor}` : ''}`, undefined, owner.key)
      ).body;
      const pagination = page.pagination as { nextCursor: string | null };
      seen.push(...(page.data as Body[]).map((e) => e.id as string));
      cursor = pagination.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all);

    const filtered = await api('GET', '/audit-log?resourceType=api_key&limit=2', undefined, owner.key);
    const rest = await api(
      'GET',
      `/audit-log?resourceType=api_key&limit=10&cursor=${filtered.body.pagination.nextCursor}`,
      undefined,
      owner.key,
    );
    expect(rest.body.data.map((e: Body) => e.action)).toEqual([
      'api_key.updated',
      'api_key.created',
      'api_key.created',
    ]);
    expect(rest.body.pagination.nextCursor).toBeNull();
  });

  it.each([
    ['limit=101', 'validation_error'],
    ['limit=0', 'validation_error'],
    ['from=yesterday', 'validation_error'],
    ['to=2026-02-30', 'validation_error'],
    ['actor=me', 'validation_error'],
    ['actorType=robot', 'validation_error'],
    ['actorType=API_KEY', 'validation_error'],
    ['actorType=', 'validation_error'],
    ['page=1&cursor=abc', 'validation_error'],
    ['cursor=not-a-cursor', 'invalid_cursor'],
  ])('%s: 400 %s', async (query, code) => {
    const response = await api('GET', `/audit-log?${query}`, undefined, owner.key);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe(code);
  });

  it('an unknown actorType is named, with the values there are', async () => {
    const response = await api('GET', '/audit-log?actorType=robot', undefined, owner.key);
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      expect.objectContaining({ field: 'actorType', code: 'invalid_value' }),
    ]);
    for (const type of ['api_key', 'admin', 'cli', 'system']) {
      expect(response.body.errors[0].message).toContain(type);
    }
  });
});

describe('access', () => {
  it.each([
    [['admin'], 200],
    [['audit:read'], 200],
    [['read'], 403],
    [['write'], 403],
    [['api_keys:read', 'api_keys:write'], 403],
  ])('a key with %j: %i', async (scopes, status) => {
    const key = (await createKey({ name: scopes.join(' '), scopes })).body.data.key;
    const response = await api('GET', '/audit-log', undefined, key);
    expect(response.status).toBe(status);
    if (status === 403)
      expect(response.body).toMatchObject({ code: 'insufficient_scope', requiredScope: 'audit:read' });
  });

  it('no key: 401', async () => {
    const response = await call(server, 'GET', `/api/t/${tenant.slug}/v1/audit-log`);
    expect(response.status).toBe(401);
  });

  it("a tenant never sees another tenant's entries", async () => {
    const theirs = (await createKey({ name: 'theirs' }, other.key)).body.data.id;
    expect(await audit(`resourceId=${theirs}`)).toEqual([]);
    expect((await audit(`resourceId=${theirs}`, other.key)).map((e) => e.action)).toEqual([
      'api_key.created',
    ]);
    const ids = new Set((await audit('')).map((e) => e.resourceId));
    expect(ids.has(theirs)).toBe(false);
    expect(ids.has(other.id)).toBe(false);
  });
});

describe('append-only', () => {
  it.each(['PUT', 'PATCH', 'DELETE', 'POST'])('%s /audit-log: 405', async (method) => {
    for (const base of ['/api/v1', `/api/t/${tenant.slug}/v1`]) {
      const response = await call(server, method, `${base}/audit-log`, { key: tenant.key, body: {} });
      expect(response.status).toBe(405);
      expect(response.body.code).toBe('method_not_allowed');
      expect(response.headers.get('allow')).toContain('GET');
    }
  });

  it('no route reaches a single entry', async () => {
    const [entry] = await audit('');
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
      const response = await call(server, method, `/api/v1/audit-log/${entry?.id}`, {
        key: tenant.key,
        ...(method === 'GET' ? {} : { body: {} }),
      });
      expect(response.status).toBe(404);
    }
  });

  it('the database refuses UPDATE and DELETE on audit_log', async () => {
    const db = server.services.db;
    const count = async () =>
      Number((await db.selectFrom('auditLog').select(db.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const before = await count();
    await expect(db.updateTable('auditLog').set({ action: 'tampered' }).execute()).rejects.toThrow(
      /append-only/,
    );
    await expect(
      db.updateTable('auditLog').set({ changes: '{}' }).where('tenantId', '=', tenant.id).execute(),
    ).rejects.toThrow(/append-only/);
    await expect(db.deleteFrom('auditLog').where('tenantId', '=', tenant.id).execute()).rejects.toThrow(
      /append-only/,
    );
    await expect(db.deleteFrom('auditLog').execute()).rejects.toThrow(/append-only/);
    expect(await count()).toBe(before);
    expect(await db.selectFrom('auditLog').select('id').where('action', '=', 'tampered').execute()).toEqual(
      [],
    );
  });
});

describe('secrets', () => {
  it('no entry holds a plaintext key, its secret part, a key hash or an invite token', async () => {
    expect(secrets.length).toBeGreaterThan(20);
    const rows = await server.services.db.selectFrom('auditLog').selectAll().execute();
    expect(rows.length).toBeGreaterThan(20);
    const text = JSON.stringify(rows);
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/keyHash|key_hash|inviteToken|"key":/);
    expect(text).not.toMatch(/plk_(live|test)_[0-9a-z]{26}_/);
    // The API shows the same rows.
    const listed = JSON.stringify(await audit(''));
    for (const secret of secrets) expect(listed).not.toContain(secret);
  });
});
