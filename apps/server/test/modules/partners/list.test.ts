import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../../src/platform/ids.ts';
import { call, createTenant, type TestTenant } from '../../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../../helpers/server.ts';

const clock = new TestClock(new Date('2026-03-01T12:00:00.000Z'));
let server: TestServer;
beforeAll(async () => {
  server = await startServer({ clock });
});
afterAll(() => server.close());

interface Partner {
  id: string;
  email: string;
  name: string | null;
  status: string;
  groupKey: string | null;
  createdAt: string;
}

const list = (tenant: TestTenant, query = '') =>
  call(server, 'GET', `/api/v1/partners${query === '' ? '' : `?${query}`}`, { key: tenant.key });

async function createPartner(tenant: TestTenant, body: Record<string, unknown> = {}): Promise<Partner> {
  const response = await call(server, 'POST', '/api/v1/partners', {
    key: tenant.key,
    body: { email: `${newId('prt').slice(-12)}@example.com`, ...body },
  });
  expect(response.status).toBe(201);
  return response.body.data;
}

/** Creates `count` partners one after another and returns their ids newest first, as lists order them. */
async function createPartners(tenant: TestTenant, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await createPartner(tenant, { name: `Partner ${i}` })).id);
  return ids.reverse();
}

const idsOf = (response: { body: { data: Partner[] } }) => response.body.data.map((p) => p.id);

/** Follows nextCursor from the first page to the last and returns every id seen, in order. */
async function walkCursor(tenant: TestTenant, limit: number, filter = ''): Promise<string[]> {
  const extra = filter === '' ? '' : `&${filter}`;
  let response = await list(tenant, `limit=${limit}${extra}`);
  const seen = idsOf(response);
  let cursor: string | null = response.body.pagination.nextCursor;
  while (cursor !== null) {
    response = await list(tenant, `cursor=${encodeURIComponent(cursor)}&limit=${limit}${extra}`);
    expect(response.status).toBe(200);
    expect(Object.keys(response.body.pagination).sort()).toEqual(['limit', 'nextCursor']);
    seen.push(...idsOf(response));
    cursor = response.body.pagination.nextCursor;
  }
  return seen;
}

describe('classic pagination', () => {
  let tenant: TestTenant;
  let ids: string[];
  beforeAll(async () => {
    tenant = await createTenant(server);
    ids = await createPartners(tenant, 55);
  });

  it('?page=2&limit=50: the rest, with page, limit, total and pages', async () => {
    const response = await list(tenant, 'page=2&limit=50');
    expect(response.status).toBe(200);
    expect(response.body.pagination).toEqual({ page: 2, limit: 50, total: 55, pages: 2 });
    expect(idsOf(response)).toEqual(ids.slice(50));
  });

  it('pages in the middle hold the next rows, newest first', async () => {
    const response = await list(tenant, 'page=3&limit=10');
    expect(response.body.pagination).toEqual({ page: 3, limit: 10, total: 55, pages: 6 });
    expect(idsOf(response)).toEqual(ids.slice(20, 30));
  });

  it('a page past the end is empty but still counts', async () => {
    const response = await list(tenant, 'page=9&limit=10');
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual([]);
    expect(response.body.pagination).toEqual({ page: 9, limit: 10, total: 55, pages: 6 });
  });

  it('neither page nor cursor: page 1 of 50, plus a nextCursor to switch to cursor mode', async () => {
    const response = await list(tenant);
    expect(response.body.pagination).toEqual({
      page: 1,
      limit: 50,
      total: 55,
      pages: 2,
      nextCursor: expect.any(String),
    });
    expect(idsOf(response)).toEqual(ids.slice(0, 50));

    const next = await list(tenant, `cursor=${encodeURIComponent(response.body.pagination.nextCursor)}`);
    expect(idsOf(next)).toEqual(ids.slice(50));
    expect(next.body.pagination).toEqual({ nextCursor: null, limit: 50 });
  });

  it('the seed example: GET /api/v1/partners?limit=10 with X-API-Key or a Bearer token', async () => {
    const withHeader = await list(tenant, 'limit=10');
    expect(withHeader.status).toBe(200);
    expect(idsOf(withHeader)).toEqual(ids.slice(0, 10));
    expect(withHeader.body.pagination).toMatchObject({ page: 1, limit: 10, total: 55, pages: 6 });

    const withBearer = await call(server, 'GET', '/api/v1/partners?limit=10', {
      headers: { authorization: `Bearer ${tenant.key}` },
    });
    expect(withBearer.status).toBe(200);
    expect(idsOf(withBearer)).toEqual(ids.slice(0, 10));
  });
});

describe('cursor pagination', () => {
  it('following nextCursor until null yields every row exactly once, newest first', async () => {
    const tenant = await createTenant(server);
    const ids = await createPartners(tenant, 23);
    for (const limit of [1, 5, 23, 100]) {
      expect(await walkCursor(tenant, limit)).toEqual(ids);
    }
  });

  it('a page that ends exactly at the last row has nextCursor null', async () => {
    const tenant = await createTenant(server);
    const ids = await createPartners(tenant, 4);
    const first = await list(tenant, 'limit=2');
    const second = await list(tenant, `cursor=${first.body.pagination.nextCursor}&limit=2`);
    expect(idsOf(second)).toEqual(ids.slice(2));
    expect(second.body.pagination).toEqual({ nextCursor: null, limit: 2 });
  });

  it('an empty list has no cursor', async () => {
    const tenant = await createTenant(server);
    const response = await list(tenant);
    expect(response.body).toEqual({
      data: [],
      pagination: { page: 1, limit: 50, total: 0, pages: 0, nextCursor: null },
    });
  });

  it('is stable while partners are created: page 2 holds exactly the next older rows', async () => {
    const tenant = await createTenant(server);
    const ids = await createPartners(tenant, 10);

    const first = await list(tenant, 'limit=4');
    expect(idsOf(first)).toEqual(ids.slice(0, 4));
    const newer = await createPartners(tenant, 3);

    const second = await list(tenant, `cursor=${first.body.pagination.nextCursor}&limit=4`);
    expect(idsOf(second)).toEqual(ids.slice(4, 8));
    const third = await list(tenant, `cursor=${second.body.pagination.nextCursor}&limit=4`);
    expect(idsOf(third)).toEqual(ids.slice(8));
    expect(third.body.pagination.nextCursor).toBeNull();

    // Classic mode, by contrast, counts the new rows; they come first.
    const fresh = await list(tenant, 'page=1&limit=4');
    expect(idsOf(fresh).slice(0, 3)).toEqual(newer);
    expect(fresh.body.pagination.total).toBe(13);
  });

  it('a cursor keeps the filter it is used with', async () => {
    const tenant = await createTenant(server);
    const invited: string[] = [];
    for (let i = 0; i < 7; i++) {
      const status = i % 2 === 0 ? 'invited' : 'active';
      const partner = await createPartner(tenant, { status });
      if (status === 'invited') invited.unshift(partner.id);
    }
    expect(await walkCursor(tenant, 2, 'status=invited')).toEqual(invited);
  });
});

describe('bad paging parameters: 400, never clamped', () => {
  const cases: [string, string, string][] = [
    ['limit=0', 'limit=0', 'limit'],
    ['limit=101', 'limit=101', 'limit'],
    ['limit=abc', 'limit=abc', 'limit'],
    ['limit=-1', 'limit=-1', 'limit'],
    ['limit=1.5', 'limit=1.5', 'limit'],
    ['an empty limit', 'limit=', 'limit'],
    ['limit=101 in cursor mode', 'cursor=abc&limit=101', 'limit'],
    ['page=0', 'page=0', 'page'],
    ['page=abc', 'page=abc', 'page'],
    ['page=-2', 'page=-2', 'page'],
    ['an empty cursor', 'cursor=', 'cursor'],
    ['limit=0x10', 'limit=0x10', 'limit'],
    ['limit=1e1', 'limit=1e1', 'limit'],
    ['limit=+5', 'limit=%2B5', 'limit'],
    ['limit=2.0', 'limit=2.0', 'limit'],
    ['a limit with a space', 'limit=%205', 'limit'],
    ['page=0x2', 'page=0x2', 'page'],
    ['page and cursor together', 'page=2&cursor=abc', 'cursor'],
    ['createdFrom after createdTo', 'createdFrom=2026-03-02&createdTo=2026-03-01', 'createdFrom'],
    [
      'createdFrom a moment after createdTo',
      'createdFrom=2026-03-01T10:00:00.001Z&createdTo=2026-03-01T10:00:00.000Z',
      'createdFrom',
    ],
  ];

  it.each(cases)('%s: validation_error on %s', async (_, query, field) => {
    const tenant = await createTenant(server);
    const response = await list(tenant, query);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  const cursors: [string, () => string][] = [
    ['plain garbage', () => 'garbage'],
    ['characters outside base64url', () => '!!!***'],
    ['base64 of something else', () => Buffer.from('hello world').toString('base64url')],
    ['the right prefix and a bad id', () => Buffer.from('v1:prt_123').toString('base64url')],
    ['an unknown version', () => Buffer.from(`v9:${newId('prt')}`).toString('base64url')],
    ['a cursor of another list', () => Buffer.from(`v1:${newId('cus')}`).toString('base64url')],
    ['an id no id can be', () => Buffer.from(`v1:prt_${'z'.repeat(26)}`).toString('base64url')],
    ['text over 200 characters', () => 'a'.repeat(201)],
  ];

  it.each(cursors)('a cursor that is %s: 400 invalid_cursor', async (_, cursor) => {
    const tenant = await createTenant(server);
    await createPartners(tenant, 2);
    const response = await list(tenant, `cursor=${encodeURIComponent(cursor())}&limit=1`);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ status: 400, code: 'invalid_cursor' });
  });

  it('an unknown query parameter: 400 naming it', async () => {
    const tenant = await createTenant(server);
    const response = await list(tenant, 'sort=name');
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      { field: 'sort', code: 'unknown_field', message: expect.stringContaining('sort') },
    ]);
  });
});

describe('filters', () => {
  it('status, groupKey and both together (the seed example ?status=active&groupKey=premium)', async () => {
    const tenant = await createTenant(server);
    const make = (status: string, groupKey?: string) =>
      createPartner(tenant, { status, ...(groupKey ? { groupKey } : {}) }).then((p) => p.id);
    const activePremium = [await make('active', 'premium'), await make('active', 'premium')].reverse();
    const invitedPremium = await make('invited', 'premium');
    const activeBasic = await make('active', 'basic');
    const revoked = await make('revoked');
    const activeNoGroup = await make('active');

    const both = await list(tenant, 'status=active&groupKey=premium');
    expect(both.status).toBe(200);
    expect(idsOf(both)).toEqual(activePremium);
    expect(both.body.pagination.total).toBe(2);

    expect(idsOf(await list(tenant, 'status=active'))).toEqual([
      activeNoGroup,
      activeBasic,
      ...activePremium,
    ]);
    expect(idsOf(await list(tenant, 'status=revoked'))).toEqual([revoked]);
    expect(idsOf(await list(tenant, 'groupKey=premium'))).toEqual([invitedPremium, ...activePremium]);
    expect(idsOf(await list(tenant, 'groupKey=gold'))).toEqual([]);
  });

  it('q: name or email contains, case-insensitive', async () => {
    const tenant = await createTenant(server);
    const ada = await createPartner(tenant, { name: 'Ada Lovelace', email: 'countess@example.com' });
    const grace = await createPartner(tenant, { name: 'Grace Hopper', email: 'grace@navy.example' });
    const nameless = await createPartner(tenant, { email: 'LOVELACE.fan@example.org' });

    expect(idsOf(await list(tenant, 'q=lovelace'))).toEqual([nameless.id, ada.id]);
    expect(idsOf(await list(tenant, 'q=HOPPER'))).toEqual([grace.id]);
    expect(idsOf(await list(tenant, 'q=navy.EXAMPLE'))).toEqual([grace.id]);
    expect(idsOf(await list(tenant, 'q=example'))).toEqual([nameless.id, grace.id, ada.id]);
    expect(idsOf(await list(tenant, 'q=nobody'))).toEqual([]);
  });

  it('q finds the exact stored text of any script, whatever case the letters fold to', async () => {
    const tenant = await createTenant(server);
    const sisyphus = await createPartner(tenant, { name: 'ΣΊΣΥΦΟΣ Trading' });
    const istanbul = await createPartner(tenant, { name: 'İstanbul Ltd' });
    const q = async (text: string) => idsOf(await list(tenant, `q=${encodeURIComponent(text)}`));
    expect(await q('ΣΊΣΥΦΟΣ')).toEqual([sisyphus.id]);
    expect(await q('ΣΊΣΥΦΟΣ Trading')).toEqual([sisyphus.id]);
    expect(await q('İstanbul')).toEqual([istanbul.id]);
    expect(await q('İSTANBUL LTD')).toEqual([istanbul.id]);
  });

  it('q finds a letter with a mark whether it is written as one character or as two', async () => {
    const tenant = await createTenant(server);
    // Ä as one character (NFC) and as A plus a combining diaeresis (NFD, as some keyboards send it).
    const composed = await createPartner(tenant, { name: '\u00c4rger GmbH' });
    const decomposed = await createPartner(tenant, { name: 'Gr\u0075\u0308n AG' });
    const q = async (text: string) => idsOf(await list(tenant, `q=${encodeURIComponent(text)}`));
    expect(await q('A\u0308rger')).toEqual([composed.id]);
    expect(await q('\u00e4rger')).toEqual([composed.id]);
    expect(await q('gr\u00fcn')).toEqual([decomposed.id]);
    expect(await q('GRU\u0308N')).toEqual([decomposed.id]);
  });

  it('q takes %, _ and \\ literally', async () => {
    const tenant = await createTenant(server);
    const percent = await createPartner(tenant, { name: '100% Club' });
    const underscore = await createPartner(tenant, { name: 'snake_case', email: 'plain@example.com' });
    const backslash = await createPartner(tenant, { name: 'back\\slash' });
    await createPartner(tenant, { name: 'Ordinary' });

    expect(idsOf(await list(tenant, `q=${encodeURIComponent('%')}`))).toEqual([percent.id]);
    expect(idsOf(await list(tenant, `q=${encodeURIComponent('0%')}`))).toEqual([percent.id]);
    expect(idsOf(await list(tenant, 'q=_'))).toEqual([underscore.id]);
    expect(idsOf(await list(tenant, 'q=e_c'))).toEqual([underscore.id]);
    expect(idsOf(await list(tenant, `q=${encodeURIComponent('\\')}`))).toEqual([backslash.id]);
    expect(idsOf(await list(tenant, `q=${encodeURIComponent('%%')}`))).toEqual([]);
  });

  it.each([
    ['status=paused', 'status'],
    ['groupKey=Not%20Valid', 'groupKey'],
    ['q=', 'q'],
    [`q=${'q'.repeat(101)}`, 'q'],
  ])('%s: 400 validation_error', async (query, field) => {
    const tenant = await createTenant(server);
    const response = await list(tenant, query);
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });
});

describe('createdFrom and createdTo', () => {
  let tenant: TestTenant;
  const at: Record<string, string> = {};
  const days = {
    feb28Late: '2026-02-28T23:59:59.999Z',
    mar1Start: '2026-03-01T00:00:00.000Z',
    mar1Late: '2026-03-01T23:59:59.999Z',
    mar2Start: '2026-03-02T00:00:00.000Z',
    mar5Noon: '2026-03-05T12:00:00.000Z',
  };

  beforeAll(async () => {
    tenant = await createTenant(server);
    for (const [name, time] of Object.entries(days)) {
      clock.set(new Date(time));
      const partner = await createPartner(tenant, { name });
      expect(partner.createdAt).toBe(time);
      at[name] = partner.id;
    }
  });

  const names = async (query: string) => {
    const response = await list(tenant, query);
    expect(response.status).toBe(200);
    return response.body.data.map((p: Partner) => p.name).sort();
  };

  it('YYYY-MM-DD covers the whole UTC day, inclusive at both ends', async () => {
    expect(await names('createdFrom=2026-03-01&createdTo=2026-03-01')).toEqual(['mar1Late', 'mar1Start']);
    expect(await names('createdFrom=2026-03-02')).toEqual(['mar2Start', 'mar5Noon']);
    expect(await names('createdTo=2026-03-01')).toEqual(['feb28Late', 'mar1Late', 'mar1Start']);
    expect(await names('createdFrom=2026-02-28&createdTo=2026-03-02')).toEqual([
      'feb28Late',
      'mar1Late',
      'mar1Start',
      'mar2Start',
    ]);
    expect(await names('createdFrom=2026-03-03&createdTo=2026-03-04')).toEqual([]);
  });

  it('full timestamps are exact bounds, inclusive', async () => {
    expect(await names('createdFrom=2026-03-01T23:59:59.999Z&createdTo=2026-03-02T00:00:00.000Z')).toEqual([
      'mar1Late',
      'mar2Start',
    ]);
    expect(await names('createdFrom=2026-03-01T00:00:00.001Z&createdTo=2026-03-01T23:59:59.998Z')).toEqual(
      [],
    );
    expect(await names('createdTo=2026-03-01T00:00:00Z')).toEqual(['feb28Late', 'mar1Start']);
  });

  it('a bound with a part of a millisecond: from starts after that millisecond, to ends within it', async () => {
    // mar1Late was created at 23:59:59.999: not at or after .999001, but at or before it.
    expect(await names('createdFrom=2026-03-01T23:59:59.999001Z&createdTo=2026-03-02')).toEqual([
      'mar2Start',
    ]);
    expect(await names('createdFrom=2026-03-01T23:59:59.9990Z&createdTo=2026-03-02')).toEqual([
      'mar1Late',
      'mar2Start',
    ]);
    expect(await names('createdFrom=2026-03-01&createdTo=2026-03-01T23:59:59.999001Z')).toEqual([
      'mar1Late',
      'mar1Start',
    ]);
  });

  it('timestamps with an offset are converted to UTC', async () => {
    const from = encodeURIComponent('2026-03-02T00:30:00+01:00');
    expect(await names(`createdFrom=${from}&createdTo=2026-03-02`)).toEqual(['mar1Late', 'mar2Start']);
  });

  it('combine with the other filters and with cursor paging', async () => {
    expect(await names('createdFrom=2026-03-01&q=mar1')).toEqual(['mar1Late', 'mar1Start']);
    const walked = await walkCursor(tenant, 1, 'createdFrom=2026-03-01&createdTo=2026-03-02');
    expect(walked).toEqual([at.mar2Start, at.mar1Late, at.mar1Start]);
  });

  it.each([
    ['createdFrom=2026-02-31', 'createdFrom'],
    ['createdTo=2026-02-29', 'createdTo'],
    ['createdFrom=2026-13-01', 'createdFrom'],
    ['createdFrom=2026-00-10', 'createdFrom'],
    ['createdFrom=2026-3-1', 'createdFrom'],
    ['createdFrom=yesterday', 'createdFrom'],
    ['createdFrom=1714560000', 'createdFrom'],
    [`createdFrom=${encodeURIComponent('2026-02-30T00:00:00Z')}`, 'createdFrom'],
    [`createdTo=${encodeURIComponent('2026-03-01T25:00:00Z')}`, 'createdTo'],
    ['createdTo=2026-03-01T12:00:00', 'createdTo'],
  ])('%s: 400 validation_error naming %s', async (query, field) => {
    const response = await list(tenant, query);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });
});
