import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createKey, createTenant, type TestTenant } from '../../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../../helpers/server.ts';

const CUSTOMER_ID = /^cus_[0-7][0-9a-hjkmnp-tv-z]{25}$/;

const clock = new TestClock(new Date('2026-04-01T09:00:00.000Z'));
let server: TestServer;
let tenant: TestTenant;
let other: TestTenant;
let partnerA: string;
let partnerB: string;
let otherPartner: string;

const api = (
  method: string,
  path: string,
  body?: unknown,
  key = tenant.key,
  headers?: Record<string, string>,
) => call(server, method, `/api/v1${path}`, { key, body, ...(headers ? { headers } : {}) });

let counter = 0;
const externalId = (prefix = 'crm') => `${prefix}-${++counter}-${Date.now().toString(36)}`;

async function createPartner(key: string, email: string): Promise<string> {
  const response = await api('POST', '/partners', { email }, key);
  if (response.status !== 201) throw new Error(JSON.stringify(response.body));
  return response.body.data.id;
}

async function createCustomer(body: Record<string, unknown>, key = tenant.key) {
  const response = await api('POST', '/customers', body, key);
  if (response.status !== 201) throw new Error(JSON.stringify(response.body));
  return response.body.data;
}

beforeAll(async () => {
  server = await startServer({ clock });
  tenant = await createTenant(server);
  other = await createTenant(server);
  partnerA = await createPartner(tenant.key, 'ada@example.com');
  partnerB = await createPartner(tenant.key, 'bob@example.com');
  otherPartner = await createPartner(other.key, 'eve@example.com');
});
afterAll(() => server.close());

/** The tenant's audit entries for one resource, oldest first, read straight from the table. */
async function auditEntries(tenantId: string, resourceId: string) {
  const rows = await server.services.db
    .selectFrom('auditLog')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('resourceId', '=', resourceId)
    .orderBy('id')
    .execute();
  return rows.map((row) => ({
    ...row,
    changes: (typeof row.changes === 'string' ? JSON.parse(row.changes) : row.changes) as Record<
      string,
      { before: unknown; after: unknown }
    >,
  }));
}

describe('POST /customers', () => {
  it('creates an attributed customer: 201, cus_ id, attributedAt now, ETag', async () => {
    const id = externalId();
    const response = await api('POST', '/customers', {
      externalId: id,
      email: 'Grace@Example.com',
      name: 'Grace Hopper',
      partnerId: partnerA,
      lifetime: true,
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('etag')).toBe('"v1"');
    const now = clock.now().toISOString();
    expect(response.body.data).toEqual({
      id: expect.stringMatching(CUSTOMER_ID),
      externalId: id,
      email: 'grace@example.com',
      name: 'Grace Hopper',
      partnerId: partnerA,
      attributedAt: now,
      lifetime: true,
      createdAt: now,
      updatedAt: now,
    });
  });

  it('creates an unattributed customer with only an externalId', async () => {
    const id = externalId();
    const response = await api('POST', '/customers', { externalId: id });
    expect(response.status).toBe(201);
    expect(response.body.data).toMatchObject({
      externalId: id,
      email: null,
      name: null,
      partnerId: null,
      attributedAt: null,
      lifetime: false,
    });
  });

  it('refuses a duplicate externalId: 409 customer_external_id_taken', async () => {
    const id = externalId();
    await createCustomer({ externalId: id });
    const again = await api('POST', '/customers', { externalId: id, email: 'x@example.com' });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(again.body).toMatchObject({ status: 409, code: 'customer_external_id_taken' });
  });

  it('lets another tenant use the same externalId', async () => {
    const id = externalId();
    await createCustomer({ externalId: id });
    expect((await api('POST', '/customers', { externalId: id }, other.key)).status).toBe(201);
  });

  it.each([
    ['an unknown partner', () => 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f'],
    ['another tenant’s partner', () => otherPartner],
  ])('answers 404 for %s and creates nothing', async (_, partnerId) => {
    const id = externalId('orphan');
    const response = await api('POST', '/customers', { externalId: id, partnerId: partnerId() });
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('not_found');
    const list = await api('GET', `/customers?q=${id}`);
    expect(list.body.data).toEqual([]);
  });

  it.each([
    ['no externalId', { email: 'a@example.com' }, 'externalId'],
    ['an empty externalId', { externalId: '' }, 'externalId'],
    ['an externalId over 200 characters', { externalId: 'x'.repeat(201) }, 'externalId'],
    ['a malformed email', { externalId: 'e1', email: 'not-an-email' }, 'email'],
    ['a malformed partnerId', { externalId: 'e2', partnerId: 'partner-1' }, 'partnerId'],
    ['lifetime as a string', { externalId: 'e3', lifetime: 'yes' }, 'lifetime'],
    ['an unknown field', { externalId: 'e4', attributedAt: '2026-01-01T00:00:00.000Z' }, 'attributedAt'],
  ])('refuses %s: 400 naming %s', async (_, body, field) => {
    const response = await api('POST', '/customers', body);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });
});

describe('GET /customers/{id}', () => {
  it('returns the customer with its ETag', async () => {
    const created = await createCustomer({ externalId: externalId(), name: 'Read me' });
    const response = await api('GET', `/customers/${created.id}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe('"v1"');
    expect(response.body.data).toEqual(created);
  });

  it.each([
    ['an unknown id', 'cus_01jd8x3v4w5y6z7a8b9c0d1e2f'],
    ['a malformed id', 'cus_nope'],
    ['an externalId', 'crm-1'],
  ])('answers 404 for %s', async (_, id) => {
    const response = await api('GET', `/customers/${id}`);
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('not_found');
  });
});

describe('PATCH /customers/{id}', () => {
  it('changes email, name and lifetime; ETag moves; audited as customer.updated', async () => {
    const created = await createCustomer({ externalId: externalId(), email: 'old@example.com' });
    clock.advance(60_000);
    const response = await api(
      'PATCH',
      `/customers/${created.id}`,
      { email: 'New@Example.com', name: 'Renamed', lifetime: true },
      tenant.key,
      { 'if-match': '"v1"' },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe('"v2"');
    expect(response.body.data).toMatchObject({
      email: 'new@example.com',
      name: 'Renamed',
      lifetime: true,
      partnerId: null,
      attributedAt: null,
      createdAt: created.createdAt,
      updatedAt: clock.now().toISOString(),
    });
    const entries = await auditEntries(tenant.id, created.id);
    expect(entries.map((e) => e.action)).toEqual(['customer.created', 'customer.updated']);
    expect(entries[1]?.changes.email).toEqual({ before: 'old@example.com', after: 'new@example.com' });
  });

  it('re-attributes to another partner: attributedAt moves, audited with both partners', async () => {
    const created = await createCustomer({ externalId: externalId(), partnerId: partnerA });
    clock.advance(3_600_000);
    const response = await api('PATCH', `/customers/${created.id}`, { partnerId: partnerB });
    expect(response.status).toBe(200);
    expect(response.body.data.partnerId).toBe(partnerB);
    expect(response.body.data.attributedAt).toBe(clock.now().toISOString());
    expect(response.body.data.attributedAt).not.toBe(created.attributedAt);

    const entries = await auditEntries(tenant.id, created.id);
    const reattributed = entries.filter((e) => e.action === 'customer.reattributed');
    expect(reattributed).toHaveLength(1);
    const [entry] = reattributed;
    expect(entry).toMatchObject({
      tenantId: tenant.id,
      resourceType: 'customer',
      actorType: 'api_key',
      actorId: tenant.keyId,
      requestId: response.headers.get('x-request-id'),
    });
    expect(entry?.changes.partnerId).toEqual({ before: partnerA, after: partnerB });
    expect(entry?.changes.attributedAt).toEqual({
      before: created.attributedAt,
      after: response.body.data.attributedAt,
    });
    // Nothing of it is visible to another tenant's audit rows.
    expect(await auditEntries(other.id, created.id)).toEqual([]);
  });

  it('attributes an unattributed customer and detaches with null, both audited', async () => {
    const created = await createCustomer({ externalId: externalId() });
    const attached = await api('PATCH', `/customers/${created.id}`, { partnerId: partnerA });
    expect(attached.body.data).toMatchObject({
      partnerId: partnerA,
      attributedAt: clock.now().toISOString(),
    });
    const detached = await api('PATCH', `/customers/${created.id}`, { partnerId: null });
    expect(detached.status).toBe(200);
    expect(detached.body.data).toMatchObject({ partnerId: null, attributedAt: null });
    const actions = (await auditEntries(tenant.id, created.id)).map((e) => e.action);
    expect(actions).toEqual(['customer.created', 'customer.reattributed', 'customer.reattributed']);
  });

  it("a customer moved by hand is lifetime as its new partner's group makes the customers it brings", async () => {
    const group = await api('POST', '/partner-groups', {
      key: `life-${++counter}`,
      name: 'Life',
      recurring: true,
      recurringMonths: null,
    });
    expect(group.status, JSON.stringify(group.body)).toBe(201);
    const lifePartner = (
      await api('POST', '/partners', { email: `life-${counter}@example.com`, groupKey: group.body.data.key })
    ).body.data.id;
    const created = await createCustomer({ externalId: externalId(), partnerId: lifePartner });
    expect(created.lifetime).toBe(true);
    // To a partner of the (non-recurring) default group: no longer lifetime.
    const moved = await api('PATCH', `/customers/${created.id}`, { partnerId: partnerA });
    expect(moved.body.data).toMatchObject({ partnerId: partnerA, lifetime: false });
    const back = await api('PATCH', `/customers/${created.id}`, { partnerId: lifePartner });
    expect(back.body.data.lifetime).toBe(true);
    expect((await api('PATCH', `/customers/${created.id}`, { partnerId: null })).body.data.lifetime).toBe(
      false,
    );
    // Said in the request, it stands.
    const kept = await api('PATCH', `/customers/${created.id}`, { partnerId: partnerA, lifetime: true });
    expect(kept.body.data).toMatchObject({ partnerId: partnerA, lifetime: true });
  });

  it('refuses to attribute a customer to a revoked partner: 409 invalid_state, nothing written', async () => {
    const revoked = await createPartner(tenant.key, `gone-${++counter}@example.com`);
    expect((await api('POST', `/partners/${revoked}/revoke`, {})).status).toBe(200);
    const id = externalId();
    const refused = await api('POST', '/customers', { externalId: id, partnerId: revoked });
    expect([refused.status, refused.body.code]).toEqual([409, 'invalid_state']);
    expect((await api('GET', `/customers?q=${id}`)).body.data).toEqual([]);
    const customer = await createCustomer({ externalId: externalId() });
    const moved = await api('PATCH', `/customers/${customer.id}`, { partnerId: revoked });
    expect([moved.status, moved.body.code]).toEqual([409, 'invalid_state']);
    expect((await api('GET', `/customers/${customer.id}`)).body.data.partnerId).toBeNull();
  });

  it('the same partner again is no re-attribution and changes nothing', async () => {
    const created = await createCustomer({ externalId: externalId(), partnerId: partnerA });
    clock.advance(1000);
    const response = await api('PATCH', `/customers/${created.id}`, { partnerId: partnerA });
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe('"v1"');
    expect(response.body.data).toEqual(created);
    expect((await auditEntries(tenant.id, created.id)).map((e) => e.action)).toEqual(['customer.created']);
  });

  it('refuses a stale If-Match: 412, nothing changed', async () => {
    const created = await createCustomer({ externalId: externalId(), name: 'First' });
    expect((await api('PATCH', `/customers/${created.id}`, { name: 'Second' })).status).toBe(200);
    const stale = await api('PATCH', `/customers/${created.id}`, { name: 'Third' }, tenant.key, {
      'if-match': '"v1"',
    });
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe('precondition_failed');
    expect((await api('GET', `/customers/${created.id}`)).body.data.name).toBe('Second');
  });

  it.each([
    ['an unknown partner', () => ({ partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f' }), 404],
    ['another tenant’s partner', () => ({ partnerId: otherPartner }), 404],
    ['the externalId', () => ({ externalId: 'changed' }), 400],
    ['a malformed email', () => ({ email: 'nope' }), 400],
    ['an empty name', () => ({ name: '' }), 400],
  ])('refuses %s (%i) and changes nothing', async (_, body, status) => {
    const created = await createCustomer({ externalId: externalId(), partnerId: partnerA });
    const response = await api('PATCH', `/customers/${created.id}`, body());
    expect(response.status).toBe(status);
    expect((await api('GET', `/customers/${created.id}`)).body.data).toEqual(created);
  });

  it('without If-Match, changes sent at once all apply, one after the other', async () => {
    const created = await createCustomer({ externalId: externalId(), name: 'n0' });
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => api('PATCH', `/customers/${created.id}`, { name: `n${i + 1}` })),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(200));
    const names = (await auditEntries(tenant.id, created.id))
      .filter((entry) => entry.action === 'customer.updated')
      .map((entry) => entry.changes.name!);
    expect(names.map((change) => change.before)).toEqual(['n0', ...names.slice(0, -1).map((c) => c.after)]);
    expect((await api('GET', `/customers/${created.id}`)).headers.get('etag')).toBe('"v9"');
  });

  it('answers 404 for an unknown customer', async () => {
    const response = await api('PATCH', '/customers/cus_01jd8x3v4w5y6z7a8b9c0d1e2f', { name: 'x' });
    expect(response.status).toBe(404);
  });
});

describe('GET /customers filters', () => {
  let listTenant: TestTenant;
  let p1: string;
  let p2: string;
  const made: Record<string, { id: string }> = {};

  beforeAll(async () => {
    listTenant = await createTenant(server);
    p1 = await createPartner(listTenant.key, 'p1@example.com');
    p2 = await createPartner(listTenant.key, 'p2@example.com');
    const rows: [string, string, Record<string, unknown>][] = [
      [
        '2026-05-01T00:00:00.000Z',
        'may1-start',
        { email: 'ann@alpha.example', name: 'Ann Alpha', partnerId: p1, lifetime: true },
      ],
      [
        '2026-05-01T23:59:59.999Z',
        'may1-end',
        { email: 'ben@beta.example', name: 'Ben Beta', partnerId: p1 },
      ],
      [
        '2026-05-02T00:00:00.000Z',
        'may2-start',
        { email: 'cat@alpha.example', name: 'Cat 100%_done', partnerId: p2, lifetime: true },
      ],
      ['2026-05-31T12:00:00.000Z', 'may31', { name: 'Dan Delta' }],
      ['2026-06-01T00:00:00.000Z', 'jun1-ACME-7', {}],
    ];
    for (const [at, ext, fields] of rows) {
      clock.set(new Date(at));
      made[ext] = await createCustomer({ externalId: ext, ...fields }, listTenant.key);
    }
    clock.set(new Date('2026-06-15T12:00:00.000Z'));
  });

  const idsOf = async (query: string) => {
    const response = await api('GET', `/customers?${query}`, undefined, listTenant.key);
    expect(response.status).toBe(200);
    return response.body.data.map((c: { externalId: string }) => c.externalId);
  };

  it('lists everything newest first', async () => {
    expect(await idsOf('')).toEqual(['jun1-ACME-7', 'may31', 'may2-start', 'may1-end', 'may1-start']);
  });

  it('filters by partnerId', async () => {
    expect(await idsOf(`partnerId=${p1}`)).toEqual(['may1-end', 'may1-start']);
    expect(await idsOf(`partnerId=${p2}`)).toEqual(['may2-start']);
    expect(await idsOf('partnerId=prt_01jd8x3v4w5y6z7a8b9c0d1e2f')).toEqual([]);
  });

  it('filters lifetime=true and lifetime=false (GET /api/v1/customers?lifetime=true)', async () => {
    expect(await idsOf('lifetime=true')).toEqual(['may2-start', 'may1-start']);
    expect(await idsOf('lifetime=false')).toEqual(['jun1-ACME-7', 'may31', 'may1-end']);
  });

  it('filters createdFrom/createdTo by whole UTC days, inclusive', async () => {
    expect(await idsOf('createdFrom=2026-05-01&createdTo=2026-05-01')).toEqual(['may1-end', 'may1-start']);
    expect(await idsOf('createdFrom=2026-05-02')).toEqual(['jun1-ACME-7', 'may31', 'may2-start']);
    expect(await idsOf('createdTo=2026-05-31')).toEqual(['may31', 'may2-start', 'may1-end', 'may1-start']);
    expect(await idsOf('createdFrom=2026-05-01&createdTo=2026-05-31')).toHaveLength(4);
  });

  it('filters createdFrom/createdTo by full timestamps, inclusive', async () => {
    expect(await idsOf('createdFrom=2026-05-01T23:59:59.999Z&createdTo=2026-05-02T00:00:00.000Z')).toEqual([
      'may2-start',
      'may1-end',
    ]);
    expect(await idsOf(`createdFrom=${encodeURIComponent('2026-05-02T02:00:00+02:00')}`)).toEqual([
      'jun1-ACME-7',
      'may31',
      'may2-start',
    ]);
  });

  it.each([
    'createdFrom=2026-02-30',
    'createdFrom=yesterday',
    'createdTo=2026-13-01',
    'lifetime=yes',
    'partnerId=nope',
    'q=',
    `q=${'x'.repeat(101)}`,
  ])('refuses ?%s: 400', async (query) => {
    const response = await api('GET', `/customers?${query}`, undefined, listTenant.key);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
  });

  it('q matches email, name or externalId, ignoring case', async () => {
    expect(await idsOf('q=ALPHA.example')).toEqual(['may2-start', 'may1-start']);
    expect(await idsOf('q=ben')).toEqual(['may1-end']);
    expect(await idsOf('q=delta')).toEqual(['may31']);
    expect(await idsOf('q=acme')).toEqual(['jun1-ACME-7']);
    expect(await idsOf('q=may1')).toEqual(['may1-end', 'may1-start']);
  });

  it('q takes % and _ literally', async () => {
    expect(await idsOf(`q=${encodeURIComponent('100%_')}`)).toEqual(['may2-start']);
    expect(await idsOf(`q=${encodeURIComponent('%')}`)).toEqual(['may2-start']);
    expect(await idsOf('q=_')).toEqual(['may2-start']);
  });

  it('combines filters', async () => {
    expect(await idsOf(`partnerId=${p1}&lifetime=false&q=beta`)).toEqual(['may1-end']);
    expect(await idsOf(`lifetime=true&createdFrom=2026-05-02`)).toEqual(['may2-start']);
  });

  it('classic pagination counts the filtered rows', async () => {
    const response = await api('GET', '/customers?limit=2&page=2', undefined, listTenant.key);
    expect(response.body.data.map((c: { externalId: string }) => c.externalId)).toEqual([
      'may2-start',
      'may1-end',
    ]);
    expect(response.body.pagination).toEqual({ page: 2, limit: 2, total: 5, pages: 3 });
    const filtered = await api('GET', '/customers?lifetime=false&limit=2', undefined, listTenant.key);
    expect(filtered.body.pagination).toMatchObject({ page: 1, limit: 2, total: 3, pages: 2 });
    expect(filtered.body.pagination.nextCursor).toEqual(expect.any(String));
  });

  it('cursor pagination keeps the filter and walks every row once', async () => {
    const seen: string[] = [];
    let query = 'lifetime=false&limit=2';
    for (;;) {
      const response = await api('GET', `/customers?${query}`, undefined, listTenant.key);
      seen.push(...response.body.data.map((c: { externalId: string }) => c.externalId));
      const next = response.body.pagination.nextCursor;
      if (!next) break;
      query = `lifetime=false&limit=2&cursor=${encodeURIComponent(next)}`;
    }
    expect(seen).toEqual(['jun1-ACME-7', 'may31', 'may1-end']);
  });

  it('a cursor that is not exactly what a list returned is refused', async () => {
    const first = await api('GET', '/customers?limit=1', undefined, listTenant.key);
    const cursor = first.body.pagination.nextCursor as string;
    expect((await api('GET', `/customers?cursor=${cursor}`, undefined, listTenant.key)).status).toBe(200);
    const id = Buffer.from(cursor, 'base64url').toString('utf8');
    for (const garbled of [
      `!!!!${cursor}`,
      `${cursor}!`,
      Buffer.from(`${id}:zz`).toString('base64url'),
      Buffer.from(`v2${id.slice(2)}`).toString('base64url'),
    ]) {
      const response = await api(
        'GET',
        `/customers?cursor=${encodeURIComponent(garbled)}`,
        undefined,
        listTenant.key,
      );
      expect(response.status, garbled).toBe(400);
      expect(response.body.code).toBe('invalid_cursor');
    }
  });

  it('a cursor of another list is refused', async () => {
    const groups = await api('GET', '/partner-groups?limit=1', undefined, listTenant.key);
    expect(groups.body.pagination.nextCursor).toBeDefined();
    const foreign = Buffer.from('v1:grp_01jd8x3v4w5y6z7a8b9c0d1e2f').toString('base64url');
    const response = await api('GET', `/customers?cursor=${foreign}`, undefined, listTenant.key);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('invalid_cursor');
  });
});

describe('tenant isolation', () => {
  it('another tenant’s customer is a plain 404 for GET and PATCH', async () => {
    const created = await createCustomer({ externalId: externalId('secret'), partnerId: partnerA });
    const get = await api('GET', `/customers/${created.id}`, undefined, other.key);
    expect(get.status).toBe(404);
    expect(get.body.code).toBe('not_found');
    const patch = await api('PATCH', `/customers/${created.id}`, { name: 'Hijacked' }, other.key);
    expect(patch.status).toBe(404);
    const slugged = await call(server, 'GET', `/api/t/${other.slug}/v1/customers/${created.id}`, {
      key: other.key,
    });
    expect(slugged.status).toBe(404);
    expect((await api('GET', `/customers/${created.id}`)).body.data).toEqual(created);
  });

  it('lists never show another tenant’s customers, whatever the filter', async () => {
    const created = await createCustomer({
      externalId: externalId('mine'),
      email: 'mine@example.com',
      partnerId: partnerA,
    });
    for (const query of ['limit=100', 'q=mine', `partnerId=${partnerA}`, 'lifetime=false&limit=100']) {
      const response = await api('GET', `/customers?${query}`, undefined, other.key);
      expect(response.status).toBe(200);
      expect(response.body.data.map((c: { id: string }) => c.id)).not.toContain(created.id);
    }
    const counted = await api('GET', `/customers?partnerId=${partnerA}`, undefined, other.key);
    expect(counted.body.pagination.total).toBe(0);
  });
});

describe('scopes', () => {
  it('customers:read reads but does not write', async () => {
    const created = await createCustomer({ externalId: externalId() });
    const reader = (await createKey(server, tenant.key, { name: 'reader', scopes: ['customers:read'] })).key;
    expect((await api('GET', '/customers', undefined, reader)).status).toBe(200);
    expect((await api('GET', `/customers/${created.id}`, undefined, reader)).status).toBe(200);
    for (const [method, path, body] of [
      ['POST', '/customers', { externalId: externalId() }],
      ['PATCH', `/customers/${created.id}`, { name: 'x' }],
    ] as const) {
      const response = await api(method, path, body, reader);
      expect(response.status).toBe(403);
      expect(response.body).toMatchObject({ code: 'insufficient_scope', requiredScope: 'customers:write' });
    }
  });

  it('a key without customer scopes gets 403 naming customers:read', async () => {
    const partnersOnly = (await createKey(server, tenant.key, { name: 'p', scopes: ['partners:read'] })).key;
    const response = await api('GET', '/customers', undefined, partnersOnly);
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ code: 'insufficient_scope', requiredScope: 'customers:read' });
  });

  it('customers:write creates and patches (partners are checked without partners:read)', async () => {
    const writer = (await createKey(server, tenant.key, { name: 'writer', scopes: ['customers:write'] })).key;
    const created = await api(
      'POST',
      '/customers',
      { externalId: externalId(), partnerId: partnerA },
      writer,
    );
    expect(created.status).toBe(201);
    const patched = await api('PATCH', `/customers/${created.body.data.id}`, { partnerId: partnerB }, writer);
    expect(patched.status).toBe(200);
  });
});
