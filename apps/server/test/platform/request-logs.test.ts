import { request as httpRequest } from 'node:http';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { migrate } from '../../src/platform/db/migrate.ts';
import { newId } from '../../src/platform/ids.ts';
import {
  listRequestLogPartitions,
  maintainRequestLogPartitions,
} from '../../src/platform/request-logs/partitions.ts';
import { fileUnpostedRequestLogs } from '../../src/platform/request-logs/repair.ts';
import { type RequestLogEntry, RequestLogWriter } from '../../src/platform/request-logs/writer.ts';
import { call, createKey, createTenant, PARTNER_ROUTE_FORMS, type TestTenant } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, TestClock, type TestServer } from '../helpers/server.ts';

const DAY_MS = 86_400_000;

let server: TestServer;
let tenant: TestTenant;
let other: TestTenant;
let live: { id: string; key: string };
let sandbox: { id: string; key: string };
/** Request ids of the live key's requests, in the order sent. */
const sent: { id: string; status: number; bytes: number }[] = [];

const logs = (query = '', key = tenant.key) => call(server, 'GET', `/api/v1/request-logs?${query}`, { key });

async function send(key: string, path: string, status: number, headers: Record<string, string> = {}) {
  const response = await call(server, 'GET', path, { key, headers });
  expect(response.status, path).toBe(status);
  return response;
}

/** A log line of the live key, appended directly to the writer as the response hook would. */
function line(fields: Partial<RequestLogEntry> = {}): RequestLogEntry {
  return {
    id: newId('req'),
    tenantId: tenant.id,
    createdAt: server.services.clock.now(),
    keyId: live.id,
    method: 'GET',
    path: '/api/v1/partners',
    route: '/api/v1/partners',
    status: 200,
    latencyMs: 1.5,
    ip: '127.0.0.1',
    userAgent: null,
    responseBytes: 42,
    errorCode: null,
    ...fields,
  };
}

const BASE32 = '0123456789abcdefghjkmnpqrstvwxyz';

/** A request id made at `ms`: its first ten characters are the 48-bit millisecond time. */
function idAt(ms: number, tail: string): string {
  let time = '';
  for (let shift = 45; shift >= 0; shift -= 5) time += BASE32[Math.floor(ms / 2 ** shift) % 32];
  return `req_${time}${tail.padStart(16, '0')}`;
}

/** The writer, with its timer stopped for the test: only the flushes the test calls may write. */
async function heldWriter() {
  const { requestLogs } = server.services.requestRecorder;
  await requestLogs.stop();
  onTestFinished(() => requestLogs.start());
  return requestLogs;
}

beforeAll(async () => {
  server = await startServer();
  tenant = await createTenant(server);
  other = await createTenant(server);
  live = await createKey(server, tenant.key, { name: 'live', scopes: ['partners:read'] });
  sandbox = await createKey(server, tenant.key, {
    name: 'sandbox',
    scopes: ['partners:read'],
    environment: 'test',
  });
  const ua = { 'user-agent': 'crm-sync/1.4' };
  const requests: [string, number][] = [
    ['/api/v1/partners?q=ada%40example.com&groupKey=secret-search', 200],
    ['/api/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f', 404],
    ['/api/v1/partners?limit=0', 400],
    [`/api/t/${tenant.slug}/v1/partners`, 200],
    ['/api/v1/customers?token=hunter2', 403],
  ];
  for (const [path, status] of requests) {
    const response = await send(live.key, path, status, ua);
    sent.push({
      id: response.headers.get('x-request-id') ?? '',
      status,
      bytes: Number(response.headers.get('content-length')),
    });
  }
  await send(sandbox.key, '/api/v1/partners', 200);
  await server.services.requestRecorder.flush();
});
afterAll(() => server.close());

describe('GET /api/v1/request-logs', () => {
  it("records each request of a live key with what it was and how it went; test keys' are not logged", async () => {
    const response = await logs(`keyId=${live.id}`);
    expect(response.status).toBe(200);
    expect(response.body.data.map((row: any) => row.id)).toEqual(sent.map((r) => r.id).reverse());
    const [notFound] = (await logs(`requestId=${sent[1]?.id}`)).body.data;
    expect(notFound).toEqual({
      id: sent[1]?.id,
      createdAt: expect.any(String),
      keyId: live.id,
      method: 'GET',
      path: '/api/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
      route: '/api/v1/partners/{id}',
      status: 404,
      latencyMs: expect.any(Number),
      ip: '127.0.0.1',
      userAgent: 'crm-sync/1.4',
      responseBytes: sent[1]?.bytes,
      errorCode: 'not_found',
    });
    expect(notFound.latencyMs).toBeGreaterThan(0);
    expect((await logs(`keyId=${sandbox.id}`)).body.data).toEqual([]);
  });

  it('stores no query string: neither names nor values', async () => {
    const rows = await sql`select * from request_logs`.execute(server.services.db);
    const stored = JSON.stringify(rows.rows);
    for (const secret of [
      'example.com',
      'secret-search',
      'groupKey',
      'q=',
      'hunter2',
      'token',
      '?',
      'limit=',
    ]) {
      expect(stored, secret).not.toContain(secret);
    }
    const paths = (await logs(`keyId=${live.id}`)).body.data.map((row: any) => row.path);
    expect(paths).toContain('/api/v1/partners');
    expect(paths).toContain(`/api/t/${tenant.slug}/v1/partners`);
  });

  it('masks an API key put into the path', async () => {
    const response = await send(live.key, `/api/v1/partners/${live.key}`, 404);
    await server.services.requestRecorder.flush();
    const [row] = (await logs(`requestId=${response.headers.get('x-request-id')}`)).body.data;
    expect(row.path).toBe('/api/v1/partners/[redacted-key]');
    const rows = await sql`select path from request_logs`.execute(server.services.db);
    expect(JSON.stringify(rows.rows)).not.toContain(live.key.slice(-20));
  });

  it('masks API keys and the admin key in the User-Agent', async () => {
    const otherKey = (await createKey(server, tenant.key, { name: 'ua', scopes: ['read'] })).key;
    const response = await send(live.key, '/api/v1/partners', 200, {
      'user-agent': `bot/1.0 key=${otherKey} admin=${ADMIN_KEY}`,
    });
    await server.services.requestRecorder.flush();
    const [row] = (await logs(`requestId=${response.headers.get('x-request-id')}`)).body.data;
    expect(row.userAgent).toBe('bot/1.0 key=[redacted-key] admin=[redacted-key]');
    const rows = await sql`select user_agent from request_logs`.execute(server.services.db);
    expect(JSON.stringify(rows.rows)).not.toContain(otherKey.slice(-20));
    expect(JSON.stringify(rows.rows)).not.toContain(ADMIN_KEY);
  });

  it('masks a key before cutting the User-Agent to 512 characters, so none is left half visible', async () => {
    const otherKey = (await createKey(server, tenant.key, { name: 'ua-cut', scopes: ['read'] })).key;
    const userAgent = `${'x'.repeat(500)}${otherKey}`;
    const response = await send(live.key, '/api/v1/partners', 200, { 'user-agent': userAgent });
    await server.services.requestRecorder.flush();
    const [row] = (await logs(`requestId=${response.headers.get('x-request-id')}`)).body.data;
    expect(row.userAgent).toBe(`${'x'.repeat(500)}[redacted-key]`.slice(0, 512));
  });

  it.each([
    ['the admin key', () => ADMIN_KEY],
    ['a tenant key', () => live.key],
  ])(
    'masks %s before cutting the path to 2,048 characters, so none is left half visible',
    async (_, secret) => {
      const key = secret();
      // Long enough that a cut at 2,048 characters leaves the key without its last character.
      const base = '/api/v1/partners/padding/';
      const path = `${base}${'x'.repeat(2_048 - (key.length - 1) - base.length)}${key}`;
      const caller = await createKey(server, tenant.key, { name: 'long path', scopes: ['partners:read'] });
      const response = await send(caller.key, path, 404);
      await server.services.requestRecorder.flush();
      const [row] = (await logs(`requestId=${response.headers.get('x-request-id')}`)).body.data;
      expect(row.path).toBe(`${path.slice(0, -key.length)}[redacted-key]`);
      const rows = await sql`select path from request_logs`.execute(server.services.db);
      const stored = JSON.stringify(rows.rows);
      for (let at = 0; at + 20 <= key.length; at++) expect(stored).not.toContain(key.slice(at, at + 20));
    },
  );

  it.each([
    ['status=404', (r: any) => r.status === 404],
    ['status=200', (r: any) => r.status === 200],
    ['statusClass=4xx', (r: any) => r.status >= 400 && r.status < 500],
    ['statusClass=2xx', (r: any) => r.status >= 200 && r.status < 300],
    [`route=${encodeURIComponent('/api/v1/partners')}`, (r: any) => r.route === '/api/v1/partners'],
    ['method=GET', (r: any) => r.method === 'GET'],
    ['method=POST', (r: any) => r.method === 'POST'],
  ])('filter %s returns exactly the matching rows', async (query, matches) => {
    // The list calls are logged too, and may be written between the two calls: leave them out.
    const settled = (rows: any[]) => rows.filter((row) => row.route !== '/api/v1/request-logs');
    const all = settled((await logs('limit=100')).body.data);
    const filtered = await logs(`${query}&limit=100`);
    expect(filtered.status).toBe(200);
    expect(settled(filtered.body.data).length).toBeGreaterThan(0);
    expect(settled(filtered.body.data)).toEqual(all.filter(matches));
  });

  it.each(PARTNER_ROUTE_FORMS)('route=%s finds the lines of /api/v1/partners/{id}', async (form) => {
    const route = encodeURIComponent(form.replace('TENANT', tenant.slug));
    const ids = async (query: string) => {
      const response = await logs(query);
      expect(response.status, query).toBe(200);
      return response.body.data.map((row: any) => row.id);
    };
    const expected = await ids(`route=${encodeURIComponent('/api/v1/partners/{id}')}`);
    expect(expected).toContain(sent[1]?.id);
    expect(await ids(`route=${route}`)).toEqual(expected);
    expect(await ids(`keyId=${live.id}&route=${route}`)).toEqual(expected);
  });

  it('route=unmatched finds the requests no route matched', async () => {
    const key = await createKey(server, tenant.key, { name: 'mistyped', scopes: ['partners:read'] });
    const response = await call(server, 'GET', '/api/v1/partner', { key: key.key });
    expect(response.status).toBe(404);
    await server.services.requestRecorder.flush();
    const rows = (await logs(`keyId=${key.id}&route=unmatched`)).body.data;
    expect(rows.map((row: any) => [row.id, row.route])).toEqual([
      [response.headers.get('x-request-id'), 'unmatched'],
    ]);
  });

  it.each(['/api/v1/partner', '/partners/{partnerId}', '/api/admin/tenants'])(
    'route=%s, no route of the tenant API, is a 400 naming the form expected',
    async (form) => {
      const response = await logs(`route=${encodeURIComponent(form)}`);
      expect(response.status).toBe(400);
      expect(response.body.code).toBe('validation_error');
      expect(response.body.errors).toEqual([
        { field: 'route', code: 'invalid_value', message: expect.stringContaining('/api/v1/partners/{id}') },
      ]);
    },
  );

  it('logs and counts the requests a key makes from an address it may not use, limiting none', async () => {
    const created = await call(server, 'POST', '/api/v1/api-keys', {
      key: tenant.key,
      body: {
        name: 'office only',
        scopes: ['partners:read'],
        allowedIps: ['10.0.0.0/8'],
        rateLimit: { limit: 1, windowSeconds: 60 },
      },
    });
    expect(created.status).toBe(201);
    const key = created.body.data;
    for (let i = 0; i < 3; i++) {
      const response = await call(server, 'GET', '/api/v1/partners', { key: key.key });
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('ip_not_allowed');
    }
    await server.services.requestRecorder.flush();
    const rows = (await logs(`keyId=${key.id}`)).body.data;
    expect(rows.map((row: any) => [row.status, row.errorCode, row.ip])).toEqual(
      Array(3).fill([403, 'ip_not_allowed', '127.0.0.1']),
    );
    const usage = await call(server, 'GET', `/api/v1/usage?keyId=${key.id}`, { key: tenant.key });
    expect(usage.body.totals).toMatchObject({ requests: 3, clientErrors: 3, rateLimited: 0 });
  });

  it('filters by HEAD and OPTIONS, which are logged like any method', async () => {
    const key = await createKey(server, tenant.key, { name: 'head and options', scopes: ['partners:read'] });
    for (const method of ['HEAD', 'OPTIONS'] as const) {
      const response = await call(server, method, '/api/v1/partners', { key: key.key });
      expect(response.status, method).toBeLessThan(500);
    }
    await server.services.requestRecorder.flush();
    for (const method of ['HEAD', 'OPTIONS']) {
      const rows = (await logs(`keyId=${key.id}&method=${method}`)).body.data;
      expect(rows.map((row: any) => row.method)).toEqual([method]);
      // A HEAD answer has no body, whatever its Content-Length says the GET's would be.
      if (method === 'HEAD') expect(rows[0].responseBytes).toBe(0);
      const usage = await call(server, 'GET', `/api/v1/usage?keyId=${key.id}&method=${method}`, {
        key: tenant.key,
      });
      expect(usage.body.totals.requests).toBe(1);
    }
  });

  it("counts and logs a key's request with a method no route takes (PROPFIND), from the key's budget", async () => {
    const key = await createKey(server, tenant.key, { name: 'propfind', scopes: ['partners:read'] });
    const response = await call(server, 'PROPFIND', '/api/v1/partners', { key: key.key });
    expect([404, 405]).toContain(response.status);
    // The key's own budget (the plan's), not the budget of its address.
    expect(response.headers.get('ratelimit-policy')).not.toContain('unauthenticated');
    await server.services.requestRecorder.flush();
    const rows = (await logs(`keyId=${key.id}&method=PROPFIND`)).body.data;
    expect(rows.map((row: any) => [row.method, row.route])).toEqual([['PROPFIND', 'unmatched']]);
    const usage = await call(server, 'GET', `/api/v1/usage?keyId=${key.id}&method=PROPFIND`, {
      key: tenant.key,
    });
    expect(usage.body.totals.requests).toBe(1);
  });

  it('keeps tabs, backslashes and Latin-1 text exactly as sent', async () => {
    const writer = await createKey(server, tenant.key, { name: 'writer', scopes: ['partners:read'] });
    const userAgent = 'sync\tbot\\2.0 (Zürich; \\N)';
    const response = await send(writer.key, '/api/v1/partners/prt_%5CN%09x', 404, {
      'user-agent': userAgent,
    });
    await server.services.requestRecorder.flush();
    const [row] = (await logs(`requestId=${response.headers.get('x-request-id')}`)).body.data;
    expect(row).toMatchObject({
      userAgent,
      path: '/api/v1/partners/prt_%5CN%09x',
      responseBytes: expect.any(Number),
    });
    expect(server.services.requestRecorder.requestLogs.dropped).toBe(0);
  });

  it('writes a line again without a duplicate or a loss when an earlier write stored it already', async () => {
    const { requestLogs } = server.services.requestRecorder;
    const writer = await createKey(server, tenant.key, { name: 'writer', scopes: ['partners:read'] });
    const response = await send(writer.key, '/api/v1/partners', 200);
    await server.services.requestRecorder.flush();
    const [stored] = (await logs(`requestId=${response.headers.get('x-request-id')}`)).body.data;
    // The new line has text that needs escaping: the retry reads the buffered lines back from COPY text.
    const userAgent = 'retry\tbot\\1.0 \\N';
    const other = await send(writer.key, '/api/v1/partners/prt_%5CN%09y', 404, { 'user-agent': userAgent });
    // The same line once more, as a retry after a lost answer would write it, beside a new one.
    requestLogs.append({ ...stored, tenantId: tenant.id, createdAt: new Date(stored.createdAt) });
    await server.services.requestRecorder.flush();
    expect(requestLogs.pendingCount).toBe(0);
    expect(requestLogs.dropped).toBe(0);
    expect((await logs(`requestId=${stored.id}`)).body.data).toEqual([stored]);
    const [added] = (await logs(`requestId=${other.headers.get('x-request-id')}`)).body.data;
    expect(added).toMatchObject({
      status: 404,
      errorCode: 'not_found',
      userAgent,
      path: '/api/v1/partners/prt_%5CN%09y',
      keyId: writer.id,
      responseBytes: Number(other.headers.get('content-length')),
    });
  });

  it('a flush writes the lines buffered when it began; lines added meanwhile wait for the next', async () => {
    const requestLogs = await heldWriter();
    const early = await send(live.key, '/api/v1/partners', 200);
    const flushing = requestLogs.flush();
    // One turn of the microtask queue: the flush has begun, counted its rows and waits on the database.
    await Promise.resolve();
    expect(requestLogs.pendingCount).toBe(1);
    const late = line();
    requestLogs.append(late);
    await flushing;
    // Under steady load this is what keeps writes to one batch per interval instead of a chain.
    expect(requestLogs.pendingCount).toBe(1);
    const lookup = (id: string | null) => logs(`requestId=${id}`).then((response) => response.body.data);
    expect(await lookup(early.headers.get('x-request-id'))).toHaveLength(1);
    expect(await lookup(late.id)).toEqual([]);
    await requestLogs.flush();
    expect(await lookup(late.id)).toEqual([expect.objectContaining({ id: late.id, status: 200 })]);
  });

  it('writes thousands of buffered lines, in order and complete', async () => {
    const requestLogs = await heldWriter();
    const writer = await createKey(server, tenant.key, { name: 'bulk', scopes: ['partners:read'] });
    const at = server.services.clock.now();
    const ids: string[] = [];
    const before = requestLogs.pendingCount;
    for (let i = 0; i < 4_500; i++) {
      const id = newId('req');
      ids.push(id);
      requestLogs.append(
        line({
          id,
          createdAt: at,
          keyId: writer.id,
          path: `/api/v1/partners/${i}`,
          route: '/api/v1/partners/{id}',
          status: 404,
          latencyMs: i / 1000,
          userAgent: i % 2 === 0 ? null : `bulk/${i}`,
          responseBytes: i,
          errorCode: 'not_found',
        }),
      );
    }
    expect(requestLogs.pendingCount).toBe(before + 4_500);
    await requestLogs.flush();
    expect(requestLogs.pendingCount).toBe(0);
    expect(requestLogs.dropped).toBe(0);
    const { rows } = await sql<{ id: string; path: string; userAgent: string | null; responseBytes: number }>`
      select id, path, user_agent, response_bytes from request_logs where key_id = ${writer.id} order by id
    `.execute(server.services.db);
    expect(rows.map((row) => row.id)).toEqual(ids);
    expect(rows[4_499]).toEqual({
      id: ids[4_499],
      path: '/api/v1/partners/4499',
      userAgent: 'bulk/4499',
      responseBytes: 4_499,
    });
    expect(rows[2_000]?.userAgent).toBeNull();
  });

  it('keeps the lines while the database cannot take them, and writes them once it can', async () => {
    const requestLogs = await heldWriter();
    const db = server.services.db;
    const dropped = requestLogs.dropped;
    const response = await send(live.key, '/api/v1/partners', 200);
    const id = response.headers.get('x-request-id');
    // The table is gone for a moment: not the rows' fault, so nothing may be dropped.
    await sql`alter table request_logs rename to request_logs_away`.execute(db);
    try {
      await requestLogs.flush();
      expect(requestLogs.failures).toBeGreaterThan(0);
      expect(requestLogs.pendingCount).toBeGreaterThanOrEqual(1);
    } finally {
      await sql`alter table request_logs_away rename to request_logs`.execute(db);
    }
    await requestLogs.flush();
    expect(requestLogs.failures).toBe(0);
    expect(requestLogs.pendingCount).toBe(0);
    expect(requestLogs.dropped).toBe(dropped);
    expect((await logs(`requestId=${id}`)).body.data).toEqual([expect.objectContaining({ id, status: 200 })]);
  });

  it('drops only the statement the database refuses for its data, and counts its lines', async () => {
    const requestLogs = await heldWriter();
    const dropped = requestLogs.dropped;
    // The status column is a smallint: 70000 is a data error, which no retry can mend.
    const refused = newId('req');
    requestLogs.append(line({ id: refused, status: 70_000 }));
    await requestLogs.flush();
    expect(requestLogs.dropped).toBe(dropped + 1);
    expect(requestLogs.pendingCount).toBe(0);
    const kept = newId('req');
    requestLogs.append(line({ id: kept }));
    await requestLogs.flush();
    expect(requestLogs.dropped).toBe(dropped + 1);
    expect((await logs(`requestId=${kept}`)).body.data).toEqual([expect.objectContaining({ id: kept })]);
    expect((await logs(`requestId=${refused}`)).body.data).toEqual([]);
  });

  it('filters by key and status together', async () => {
    const response = await logs(`keyId=${live.id}&statusClass=4xx`);
    expect(response.body.data.map((row: any) => row.status).sort()).toEqual([400, 403, 404, 404]);
  });

  it('filters by time', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + DAY_MS).toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - DAY_MS).toISOString().slice(0, 10);
    expect(
      (await logs(`keyId=${live.id}&from=${today}&to=${today}`)).body.data.length,
    ).toBeGreaterThanOrEqual(5);
    expect((await logs(`keyId=${live.id}&from=${tomorrow}`)).body.data).toEqual([]);
    expect((await logs(`keyId=${live.id}&to=${yesterday}`)).body.data).toEqual([]);
    const [first] = (await logs(`requestId=${sent[0]?.id}`)).body.data;
    const exact = await logs(`keyId=${live.id}&from=${first.createdAt}&to=${first.createdAt}`);
    expect(exact.body.data.map((row: any) => row.id)).toContain(sent[0]?.id);
  });

  it('dates a line when its request began, not when it was answered', async () => {
    const body = JSON.stringify({ email: `slow-${Date.now()}@example.com` });
    const began = Date.now();
    const { status, requestId } = await new Promise<{ status: number; requestId: string }>(
      (resolve, reject) => {
        const request = httpRequest(`${server.url}/api/v1/partners`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
            'x-api-key': tenant.key,
          },
        });
        request.on('response', (response) => {
          response.resume();
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              requestId: String(response.headers['x-request-id']),
            }),
          );
        });
        request.on('error', reject);
        // Half the body now, the rest 1.5 s later: a slow upload.
        request.write(body.slice(0, 10));
        setTimeout(() => request.end(body.slice(10)), 1_500);
      },
    );
    const answered = Date.now();
    expect(status).toBe(201);
    expect(answered - began).toBeGreaterThanOrEqual(1_500);
    await server.services.requestRecorder.flush();
    const [row] = (await logs(`requestId=${requestId}`)).body.data;
    expect(row.latencyMs).toBeGreaterThanOrEqual(1_400);
    const at = Date.parse(row.createdAt);
    expect(at).toBeGreaterThanOrEqual(began - 5);
    expect(at).toBeLessThan(began + 500);
  });

  it.each(['0001-01-01', '0001-01-01T23:59:59Z'])(
    'takes from=%s, the first supported day, with a key or route filter',
    async (from) => {
      for (const filter of [`keyId=${live.id}`, `route=${encodeURIComponent('/api/v1/partners')}`]) {
        const response = await logs(`${filter}&from=${from}`);
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        expect(response.body.data.length).toBeGreaterThan(0);
      }
    },
  );

  it('finds the lines of a key and of a route across flushes, writers and time, newest first', async () => {
    const requestLogs = await heldWriter();
    // A second process's writer on the same database: its postings overlap this one's.
    const elsewhere = new RequestLogWriter(server.services.database, server.app.log);
    // A tenant of its own: no request but these lines is on the route.
    const own = await createTenant(server);
    const one = await createKey(server, own.key, { name: 'postings 1', scopes: ['partners:read'] });
    const two = await createKey(server, own.key, { name: 'postings 2', scopes: ['partners:read'] });
    const route = '/api/v1/partners/{id}';
    // Ids 40 s apart fall into different buckets (about 33 s each); within one, 1 ms apart.
    const start = Date.now() - 600_000;
    const at = (offsetMs: number, n: number, fields: Partial<RequestLogEntry>) =>
      line({ id: idAt(start + offsetMs, `${n}`), tenantId: own.id, route, ...fields });
    const first = [
      at(0, 1, { keyId: one.id }),
      at(1, 2, { keyId: two.id }),
      at(2, 3, { keyId: one.id, status: 404 }),
      at(40_000, 4, { keyId: one.id }),
    ];
    const second = [
      at(3, 5, { keyId: one.id, route: '/api/v1/partners' }),
      at(40_001, 6, { keyId: two.id }),
      at(80_000, 7, { keyId: one.id }),
    ];
    // This writer's second flush brings a line from the first bucket: a request that took long.
    const late = [at(4, 8, { keyId: one.id }), at(80_001, 9, { keyId: one.id, status: 404 })];
    for (const entry of first) requestLogs.append(entry);
    for (const entry of second) elsewhere.append(entry);
    await Promise.all([requestLogs.flush(), elsewhere.flush()]);
    for (const entry of late) requestLogs.append(entry);
    await requestLogs.flush();

    const all = [...first, ...second, ...late];
    const newestFirst = (pick: (entry: RequestLogEntry) => boolean) =>
      all
        .filter(pick)
        .map((entry) => entry.id)
        .sort()
        .reverse();
    const ids = async (query: string) => {
      const response = await logs(query, own.key);
      expect(response.status, query).toBe(200);
      return response.body.data.map((row: any) => row.id);
    };
    const ofOne = newestFirst((entry) => entry.keyId === one.id);
    expect(ofOne).toHaveLength(7);
    expect(await ids(`keyId=${one.id}`)).toEqual(ofOne);
    expect(await ids(`route=${encodeURIComponent(route)}`)).toEqual(
      newestFirst((entry) => entry.route === route),
    );
    expect(await ids(`keyId=${one.id}&route=${encodeURIComponent(route)}`)).toEqual(
      newestFirst((entry) => entry.keyId === one.id && entry.route === route),
    );
    expect(await ids(`keyId=${one.id}&status=404`)).toEqual(
      newestFirst((entry) => entry.keyId === one.id && entry.status === 404),
    );
    expect(await ids(`keyId=${two.id}`)).toEqual(newestFirst((entry) => entry.keyId === two.id));

    // Both modes page through the same order, one line at a time across the buckets.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const response = await logs(`keyId=${one.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, own.key);
      paged.push(...response.body.data.map((row: any) => row.id));
      cursor = response.body.pagination.nextCursor;
    } while (cursor);
    expect(paged).toEqual(ofOne);
    const classic = await logs(`keyId=${one.id}&page=2&limit=3`, own.key);
    expect(classic.body.pagination).toEqual({ page: 2, limit: 3, total: 7, pages: 3 });
    expect(classic.body.data.map((row: any) => row.id)).toEqual(ofOne.slice(3, 6));
    // Another tenant's key or route finds none of these lines.
    expect((await logs(`keyId=${one.id}`, other.key)).body.data).toEqual([]);
    expect((await logs(`route=${encodeURIComponent(route)}`, other.key)).body.data).toEqual([]);
  });

  it('stores postings once, and the missing ones, when a flush is written again after a lost answer', async () => {
    const requestLogs = await heldWriter();
    const key = await createKey(server, tenant.key, { name: 'twice', scopes: ['partners:read'] });
    const entries = [line({ keyId: key.id }), line({ keyId: key.id })];
    const dropped = requestLogs.dropped;
    for (const entry of entries) requestLogs.append(entry);
    await requestLogs.flush();
    // The same lines again, as a retry whose first answer was lost would write them.
    for (const entry of entries) requestLogs.append(entry);
    await requestLogs.flush();
    expect(requestLogs.dropped).toBe(dropped);
    const { rows } = await sql<{ ids: string }>`
      select ids from request_log_postings where field = 'key' and value = ${key.id}
    `.execute(server.services.db);
    expect(rows.flatMap((row) => row.ids.split(',')).sort()).toEqual(entries.map((entry) => entry.id).sort());
    const listed = async () => (await logs(`keyId=${key.id}`)).body.data.map((row: any) => row.id);
    const newestFirst = entries
      .map((entry) => entry.id)
      .sort()
      .reverse();
    expect(await listed()).toEqual(newestFirst);
    // Rows stored without their postings get them from the retry, which writes what is missing.
    await sql`delete from request_log_postings where field = 'key' and value = ${key.id}`.execute(
      server.services.db,
    );
    expect(await listed()).toEqual([]);
    for (const entry of entries) requestLogs.append(entry);
    await requestLogs.flush();
    expect(await listed()).toEqual(newestFirst);
  });

  it('finds lines stored before postings existed by key and route (migration 0016)', async () => {
    // A tenant of its own: no request but these lines is on the route.
    const own = await createTenant(server);
    const key = await createKey(server, own.key, { name: 'before 0016', scopes: ['partners:read'] });
    const route = '/api/v1/partners/{id}';
    const { database, db } = server.services;
    const { requestLogs } = server.services.requestRecorder;
    // The database as migration 0015 left it, holding lines with no postings.
    await sql`drop table request_log_postings`.execute(db);
    await sql`create index request_logs_key_idx on request_logs (key_id, id)`.execute(db);
    await sql`create index request_logs_route_idx on request_logs (tenant_id, route, id)`.execute(db);
    await sql`delete from schema_migrations where version = '0016_request_log_postings'`.execute(db);
    const ownLine = (fields: Partial<RequestLogEntry>) => line({ tenantId: own.id, keyId: null, ...fields });
    const entries = [ownLine({ keyId: key.id, route }), ownLine({ keyId: key.id }), ownLine({ route })];
    for (const entry of entries) {
      await sql`
        insert into request_logs (id, tenant_id, created_at, key_id, method, path, route, status, latency_ms)
        values (${entry.id}, ${entry.tenantId}, ${entry.createdAt}, ${entry.keyId}, 'GET', '/x', ${entry.route}, 200, 1)
      `.execute(db);
    }
    expect(await migrate(database)).toEqual(['0016_request_log_postings']);
    const ids = async (query: string) => (await logs(query, own.key)).body.data.map((row: any) => row.id);
    expect(await ids(`keyId=${key.id}`)).toEqual([entries[1]?.id, entries[0]?.id]);
    expect(await ids(`route=${encodeURIComponent(route)}`)).toEqual([entries[2]?.id, entries[0]?.id]);
    // And the lines written from then on get postings as before.
    const after = ownLine({ keyId: key.id, route });
    requestLogs.append(after);
    await requestLogs.flush();
    expect(await ids(`keyId=${key.id}&route=${encodeURIComponent(route)}`)).toEqual([
      after.id,
      entries[0]?.id,
    ]);
  });

  it('files lines a process older than 0016 wrote after it ran, once, leaving filed ones as they are', async () => {
    const own = await createTenant(server);
    const key = await createKey(server, own.key, { name: 'old process', scopes: ['partners:read'] });
    const route = '/api/v1/customers/{id}';
    const { db } = server.services;
    const { requestLogs } = server.services.requestRecorder;
    const ownLine = (fields: Partial<RequestLogEntry>) => line({ tenantId: own.id, ...fields });
    // Filed by this version's writer …
    const filed = ownLine({ keyId: key.id, route });
    requestLogs.append(filed);
    await requestLogs.flush();
    // … and lines an old process wrote: rows and no postings.
    const unfiled = [
      ownLine({ keyId: key.id, route }),
      ownLine({ keyId: key.id, route: null }),
      ownLine({ keyId: null, route }),
    ];
    for (const entry of unfiled) {
      await sql`
        insert into request_logs (id, tenant_id, created_at, key_id, method, path, route, status, latency_ms)
        values (${entry.id}, ${entry.tenantId}, ${entry.createdAt}, ${entry.keyId}, 'GET', '/x', ${entry.route}, 200, 1)
      `.execute(db);
    }
    const ids = async (query: string) => (await logs(query, own.key)).body.data.map((row: any) => row.id);
    expect(await ids(`keyId=${key.id}`)).toEqual([filed.id]);

    const since = new Date(server.services.clock.now().getTime() - DAY_MS);
    const repaired = await fileUnpostedRequestLogs(db, since);
    expect(repaired).toMatchObject({ byKey: 2, byRoute: 2 });
    // One posting per key and route, unless the lines straddle a bucket's edge (about 33 s).
    expect(repaired.postings).toBeGreaterThanOrEqual(2);
    expect(await ids(`keyId=${key.id}`)).toEqual([unfiled[1]?.id, unfiled[0]?.id, filed.id]);
    expect(await ids(`route=${encodeURIComponent(route)}`)).toEqual([
      unfiled[2]?.id,
      unfiled[0]?.id,
      filed.id,
    ]);
    expect(await fileUnpostedRequestLogs(db, since)).toEqual({ postings: 0, byKey: 0, byRoute: 0 });
    expect(await ids(`keyId=${key.id}`)).toHaveLength(3);
  });

  it('an unknown request id finds nothing', async () => {
    expect((await logs('requestId=req_01jd8x3v4w5y6z7a8b9c0d1e2f')).body.data).toEqual([]);
  });

  it('pages by cursor, newest first, without gaps or repeats', async () => {
    const pager = await createKey(server, tenant.key, { name: 'pager', scopes: ['partners:read'] });
    for (let i = 0; i < 7; i++) await send(pager.key, '/api/v1/partners', 200);
    await server.services.requestRecorder.flush();
    const seen: string[] = [];
    let cursor: string | null = null;
    const sizes: number[] = [];
    do {
      const response = await logs(`keyId=${pager.id}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.status).toBe(200);
      sizes.push(response.body.data.length);
      seen.push(...response.body.data.map((row: any) => row.id));
      cursor = response.body.pagination.nextCursor;
    } while (cursor);
    expect(sizes).toEqual([3, 3, 1]);
    expect(new Set(seen).size).toBe(7);
    expect([...seen].sort().reverse()).toEqual(seen);
    const classic = await logs(`keyId=${pager.id}&page=3&limit=3`);
    expect(classic.body.pagination).toEqual({ page: 3, limit: 3, total: 7, pages: 3 });
    expect(classic.body.data.map((row: any) => row.id)).toEqual(seen.slice(6));
  });

  it('refuses a forged cursor', async () => {
    const response = await logs('cursor=bm9wZQ');
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('invalid_cursor');
  });

  it.each([
    ['statusClass=6xx', 'statusClass'],
    ['status=99', 'status'],
    ['method=FETCH', 'method'],
    ['from=not-a-date', 'from'],
    ['from=2026-05-02&to=2026-05-01', 'from'],
    ['path=/api', 'path'],
  ])('%s is a 400', async (query, field) => {
    const response = await logs(query);
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: any) => e.field)).toContain(field);
  });

  it('needs logs:read, which read and write do not include', async () => {
    for (const scopes of [['read'], ['write']]) {
      const key = await createKey(server, tenant.key, { name: 'no logs', scopes });
      const response = await logs('', key.key);
      expect(response.status).toBe(403);
      expect(response.body.requiredScope).toBe('logs:read');
    }
    const auditor = await createKey(server, tenant.key, { name: 'auditor', scopes: ['logs:read'] });
    expect((await logs('', auditor.key)).status).toBe(200);
  });

  it("shows nothing of another tenant's requests", async () => {
    const response = await logs('limit=100', other.key);
    expect(response.status).toBe(200);
    const ids = new Set(response.body.data.map((row: any) => row.id));
    for (const { id } of sent) expect(ids.has(id)).toBe(false);
    expect((await logs(`keyId=${live.id}`, other.key)).body.data).toEqual([]);
  });

  it('logs the platform admin key with keyId null', async () => {
    const response = await call(server, 'GET', `/api/t/${tenant.slug}/v1/partners`, { key: ADMIN_KEY });
    await server.services.requestRecorder.flush();
    const [row] = (await logs(`requestId=${response.headers.get('x-request-id')}`)).body.data;
    expect(row).toMatchObject({ keyId: null, status: 200, route: '/api/v1/partners' });
  });
});

describe('REQUEST_LOG_TEST_KEYS=true', () => {
  it('logs test keys too', async () => {
    const logging = await startServer({ env: { REQUEST_LOG_TEST_KEYS: 'true' } });
    try {
      const owner = await createTenant(logging);
      const test = await createKey(logging, owner.key, {
        name: 'sandbox',
        scopes: ['read'],
        environment: 'test',
      });
      const response = await call(logging, 'GET', '/api/v1/partners', { key: test.key });
      await logging.services.requestRecorder.flush();
      const rows = await call(logging, 'GET', `/api/v1/request-logs?keyId=${test.id}`, { key: owner.key });
      expect(rows.body.data.map((row: any) => row.id)).toEqual([response.headers.get('x-request-id')]);
    } finally {
      await logging.close();
    }
  });
});

describe('retention (REQUEST_LOG_RETENTION_DAYS=30)', () => {
  const now = Date.UTC(2026, 5, 15, 10, 0, 0);
  const clock = new TestClock(new Date(now - 40 * DAY_MS));
  let old: TestServer;
  let owner: TestTenant;

  const day = (offset: number) =>
    new Date(now + offset * DAY_MS).toISOString().slice(0, 10).replaceAll('-', '');

  beforeAll(async () => {
    old = await startServer({ clock });
    owner = await createTenant(old);
  });
  afterAll(() => old.close());

  it('drops the partitions of days past retention and keeps the rest', async () => {
    const key = await createKey(old, owner.key, { name: 'k', scopes: ['read'] });
    const ids: Record<string, string> = {};
    // Requests 40, 31, 30 and 0 days ago; the clock only moves forward (rate limits keep time).
    for (const offset of [-40, -31, -30, 0]) {
      clock.set(new Date(now + offset * DAY_MS));
      const response = await call(old, 'GET', '/api/v1/partners', { key: key.key });
      expect(response.status).toBe(200);
      ids[offset] = response.headers.get('x-request-id') ?? '';
      // A day the startup run did not create gets its partition on the first write.
      await old.services.requestRecorder.flush();
    }
    const names = async () =>
      (await listRequestLogPartitions(old.services.db)).map((d) =>
        new Date(d).toISOString().slice(0, 10).replaceAll('-', ''),
      );
    expect(await names()).toEqual(expect.arrayContaining([day(-40), day(-31), day(-30), day(0)]));

    const job = old.services.requestRecorder.jobs().find((j) => j.name === 'request-log-partitions');
    expect(job).toBeDefined();
    // Several processes run the job at once: they wait for each other and agree.
    await Promise.all([job?.run(), job?.run()]);

    const after = await names();
    expect(after).not.toContain(day(-40));
    expect(after).not.toContain(day(-31));
    // Day -30 started 30 days before today's midnight but ends within the last 30 days: kept.
    expect(after).toEqual(expect.arrayContaining([day(-30), day(0), day(1), day(2)]));
    const listed = await call(old, 'GET', '/api/v1/request-logs?limit=100', { key: owner.key });
    const listedIds = listed.body.data.map((row: any) => row.id);
    expect(listedIds).toContain(ids[0]);
    expect(listedIds).toContain(ids[-30]);
    expect(listedIds).not.toContain(ids[-40]);
    expect(listedIds).not.toContain(ids[-31]);
    // The postings keep the same days: a key's lines are found as long as they are kept.
    expect(await listRequestLogPartitions(old.services.db, 'request_log_postings')).toEqual(
      await listRequestLogPartitions(old.services.db),
    );
    const byKey = await call(old, 'GET', `/api/v1/request-logs?keyId=${key.id}`, { key: owner.key });
    expect(byKey.body.data.map((row: any) => row.id)).toEqual([ids[0], ids[-30]]);
    const iso = (offset: number) => new Date(now + offset * DAY_MS).toISOString();
    for (const [range, expected] of [
      [`from=${iso(-30).slice(0, 10)}&to=${iso(-30).slice(0, 10)}`, [ids[-30]]],
      [`from=${iso(-30)}&to=${iso(-30)}`, [ids[-30]]],
      [`from=${iso(-29).slice(0, 10)}`, [ids[0]]],
      [`to=${iso(-1).slice(0, 10)}`, [ids[-30]]],
    ] as const) {
      const ranged = await call(old, 'GET', `/api/v1/request-logs?keyId=${key.id}&${range}`, {
        key: owner.key,
      });
      expect(
        ranged.body.data.map((row: any) => row.id),
        range,
      ).toEqual(expected);
    }

    const again = await maintainRequestLogPartitions(old.services.db, clock.now(), 30);
    expect(again).toEqual({ created: [], dropped: [] });
  });
});
