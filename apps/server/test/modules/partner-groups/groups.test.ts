import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createKey, createTenant, type TestTenant } from '../../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../../helpers/server.ts';

const GROUP_ID = /^grp_[0-7][0-9a-hjkmnp-tv-z]{25}$/;

const clock = new TestClock(new Date('2026-05-01T12:00:00.000Z'));
let server: TestServer;
let tenant: TestTenant;
let other: TestTenant;

beforeAll(async () => {
  server = await startServer({ clock });
  tenant = await createTenant(server);
  other = await createTenant(server);
});
afterAll(() => server.close());

const api = (
  method: string,
  path: string,
  body?: unknown,
  key = tenant.key,
  headers?: Record<string, string>,
) => call(server, method, `/api/v1${path}`, { key, body, ...(headers ? { headers } : {}) });

let counter = 0;
const uniqueKey = (prefix = 'grp') => `${prefix}-${++counter}-${Date.now().toString(36)}`;

describe('the default group', () => {
  it('exists for every tenant without being created', async () => {
    const fresh = await createTenant(server);
    const response = await api('GET', '/partner-groups/default', undefined, fresh.key);
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({
      id: expect.stringMatching(GROUP_ID),
      key: 'default',
      isDefault: true,
      name: 'Default',
      holdbackDays: 30,
      attributionWindowDays: 30,
      saleCommission: null,
      leadCommission: null,
      recurring: false,
      recurringMonths: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const list = await api('GET', '/partner-groups', undefined, fresh.key);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ key: 'default', isDefault: true });
  });

  it('is one group per tenant, also under concurrent first use', async () => {
    const fresh = await createTenant(server);
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => api('GET', '/partner-groups/default', undefined, fresh.key)),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(answers.map((a) => a.body.data.id)).size).toBe(1);
  });

  it('cannot be shadowed by a new group with key default', async () => {
    const response = await api('POST', '/partner-groups', { key: 'default', name: 'Mine' });
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('group_key_taken');
  });
});

describe('POST /partner-groups', () => {
  it('creates a group with defaults: 201, grp_ id, ETag', async () => {
    const key = uniqueKey();
    const response = await api('POST', '/partner-groups', { key, name: 'Plain' });
    expect(response.status).toBe(201);
    expect(response.headers.get('etag')).toBe('"v1"');
    expect(response.body.data).toEqual({
      id: expect.stringMatching(GROUP_ID),
      key,
      isDefault: false,
      name: 'Plain',
      holdbackDays: 30,
      attributionWindowDays: 30,
      saleCommission: null,
      leadCommission: null,
      recurring: false,
      recurringMonths: null,
      createdAt: '2026-05-01T12:00:00.000Z',
      updatedAt: '2026-05-01T12:00:00.000Z',
    });
  });

  it('stores every rule and shows amounts in each currency’s precision', async () => {
    const key = uniqueKey();
    const response = await api('POST', '/partner-groups', {
      key,
      name: 'Premium',
      holdbackDays: 0,
      attributionWindowDays: 90,
      saleCommission: {
        type: 'fixed',
        amounts: [
          { amount: '10', currency: 'EUR' },
          { amount: '1500', currency: 'JPY' },
          { amount: '2.5', currency: 'BHD' },
        ],
      },
      leadCommission: { amounts: [{ amount: '5.5', currency: 'USD' }] },
      recurring: true,
      recurringMonths: null,
    });
    expect(response.status).toBe(201);
    expect(response.body.data).toMatchObject({
      key,
      holdbackDays: 0,
      attributionWindowDays: 90,
      // Amounts come back sorted by currency code, whatever order they were sent in.
      saleCommission: {
        type: 'fixed',
        amounts: [
          { amount: '2.500', currency: 'BHD' },
          { amount: '10.00', currency: 'EUR' },
          { amount: '1500', currency: 'JPY' },
        ],
      },
      leadCommission: { amounts: [{ amount: '5.50', currency: 'USD' }] },
      recurring: true,
      recurringMonths: null,
    });
    const fetched = await api('GET', `/partner-groups/${response.body.data.id}`);
    expect(fetched.body.data).toEqual(response.body.data);
  });

  it('accepts a percentage rule at both ends of its range and a bounded recurrence', async () => {
    for (const basisPoints of [1, 10_000]) {
      const response = await api('POST', '/partner-groups', {
        key: uniqueKey(),
        name: `bp ${basisPoints}`,
        saleCommission: { type: 'percentage', basisPoints },
        recurring: true,
        recurringMonths: 12,
        holdbackDays: 365,
      });
      expect(response.status).toBe(201);
      expect(response.body.data).toMatchObject({
        saleCommission: { type: 'percentage', basisPoints },
        recurringMonths: 12,
        holdbackDays: 365,
      });
    }
  });

  it('refuses a key already taken: 409 group_key_taken', async () => {
    const key = uniqueKey();
    expect((await api('POST', '/partner-groups', { key, name: 'first' })).status).toBe(201);
    const again = await api('POST', '/partner-groups', { key, name: 'second' });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(again.body).toMatchObject({ status: 409, code: 'group_key_taken' });
  });

  it('lets another tenant use the same key', async () => {
    const key = uniqueKey();
    expect((await api('POST', '/partner-groups', { key, name: 'a' })).status).toBe(201);
    expect((await api('POST', '/partner-groups', { key, name: 'b' }, other.key)).status).toBe(201);
  });

  const fixed = (amounts: { amount: string; currency: string }[]) => ({ type: 'fixed', amounts });
  const cases: [string, Record<string, unknown>, string][] = [
    ['no key', { key: undefined }, 'key'],
    ['no name', { name: undefined }, 'name'],
    ['an upper-case key', { key: 'Gold' }, 'key'],
    ['a key over 64 characters', { key: 'k'.repeat(65) }, 'key'],
    [
      'basisPoints 0',
      { saleCommission: { type: 'percentage', basisPoints: 0 } },
      'saleCommission.basisPoints',
    ],
    [
      'basisPoints 10001',
      { saleCommission: { type: 'percentage', basisPoints: 10_001 } },
      'saleCommission.basisPoints',
    ],
    [
      'fractional basisPoints',
      { saleCommission: { type: 'percentage', basisPoints: 1.5 } },
      'saleCommission.basisPoints',
    ],
    [
      'basisPoints as a string',
      { saleCommission: { type: 'percentage', basisPoints: '2000' } },
      'saleCommission.basisPoints',
    ],
    ['an unknown rule type', { saleCommission: { type: 'tiered', basisPoints: 100 } }, 'saleCommission.type'],
    ['a fixed rule without amounts', { saleCommission: fixed([]) }, 'saleCommission.amounts'],
    [
      'a fixed amount of 0',
      { saleCommission: fixed([{ amount: '0', currency: 'EUR' }]) },
      'saleCommission.amounts.0.amount',
    ],
    [
      'a negative fixed amount',
      { saleCommission: fixed([{ amount: '-1.00', currency: 'EUR' }]) },
      'saleCommission.amounts.0.amount',
    ],
    [
      'EUR with three decimals',
      { saleCommission: fixed([{ amount: '1.001', currency: 'EUR' }]) },
      'saleCommission.amounts.0.amount',
    ],
    [
      'JPY with decimals',
      { saleCommission: fixed([{ amount: '1.5', currency: 'JPY' }]) },
      'saleCommission.amounts.0.amount',
    ],
    [
      'an amount as a number',
      { saleCommission: fixed([{ amount: 10, currency: 'EUR' } as never]) },
      'saleCommission.amounts.0.amount',
    ],
    [
      'a currency listed twice',
      {
        saleCommission: fixed([
          { amount: '1.00', currency: 'EUR' },
          { amount: '2.00', currency: 'EUR' },
        ]),
      },
      'saleCommission.amounts.1.currency',
    ],
    [
      'an unknown currency',
      { saleCommission: fixed([{ amount: '1.00', currency: 'XYZ' }]) },
      'saleCommission.amounts.0.currency',
    ],
    [
      'a lower-case currency',
      { saleCommission: fixed([{ amount: '1.00', currency: 'eur' }]) },
      'saleCommission.amounts.0.currency',
    ],
    [
      'a lead amount of 0',
      { leadCommission: { amounts: [{ amount: '0.00', currency: 'EUR' }] } },
      'leadCommission.amounts.0.amount',
    ],
    [
      'a lead currency listed twice',
      {
        leadCommission: {
          amounts: [
            { amount: '1.00', currency: 'USD' },
            { amount: '1.00', currency: 'USD' },
          ],
        },
      },
      'leadCommission.amounts.1.currency',
    ],
    ['holdbackDays -1', { holdbackDays: -1 }, 'holdbackDays'],
    ['holdbackDays 366', { holdbackDays: 366 }, 'holdbackDays'],
    ['attributionWindowDays 0', { attributionWindowDays: 0 }, 'attributionWindowDays'],
    ['recurringMonths 0', { recurringMonths: 0 }, 'recurringMonths'],
    ['an unknown field', { isDefault: true }, 'isDefault'],
  ];

  it.each(cases)('refuses %s: 400 naming %s', async (_, fields, field) => {
    const body = { key: uniqueKey('bad'), name: 'Invalid', ...fields };
    const response = await api('POST', '/partner-groups', body);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it.each([
    ['a fixed rule without amounts', { type: 'fixed', amounts: [] }, ['saleCommission.amounts', 'too_few']],
    [
      'a percentage of 0',
      { type: 'percentage', basisPoints: 0 },
      ['saleCommission.basisPoints', 'out_of_range'],
    ],
    [
      'a fixed rule with a percentage field',
      { type: 'fixed', basisPoints: 100, amounts: [{ amount: '1.00', currency: 'EUR' }] },
      ['saleCommission.basisPoints', 'unknown_field'],
    ],
  ])('names only what is wrong with the rule its type selects: %s', async (_, saleCommission, expected) => {
    const response = await api('POST', '/partner-groups', {
      key: uniqueKey('rule'),
      name: 'Rule',
      saleCommission,
    });
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string; code: string }) => [e.field, e.code])).toEqual([
      expected,
    ]);
  });

  it('creates nothing for a refused body', async () => {
    const key = uniqueKey('refused');
    await api('POST', '/partner-groups', {
      key,
      name: 'x',
      saleCommission: fixed([{ amount: '1.001', currency: 'EUR' }]),
    });
    expect((await api('GET', `/partner-groups/${key}`)).status).toBe(404);
  });
});

describe('GET /partner-groups/{id}', () => {
  it('finds a group by id and by key, with its ETag', async () => {
    const created = (await api('POST', '/partner-groups', { key: uniqueKey(), name: 'Findable' })).body.data;
    const byId = await api('GET', `/partner-groups/${created.id}`);
    const byKey = await api('GET', `/partner-groups/${created.key}`);
    expect(byId.status).toBe(200);
    expect(byKey.status).toBe(200);
    expect(byId.body.data).toEqual(created);
    expect(byKey.body.data).toEqual(created);
    expect(byId.headers.get('etag')).toBe('"v1"');
  });

  it.each([
    ['an unknown key', 'no-such-group'],
    ['an unknown well-formed id', 'grp_01jd8x3v4w5y6z7a8b9c0d1e2f'],
    ['a malformed id', 'grp_123'],
    ['another resource’s id', 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f'],
  ])('answers 404 for %s', async (_, id) => {
    const response = await api('GET', `/partner-groups/${id}`);
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('not_found');
  });
});

describe('PATCH /partner-groups/{id}', () => {
  it('changes rules and holdback, bumps the ETag and keeps the key', async () => {
    const created = await api('POST', '/partner-groups', { key: uniqueKey(), name: 'Editable' });
    clock.advance(60_000);
    const patched = await api(
      'PATCH',
      `/partner-groups/${created.body.data.id}`,
      {
        saleCommission: { type: 'percentage', basisPoints: 2500 },
        leadCommission: { amounts: [{ amount: '3', currency: 'EUR' }] },
        holdbackDays: 14,
        recurring: true,
        recurringMonths: 6,
      },
      tenant.key,
      { 'if-match': created.headers.get('etag') as string },
    );
    expect(patched.status).toBe(200);
    expect(patched.headers.get('etag')).toBe('"v2"');
    expect(patched.body.data).toMatchObject({
      id: created.body.data.id,
      key: created.body.data.key,
      name: 'Editable',
      saleCommission: { type: 'percentage', basisPoints: 2500 },
      leadCommission: { amounts: [{ amount: '3.00', currency: 'EUR' }] },
      holdbackDays: 14,
      recurring: true,
      recurringMonths: 6,
      createdAt: created.body.data.createdAt,
      updatedAt: new Date(clock.now()).toISOString(),
    });
    const cleared = await api('PATCH', `/partner-groups/${created.body.data.key}`, {
      saleCommission: null,
      leadCommission: null,
      recurringMonths: null,
    });
    expect(cleared.status).toBe(200);
    expect(cleared.body.data).toMatchObject({
      saleCommission: null,
      leadCommission: null,
      recurringMonths: null,
    });
  });

  it('patches the default group by its key', async () => {
    const fresh = await createTenant(server);
    const response = await api(
      'PATCH',
      '/partner-groups/default',
      { saleCommission: { type: 'percentage', basisPoints: 1000 } },
      fresh.key,
    );
    expect(response.status).toBe(200);
    expect(response.body.data).toMatchObject({
      key: 'default',
      isDefault: true,
      saleCommission: { basisPoints: 1000 },
    });
  });

  it('refuses a stale If-Match: 412, nothing changed', async () => {
    const created = await api('POST', '/partner-groups', { key: uniqueKey(), name: 'Raced' });
    const id = created.body.data.id;
    expect((await api('PATCH', `/partner-groups/${id}`, { holdbackDays: 1 })).status).toBe(200);
    const stale = await api('PATCH', `/partner-groups/${id}`, { holdbackDays: 2 }, tenant.key, {
      'if-match': '"v1"',
    });
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe('precondition_failed');
    expect((await api('GET', `/partner-groups/${id}`)).body.data.holdbackDays).toBe(1);
  });

  it.each([
    ['the key', { key: 'renamed' }, 'key'],
    ['isDefault', { isDefault: true }, 'isDefault'],
    ['holdbackDays 366', { holdbackDays: 366 }, 'holdbackDays'],
    [
      'basisPoints 0',
      { saleCommission: { type: 'percentage', basisPoints: 0 } },
      'saleCommission.basisPoints',
    ],
    [
      'JPY with decimals',
      { saleCommission: { type: 'fixed', amounts: [{ amount: '1.5', currency: 'JPY' }] } },
      'saleCommission.amounts.0.amount',
    ],
  ])('refuses %s: 400 naming %s', async (_, body, field) => {
    const created = await api('POST', '/partner-groups', { key: uniqueKey(), name: 'Fixed key' });
    const response = await api('PATCH', `/partner-groups/${created.body.data.id}`, body);
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    const after = await api('GET', `/partner-groups/${created.body.data.id}`);
    expect(after.body.data).toEqual(created.body.data);
  });

  it('answers 404 for an unknown group', async () => {
    const response = await api('PATCH', '/partner-groups/nope', { name: 'x' });
    expect(response.status).toBe(404);
  });

  it('audits rules with their money as the API writes it, decimal strings per currency', async () => {
    const fixed = (amount: string, currency: string) => ({ type: 'fixed', amounts: [{ amount, currency }] });
    const created = await api('POST', '/partner-groups', {
      key: uniqueKey(),
      name: 'Audited',
      leadCommission: { amounts: [{ amount: '5.00', currency: 'EUR' }] },
    });
    const id = created.body.data.id;
    const patched = await api('PATCH', `/partner-groups/${id}`, { saleCommission: fixed('900', 'JPY') });
    expect(patched.status).toBe(200);
    const entries = (await api('GET', `/audit-log?resourceType=partner_group&resourceId=${id}`)).body.data;
    const [updated, createdEntry] = entries;
    expect(createdEntry.changes.leadCommission).toEqual({
      before: null,
      after: { amounts: [{ amount: '5.00', currency: 'EUR' }] },
    });
    expect(updated.changes).toEqual({ saleCommission: { before: null, after: fixed('900', 'JPY') } });
  });

  it('changes sent at once apply one after the other, each audited with the value it replaced', async () => {
    const created = await api('POST', '/partner-groups', { key: uniqueKey(), name: 'Busy', holdbackDays: 0 });
    const id = created.body.data.id;
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => api('PATCH', `/partner-groups/${id}`, { holdbackDays: i + 1 })),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(6).fill(200));
    const entries = await server.services.db
      .selectFrom('auditLog')
      .select('changes')
      .where('tenantId', '=', tenant.id)
      .where('resourceId', '=', id)
      .where('action', '=', 'partner_group.updated')
      .orderBy('id')
      .execute();
    const days = entries.map(
      (entry) =>
        (
          (typeof entry.changes === 'string' ? JSON.parse(entry.changes) : entry.changes) as Record<
            string,
            { before: number; after: number }
          >
        ).holdbackDays!,
    );
    expect(days).toHaveLength(6);
    expect(days.map((change) => change.before)).toEqual([
      0,
      ...days.slice(0, -1).map((change) => change.after),
    ]);
  });
});

describe('GET /partner-groups', () => {
  let listTenant: TestTenant;
  const keys: string[] = [];

  beforeAll(async () => {
    listTenant = await createTenant(server);
    for (const key of ['alpha', 'beta', 'gamma', 'delta']) {
      const response = await api('POST', '/partner-groups', { key, name: key }, listTenant.key);
      keys.push(response.body.data.key);
    }
  });
  // Newest first; the default group was created first (on the first POST).
  const expectedOrder = () => [...keys].reverse().concat('default');

  it('classic mode: page, limit, total, pages; page 1 without page also gives nextCursor', async () => {
    const first = await api('GET', '/partner-groups?limit=2', undefined, listTenant.key);
    expect(first.status).toBe(200);
    expect(first.body.data.map((g: { key: string }) => g.key)).toEqual(expectedOrder().slice(0, 2));
    expect(first.body.pagination).toEqual({
      page: 1,
      limit: 2,
      total: 5,
      pages: 3,
      nextCursor: expect.any(String),
    });
    const third = await api('GET', '/partner-groups?page=3&limit=2', undefined, listTenant.key);
    expect(third.body.data.map((g: { key: string }) => g.key)).toEqual(['default']);
    expect(third.body.pagination).toEqual({ page: 3, limit: 2, total: 5, pages: 3 });
  });

  it('cursor mode walks every group once', async () => {
    const seen: string[] = [];
    let path = '/partner-groups?limit=2';
    for (;;) {
      const response = await api('GET', path, undefined, listTenant.key);
      expect(response.status).toBe(200);
      seen.push(...response.body.data.map((g: { key: string }) => g.key));
      const next = response.body.pagination.nextCursor;
      if (!next) break;
      path = `/partner-groups?limit=2&cursor=${encodeURIComponent(next)}`;
      const page = await api('GET', path, undefined, listTenant.key);
      expect(page.body.pagination).toEqual({ limit: 2, nextCursor: page.body.pagination.nextCursor });
    }
    expect(seen).toEqual(expectedOrder());
  });

  it.each([
    ['limit=0', 'validation_error'],
    ['limit=101', 'validation_error'],
    ['page=0', 'validation_error'],
    ['cursor=garbage', 'invalid_cursor'],
    ['page=1&cursor=djE6Z3JwXzAx', 'validation_error'],
    ['status=default', 'validation_error'],
  ])('refuses ?%s: 400 %s', async (query, code) => {
    const response = await api('GET', `/partner-groups?${query}`, undefined, listTenant.key);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe(code);
  });
});

describe('tenant isolation', () => {
  it('another tenant’s group is a plain 404, by id and by key, for GET and PATCH', async () => {
    const key = uniqueKey('private');
    const created = (await api('POST', '/partner-groups', { key, name: 'Private' })).body.data;
    for (const ref of [created.id, key]) {
      const get = await api('GET', `/partner-groups/${ref}`, undefined, other.key);
      expect(get.status).toBe(404);
      expect(get.body.code).toBe('not_found');
      const patch = await api('PATCH', `/partner-groups/${ref}`, { name: 'Hijacked' }, other.key);
      expect(patch.status).toBe(404);
    }
    expect((await api('GET', `/partner-groups/${created.id}`)).body.data.name).toBe('Private');
  });

  it('lists never show another tenant’s groups', async () => {
    const mine = (await api('POST', '/partner-groups', { key: uniqueKey('mine'), name: 'Mine' })).body.data;
    const theirs = await api('GET', '/partner-groups?limit=100', undefined, other.key);
    expect(theirs.body.data.map((g: { id: string }) => g.id)).not.toContain(mine.id);
    const defaults = theirs.body.data.filter((g: { isDefault: boolean }) => g.isDefault);
    expect(defaults).toHaveLength(1);
    const ownDefault = await api('GET', '/partner-groups/default');
    expect(defaults[0].id).not.toBe(ownDefault.body.data.id);
  });
});

describe('scopes', () => {
  it('partner_groups:read reads but does not write', async () => {
    const reader = (await createKey(server, tenant.key, { name: 'reader', scopes: ['partner_groups:read'] }))
      .key;
    expect((await api('GET', '/partner-groups', undefined, reader)).status).toBe(200);
    expect((await api('GET', '/partner-groups/default', undefined, reader)).status).toBe(200);
    for (const [method, path, body] of [
      ['POST', '/partner-groups', { key: uniqueKey(), name: 'x' }],
      ['PATCH', '/partner-groups/default', { name: 'x' }],
    ] as const) {
      const response = await api(method, path, body, reader);
      expect(response.status).toBe(403);
      expect(response.body).toMatchObject({
        code: 'insufficient_scope',
        requiredScope: 'partner_groups:write',
      });
    }
  });

  it('other scopes do not reach groups at all', async () => {
    const partnersOnly = (
      await createKey(server, tenant.key, { name: 'p', scopes: ['partners:read', 'partners:write'] })
    ).key;
    const list = await api('GET', '/partner-groups', undefined, partnersOnly);
    expect(list.status).toBe(403);
    expect(list.body).toMatchObject({ code: 'insufficient_scope', requiredScope: 'partner_groups:read' });
    const create = await api('POST', '/partner-groups', { key: uniqueKey(), name: 'x' }, partnersOnly);
    expect(create.status).toBe(403);
  });

  it('partner_groups:write creates and patches; the write shorthand covers groups', async () => {
    const writer = (await createKey(server, tenant.key, { name: 'writer', scopes: ['partner_groups:write'] }))
      .key;
    const created = await api('POST', '/partner-groups', { key: uniqueKey(), name: 'by writer' }, writer);
    expect(created.status).toBe(201);
    const shorthand = (await createKey(server, tenant.key, { name: 'w', scopes: ['write'] })).key;
    const patched = await api(
      'PATCH',
      `/partner-groups/${created.body.data.id}`,
      { name: 'renamed' },
      shorthand,
    );
    expect(patched.status).toBe(200);
  });
});
