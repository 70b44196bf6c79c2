import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneUsage } from '../../src/platform/usage/retention.ts';
import { call, createKey, createTenant, PARTNER_ROUTE_FORMS, type TestTenant } from '../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../helpers/server.ts';

// A Wednesday, mid-hour: every request of the first round falls into one minute, hour, day, ISO week
// (from Monday 2026-05-04) and month; the second round is one day later.
const DAY_ONE = new Date('2026-05-06T12:34:10.000Z');
const DAY_MS = 86_400_000;
const clock = new TestClock(DAY_ONE);
let server: TestServer;
let tenant: TestTenant;
let other: TestTenant;
let reader: { id: string; key: string };
let limited: { id: string; key: string };

const COUNTS = ['requests', 'successes', 'clientErrors', 'serverErrors', 'rateLimited'] as const;
type Counts = Record<(typeof COUNTS)[number], number>;

/** The counters of a list of points, added up. */
function sum(points: Counts[]): Counts {
  const total = { requests: 0, successes: 0, clientErrors: 0, serverErrors: 0, rateLimited: 0 };
  for (const point of points) for (const name of COUNTS) total[name] += point[name];
  return total;
}

const usage = (query: string, key = tenant.key) => call(server, 'GET', `/api/v1/usage?${query}`, { key });

/** What `reader` sent in the first round, by route. */
const READER = {
  '/api/v1/partners': { requests: 4, successes: 3, clientErrors: 1, serverErrors: 0, rateLimited: 0 },
  '/api/v1/partners/{id}': { requests: 2, successes: 0, clientErrors: 2, serverErrors: 0, rateLimited: 0 },
  '/api/v1/customers': { requests: 1, successes: 0, clientErrors: 1, serverErrors: 0, rateLimited: 0 },
};
const READER_TOTAL = { requests: 7, successes: 3, clientErrors: 4, serverErrors: 0, rateLimited: 0 };
const LIMITED_TOTAL = { requests: 3, successes: 2, clientErrors: 1, serverErrors: 0, rateLimited: 1 };

beforeAll(async () => {
  server = await startServer({ clock });
  tenant = await createTenant(server);
  other = await createTenant(server);
  reader = await createKey(server, tenant.key, { name: 'reader', scopes: ['partners:read'] });
  const created = await call(server, 'POST', '/api/v1/api-keys', {
    key: tenant.key,
    body: { name: 'limited', scopes: ['read'], rateLimit: { limit: 2, windowSeconds: 60 } },
  });
  expect(created.status).toBe(201);
  limited = { id: created.body.data.id, key: created.body.data.key };

  const send = async (key: string, path: string, status: number) => {
    const response = await call(server, 'GET', path, { key });
    expect(response.status, path).toBe(status);
  };
  // reader: 3 × 200 and a 400 on the list (one through the tenant's own URL), 2 × 404, 1 × 403.
  await send(reader.key, '/api/v1/partners', 200);
  await send(reader.key, '/api/v1/partners?status=active', 200);
  await send(reader.key, `/api/t/${tenant.slug}/v1/partners`, 200);
  await send(reader.key, '/api/v1/partners?limit=500', 400);
  await send(reader.key, '/api/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f', 404);
  await send(reader.key, '/api/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e3g', 404);
  await send(reader.key, '/api/v1/customers', 403);
  // limited: 2 × 200, then 429.
  await send(limited.key, '/api/v1/partners', 200);
  await send(limited.key, '/api/v1/partners', 200);
  await send(limited.key, '/api/v1/partners', 429);
  // Traffic of another tenant must never show up in this one's figures.
  const stranger = await createKey(server, other.key, { name: 'stranger', scopes: ['partners:read'] });
  for (let i = 0; i < 5; i++) await send(stranger.key, '/api/v1/partners', 200);
  await server.services.requestRecorder.flush();
});
afterAll(() => server.close());

describe('GET /api/v1/usage', () => {
  it.each(['minute', 'hour', 'day', 'week', 'month'])(
    'granularity=%s: one point holding exactly the requests sent',
    async (granularity) => {
      for (const [key, expected] of [
        [reader, READER_TOTAL],
        [limited, LIMITED_TOTAL],
      ] as const) {
        const response = await usage(`granularity=${granularity}&keyId=${key.id}`);
        expect(response.status).toBe(200);
        expect(response.body.data).toHaveLength(1);
        expect(response.body.data[0]).toMatchObject(expected);
        expect(response.body.totals).toMatchObject(expected);
        expect(response.body.meta).toMatchObject({ granularity, groupBy: null });
      }
    },
  );

  it('buckets are UTC minutes, hours, days, ISO weeks and months', async () => {
    const starts: Record<string, [string, string]> = {
      minute: ['2026-05-06T12:34:00.000Z', '2026-05-06T12:35:00.000Z'],
      hour: ['2026-05-06T12:00:00.000Z', '2026-05-06T13:00:00.000Z'],
      day: ['2026-05-06T00:00:00.000Z', '2026-05-07T00:00:00.000Z'],
      week: ['2026-05-04T00:00:00.000Z', '2026-05-11T00:00:00.000Z'],
      month: ['2026-05-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z'],
    };
    for (const [granularity, [start, end]] of Object.entries(starts)) {
      const response = await usage(`granularity=${granularity}&keyId=${reader.id}`);
      expect(response.body.data[0], granularity).toMatchObject({ start, end });
    }
  });

  it('groupBy=key: each key with exactly its own requests', async () => {
    const response = await usage('granularity=hour&groupBy=key');
    expect(response.status).toBe(200);
    const byKey = Object.fromEntries(response.body.data.map((point: any) => [point.keyId, point]));
    expect(byKey[reader.id]).toMatchObject(READER_TOTAL);
    expect(byKey[limited.id]).toMatchObject(LIMITED_TOTAL);
    // The tenant's admin key made the setup calls; the platform admin key created the first key.
    expect(byKey[tenant.keyId].requests).toBeGreaterThan(0);
    expect(byKey.null.requests).toBe(1);
    expect(response.body.totals.requests).toBe(sum(response.body.data).requests);
  });

  it('groupBy=route: route templates, the tenant-slug URL counted under /api/v1', async () => {
    const response = await usage(`groupBy=route&keyId=${reader.id}`);
    expect(response.status).toBe(200);
    const byRoute = Object.fromEntries(response.body.data.map((point: any) => [point.route, point]));
    expect(Object.keys(byRoute).sort()).toEqual(Object.keys(READER).sort());
    for (const [route, expected] of Object.entries(READER)) {
      expect(byRoute[route]).toMatchObject({ ...expected, method: 'GET' });
    }
  });

  it('errorRate: the share of 4xx and 5xx answers, per point and in totals', async () => {
    const reads = await usage(`granularity=hour&keyId=${reader.id}`);
    expect(reads.body.data[0].errorRate).toBe(0.5714); // 4 of 7
    expect(reads.body.totals.errorRate).toBe(0.5714);
    const byClass = await usage(`groupBy=status&keyId=${limited.id}`);
    const rates = Object.fromEntries(
      byClass.body.data.map((point: any) => [point.statusClass, point.errorRate]),
    );
    expect(rates).toEqual({ '2xx': 0, '4xx': 1 });
    expect(byClass.body.totals.errorRate).toBe(0.3333); // 1 of 3
  });

  it('groupBy=status: per status class', async () => {
    const response = await usage(`groupBy=status&keyId=${limited.id}`);
    const byClass = Object.fromEntries(response.body.data.map((point: any) => [point.statusClass, point]));
    expect(Object.keys(byClass).sort()).toEqual(['2xx', '4xx']);
    expect(byClass['2xx']).toMatchObject({ requests: 2, successes: 2, clientErrors: 0 });
    expect(byClass['4xx']).toMatchObject({ requests: 1, clientErrors: 1, rateLimited: 1 });
  });

  it('filters by route and method', async () => {
    const response = await usage(`keyId=${reader.id}&route=${encodeURIComponent('/api/v1/partners/{id}')}`);
    expect(response.body.totals).toMatchObject(READER['/api/v1/partners/{id}']);
    const none = await usage(`keyId=${reader.id}&method=POST`);
    expect(none.body.data).toEqual([]);
    expect(none.body.totals).toMatchObject({
      requests: 0,
      errorRate: null,
      latency: { p50: null, p95: null, p99: null },
    });
  });

  it.each(PARTNER_ROUTE_FORMS)('route=%s filters by the route /api/v1/partners/{id}', async (form) => {
    const route = encodeURIComponent(form.replace('TENANT', tenant.slug));
    const response = await usage(`keyId=${reader.id}&route=${route}&groupBy=route`);
    expect(response.status).toBe(200);
    expect(response.body.totals).toMatchObject(READER['/api/v1/partners/{id}']);
    expect(response.body.data.map((point: any) => point.route)).toEqual(['/api/v1/partners/{id}']);
    const ofKey = await call(server, 'GET', `/api/v1/api-keys/${reader.id}/usage?route=${route}`, {
      key: tenant.key,
    });
    expect(ofKey.status).toBe(200);
    expect(ofKey.body.totals).toMatchObject(READER['/api/v1/partners/{id}']);
  });

  it('route=unmatched: the requests no route matched', async () => {
    const key = await createKey(server, other.key, { name: 'mistyped', scopes: ['partners:read'] });
    expect((await call(server, 'GET', '/api/v1/partner', { key: key.key })).status).toBe(404);
    await server.services.requestRecorder.flush();
    const response = await usage(`keyId=${key.id}&route=unmatched&groupBy=route`, other.key);
    expect(response.status).toBe(200);
    expect(response.body.data).toMatchObject([{ route: 'unmatched', method: 'GET', requests: 1 }]);
  });

  it.each([
    '/api/v1/partner/{id}',
    '/partners/{partnerId}',
    '/api/admin/tenants',
    '/api/v2/partners',
    'partners',
  ])('route=%s, no route of the tenant API, is a 400 naming the form expected', async (form) => {
    const route = encodeURIComponent(form);
    for (const path of [
      `/api/v1/usage?route=${route}`,
      `/api/v1/api-keys/${reader.id}/usage?route=${route}`,
    ]) {
      const response = await call(server, 'GET', path, { key: tenant.key });
      expect(response.status, path).toBe(400);
      expect(response.body.code).toBe('validation_error');
      expect(response.body.errors).toEqual([
        { field: 'route', code: 'invalid_value', message: expect.stringContaining('/api/v1/partners/{id}') },
      ]);
    }
  });

  it('a from in the future without to says that to defaults to now', async () => {
    const response = await usage('from=2027-01-01');
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors).toEqual([
      { field: 'from', code: 'out_of_range', message: 'from is in the future; to defaults to now' },
    ]);
    const reversed = await usage('from=2027-01-01&to=2026-05-01');
    expect(reversed.body.errors).toEqual([
      { field: 'from', code: 'out_of_range', message: 'from must not be after to' },
    ]);
  });

  it('latency percentiles in milliseconds, ordered', async () => {
    const { latency } = (await usage(`keyId=${reader.id}`)).body.totals;
    expect(latency.p50).toBeGreaterThan(0);
    expect(latency.p50).toBeLessThanOrEqual(latency.p95);
    expect(latency.p95).toBeLessThanOrEqual(latency.p99);
    expect(latency.p99).toBeLessThanOrEqual(60_000);
  });

  it('a key without usage:read gets 403', async () => {
    const partnersOnly = await createKey(server, tenant.key, {
      name: 'partners only',
      scopes: ['partners:read'],
    });
    const response = await usage('', partnersOnly.key);
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ code: 'insufficient_scope', requiredScope: 'usage:read' });
  });

  it("another tenant's figures hold none of these requests", async () => {
    const mine = await usage(`granularity=day&groupBy=key&keyId=${reader.id}`, other.key);
    expect(mine.body.data).toEqual([]);
    const theirs = await usage('granularity=day&groupBy=key', other.key);
    const ids = theirs.body.data.map((point: any) => point.keyId);
    expect(ids).not.toContain(reader.id);
    expect(ids).not.toContain(limited.id);
    expect(sum(theirs.body.data).requests).toBeGreaterThanOrEqual(5);
  });

  it.each([
    ['an unknown granularity', 'granularity=year', 'granularity'],
    ['an unknown groupBy', 'groupBy=tenant', 'groupBy'],
    ['an unknown parameter', 'keyID=x', 'keyID'],
    ['a malformed date', 'from=yesterday', 'from'],
    ['an impossible date', 'from=2026-02-30', 'from'],
    ['from after to', 'from=2026-05-06&to=2026-05-01', 'from'],
    ['from after to within one day', 'from=2026-05-06T20:00:00Z&to=2026-05-06T10:00:00Z', 'from'],
    [
      'from after to within one minute',
      'granularity=minute&from=2026-05-06T12:34:30Z&to=2026-05-06T12:34:10Z',
      'from',
    ],
    ['more than 1,500 points', 'granularity=minute&from=2026-05-05T00:00:00Z', 'granularity'],
    ['minutes older than 7 days', 'granularity=minute&from=2026-04-20&to=2026-04-20T12:00:00Z', 'from'],
    ['hours older than 90 days', 'granularity=hour&from=2026-01-01&to=2026-01-02', 'from'],
  ])('%s is a 400', async (_, query, field) => {
    const response = await usage(query);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: any) => e.field)).toContain(field);
  });
});

describe('GET /api/v1/api-keys/{id}/usage', () => {
  it('is GET /usage for that key', async () => {
    for (const granularity of ['minute', 'day', 'month']) {
      const response = await call(
        server,
        'GET',
        `/api/v1/api-keys/${limited.id}/usage?granularity=${granularity}`,
        {
          key: tenant.key,
        },
      );
      expect(response.status).toBe(200);
      expect(response.body.totals).toMatchObject(LIMITED_TOTAL);
    }
    const byRoute = await call(server, 'GET', `/api/v1/api-keys/${reader.id}/usage?groupBy=route`, {
      key: tenant.key,
    });
    expect(byRoute.body.data.map((point: any) => point.route).sort()).toEqual(Object.keys(READER).sort());
  });

  it("another tenant's key and unknown ids are 404", async () => {
    for (const id of [reader.id, 'key_01jd8x3v4w5y6z7a8b9c0d1e2f', 'nonsense']) {
      const response = await call(server, 'GET', `/api/v1/api-keys/${id}/usage`, { key: other.key });
      expect(response.status, id).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
  });

  it('takes no keyId or groupBy=key, and needs api_keys:read', async () => {
    const path = `/api/v1/api-keys/${reader.id}/usage`;
    expect((await call(server, 'GET', `${path}?keyId=${limited.id}`, { key: tenant.key })).status).toBe(400);
    expect((await call(server, 'GET', `${path}?groupBy=key`, { key: tenant.key })).status).toBe(400);
    const usageOnly = await createKey(server, tenant.key, { name: 'usage only', scopes: ['usage:read'] });
    const refused = await call(server, 'GET', path, { key: usageOnly.key });
    expect(refused.status).toBe(403);
    expect(refused.body.requiredScope).toBe('api_keys:read');
  });
});

describe('a flush the database refuses', () => {
  it('keeps its counts and adds them to what came after, in one write', async () => {
    const key = await createKey(server, other.key, { name: 'through an outage', scopes: ['partners:read'] });
    const send = async (path: string, status: number) => {
      expect((await call(server, 'GET', path, { key: key.key })).status).toBe(status);
    };
    const meter = server.services.requestRecorder.usage;
    const { db } = server.services;
    await send('/api/v1/partners', 200);
    await send('/api/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f', 404);
    // The hour table gone: the flush's transaction fails after writing its minutes, and rolls back.
    await sql`alter table usage_hour rename to usage_hour_away`.execute(db);
    try {
      await server.services.requestRecorder.flush();
      expect(meter.failures).toBeGreaterThan(0);
      expect(meter.pendingCount).toBeGreaterThan(0);
      await send('/api/v1/partners', 200);
      await send('/api/v1/partners', 200);
      await send('/api/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f', 404);
    } finally {
      await sql`alter table usage_hour_away rename to usage_hour`.execute(db);
    }
    await server.services.requestRecorder.flush();
    expect(meter.failures).toBe(0);
    expect(meter.pendingCount).toBe(0);
    for (const granularity of ['minute', 'hour', 'day']) {
      const response = await usage(`granularity=${granularity}&groupBy=route&keyId=${key.id}`, other.key);
      expect(response.status).toBe(200);
      const byRoute = Object.fromEntries(
        response.body.data.map((point: any) => [
          point.route,
          [point.requests, point.successes, point.clientErrors],
        ]),
      );
      expect(byRoute, granularity).toEqual({
        '/api/v1/partners': [3, 3, 0],
        '/api/v1/partners/{id}': [2, 0, 2],
      });
    }
  });
});

describe('stored latency histograms', () => {
  it('add up element by element, to the longer array, a missing one counting as empty', async () => {
    const { rows } = await sql<Record<'added' | 'empty' | 'total', (number | string)[]>>`
      select
        usage_histogram_add('{1,2,3}'::bigint[], '{10,20}'::bigint[]) as added,
        usage_histogram_add(null, null) as empty,
        (select usage_histogram_sum(h) from (values ('{1,0,5}'::bigint[]), ('{2}'), (null), ('{0,0,0,7}')) v (h))
          as total
    `.execute(server.services.db);
    const row = rows[0]!;
    expect([row.added, row.empty, row.total].map((histogram) => histogram.map(Number))).toEqual([
      [11, 22, 3],
      [],
      [3, 0, 5, 7],
    ]);
  });
});

describe('flushes within a minute', () => {
  it('counts every request of a key and route, before and after each flush', async () => {
    const key = await createKey(server, other.key, { name: 'between flushes', scopes: ['partners:read'] });
    for (const requests of [2, 3, 1]) {
      for (let i = 0; i < requests; i++) {
        expect((await call(server, 'GET', '/api/v1/partners', { key: key.key })).status).toBe(200);
      }
      await server.services.requestRecorder.flush();
    }
    const response = await usage(`granularity=minute&keyId=${key.id}`, other.key);
    expect(response.body.data.map((point: any) => point.requests)).toEqual([6]);
  });
});

describe('the next day', () => {
  it('rolls the next day up into its own day, and both into the week and month', async () => {
    // Last in the file: the clock only moves forward, or the rate limiter would refuse the past.
    clock.set(new Date(DAY_ONE.getTime() + DAY_MS));
    for (let i = 0; i < 2; i++) {
      expect((await call(server, 'GET', '/api/v1/partners', { key: reader.key })).status).toBe(200);
    }
    await server.services.requestRecorder.flush();
    const days = await usage(`granularity=day&keyId=${reader.id}&from=2026-05-06&to=2026-05-07`);
    expect(days.body.data.map((point: any) => [point.start.slice(0, 10), point.requests])).toEqual([
      ['2026-05-06', 7],
      ['2026-05-07', 2],
    ]);
    expect(days.body.meta).toMatchObject({
      from: '2026-05-06T00:00:00.000Z',
      to: '2026-05-08T00:00:00.000Z',
    });
    for (const granularity of ['week', 'month']) {
      const response = await usage(`granularity=${granularity}&keyId=${reader.id}`);
      expect(response.body.data.map((point: any) => point.requests)).toEqual([9]);
    }
    const hours = await usage(`granularity=hour&keyId=${reader.id}&from=2026-05-06T00:00:00Z`);
    expect(hours.body.data.map((point: any) => point.requests)).toEqual([7, 2]);
    expect(sum(hours.body.data)).toMatchObject({ requests: 9, successes: 5 });
  });
});

describe('usage retention', () => {
  const rows = async (table: string) =>
    Number(
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from ${sql.table(table)} where tenant_id = ${tenant.id}`.execute(
          server.services.db,
        )
      ).rows[0]?.n,
    );

  /** Prunes as the job would at `at`, then asks GET /usage at that time; the clock is put back. */
  async function prunedAt(at: number, query: string) {
    const before = clock.now();
    try {
      clock.set(new Date(at));
      await pruneUsage(server.services.db, clock.now());
      return await usage(query);
    } finally {
      clock.set(before);
    }
  }

  it('keeps the minute the cutoff falls in, which GET /usage still answers for', async () => {
    // 7 days and 30 s after the first round's minute (12:34:10): the cutoff, 12:34:40, is in it.
    const minutes = await prunedAt(
      DAY_ONE.getTime() + 7 * DAY_MS + 30_000,
      `granularity=minute&keyId=${reader.id}&from=2026-05-06T12:34:00Z&to=2026-05-06T12:34:59Z`,
    );
    expect(minutes.status).toBe(200);
    expect(minutes.body.totals.requests).toBe(READER_TOTAL.requests);
  });

  it('deletes minutes after 7 days and hours after 90; days stay', async () => {
    expect(await rows('usage_minute')).toBeGreaterThan(0);
    const job = server.services.requestRecorder.jobs().find((j) => j.name === 'usage-retention');
    expect(job).toBeDefined();
    await job?.run();
    expect(await rows('usage_minute')).toBeGreaterThan(0);

    const dayTwo = DAY_ONE.getTime() + DAY_MS;
    await pruneUsage(server.services.db, new Date(dayTwo + 8 * DAY_MS));
    expect(await rows('usage_minute')).toBe(0);
    expect(await rows('usage_hour')).toBeGreaterThan(0);
    // 90 days and 34 minutes after the first round's hour (12:00): the cutoff is in that hour, kept.
    const hours = await prunedAt(
      DAY_ONE.getTime() + 90 * DAY_MS,
      `granularity=hour&keyId=${reader.id}&from=2026-05-06T12:00:00Z&to=2026-05-06`,
    );
    expect(hours.status).toBe(200);
    expect(hours.body.totals.requests).toBe(READER_TOTAL.requests);
    await pruneUsage(server.services.db, new Date(dayTwo + 91 * DAY_MS));
    expect(await rows('usage_hour')).toBe(0);
    const days = await usage(`granularity=day&keyId=${reader.id}&from=2026-05-06&to=2026-05-07`);
    expect(days.body.data.map((point: any) => point.requests)).toEqual([7, 2]);
  });
});
