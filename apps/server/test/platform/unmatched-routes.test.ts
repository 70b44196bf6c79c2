import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createKey, createTenant, expectProblem, type TestTenant } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, type TestServer } from '../helpers/server.ts';

// A request with a key to a path no route matches (404) or with a method the path does not take
// (405) passes the tenant gate like any other: it is authenticated, takes from the key's budgets,
// and is metered and logged for its tenant under the route `unmatched`.
let server: TestServer;
let tenant: TestTenant;
let other: TestTenant;
let limited: { id: string; key: string };

beforeAll(async () => {
  server = await startServer();
  tenant = await createTenant(server);
  other = await createTenant(server);
  limited = await createKey(server, tenant.key, {
    name: 'limited',
    scopes: ['partners:read'],
    rateLimit: { limit: 3, windowSeconds: 60 },
  });
});
afterAll(() => server?.close());

describe('requests no route matches', () => {
  it('take from the key budget, with the limit headers, until it is spent', async () => {
    const missing = await call(server, 'GET', '/api/v1/no-such-thing', { key: limited.key });
    expectProblem(missing, 404, 'not_found');
    expect(missing.headers.get('x-ratelimit-limit')).toBe('3');
    expect(missing.headers.get('x-ratelimit-remaining')).toBe('2');

    const wrongMethod = await call(server, 'PUT', '/api/v1/partners', { key: limited.key, body: {} });
    expectProblem(wrongMethod, 405, 'method_not_allowed');
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(wrongMethod.headers.get('x-ratelimit-remaining')).toBe('1');

    // The same budget as the key's routes.
    expect((await call(server, 'GET', '/api/v1/partners', { key: limited.key })).status).toBe(200);
    const refused = await call(server, 'GET', '/api/v1/no-such-thing', { key: limited.key });
    expectProblem(refused, 429, 'rate_limited');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('refuse a key that is not valid, or not valid for the tenant named in the URL', async () => {
    const invalid = await call(server, 'GET', '/api/v1/no-such-thing', {
      key: `${limited.key.slice(0, -4)}AAAA`,
    });
    expectProblem(invalid, 401, 'api_key_invalid');
    const elsewhere = await call(server, 'GET', `/api/t/${other.slug}/v1/no-such-thing`, { key: tenant.key });
    expectProblem(elsewhere, 401, 'api_key_invalid');
    const own = await call(server, 'GET', `/api/t/${tenant.slug}/v1/no-such-thing`, { key: tenant.key });
    expectProblem(own, 404, 'not_found');
    const admin = await call(server, 'DELETE', `/api/t/${other.slug}/v1/partners`, { key: ADMIN_KEY });
    expectProblem(admin, 405, 'method_not_allowed');
  });

  it("without a key take from the IP's budget, before their 404 or 405", async () => {
    const missing = await call(server, 'GET', '/api/v1/no-such-thing');
    expectProblem(missing, 404, 'not_found');
    expect(missing.headers.get('ratelimit-policy')).toMatch(/^"unauthenticated";/);
    expectProblem(await call(server, 'PATCH', '/api/v1/partners'), 405, 'method_not_allowed');
    expectProblem(await call(server, 'GET', '/nowhere', { key: tenant.key }), 404, 'not_found');
  });

  it('are in the request log and the usage of the key, under the route unmatched', async () => {
    await server.services.requestRecorder.flush();
    const logs = await call(server, 'GET', `/api/v1/request-logs?keyId=${limited.id}&route=unmatched`, {
      key: tenant.key,
    });
    expect(logs.status).toBe(200);
    expect(
      logs.body.data.map((row: { method: string; path: string; status: number; errorCode: string }) => [
        row.method,
        row.path,
        row.status,
        row.errorCode,
      ]),
    ).toEqual([
      ['GET', '/api/v1/no-such-thing', 429, 'rate_limited'],
      ['PUT', '/api/v1/partners', 405, 'method_not_allowed'],
      ['GET', '/api/v1/no-such-thing', 404, 'not_found'],
    ]);

    const usage = await call(server, 'GET', `/api/v1/usage?groupBy=route&keyId=${limited.id}`, {
      key: tenant.key,
    });
    expect(usage.status).toBe(200);
    const byRoute = Object.fromEntries(
      usage.body.data.map((point: { route: string; method: string }) => [
        `${point.method} ${point.route}`,
        point,
      ]),
    );
    expect(byRoute['GET unmatched']).toMatchObject({ requests: 2, clientErrors: 2, rateLimited: 1 });
    expect(byRoute['PUT unmatched']).toMatchObject({ requests: 1, clientErrors: 1 });
    expect(byRoute['GET /api/v1/partners']).toMatchObject({ requests: 1, successes: 1 });

    // Another tenant sees none of it, only what the admin key did in its name.
    const foreign = await call(server, 'GET', '/api/v1/request-logs?route=unmatched', { key: other.key });
    expect(
      foreign.body.data.map((row: { keyId: string | null; path: string; status: number }) => [
        row.keyId,
        row.path,
        row.status,
      ]),
    ).toEqual([[null, `/api/t/${other.slug}/v1/partners`, 405]]);
  });
});

describe('requests the router refuses before matching a route', () => {
  it('a path segment too long or not valid percent-encoding: limited, metered and logged as unmatched', async () => {
    const key = await createKey(server, tenant.key, {
      name: 'router errors',
      scopes: ['partners:read'],
      rateLimit: { limit: 2, windowSeconds: 60 },
    });
    const long = await call(server, 'GET', `/api/v1/partners/${'x'.repeat(200)}`, { key: key.key });
    expectProblem(long, 404, 'not_found');
    expect(long.headers.get('x-ratelimit-remaining')).toBe('1');
    const badEscape = await call(server, 'GET', `/api/t/${tenant.slug}/v1/partners/%zz`, { key: key.key });
    expectProblem(badEscape, 400, 'validation_error');
    expect(badEscape.headers.get('x-ratelimit-remaining')).toBe('0');
    expectProblem(await call(server, 'GET', '/api/v1/partners/%zz', { key: key.key }), 429, 'rate_limited');
    // Under another tenant's URL the key is refused like an unknown one.
    const elsewhere = await call(server, 'GET', `/api/t/${other.slug}/v1/partners/%zz`, { key: key.key });
    expectProblem(elsewhere, 401, 'api_key_invalid');

    await server.services.requestRecorder.flush();
    const logs = await call(server, 'GET', `/api/v1/request-logs?keyId=${key.id}`, { key: tenant.key });
    expect(logs.body.data.map((row: { route: string; status: number }) => [row.route, row.status])).toEqual([
      ['unmatched', 429],
      ['unmatched', 400],
      ['unmatched', 404],
    ]);
    // Timed from the router's refusal, as Fastify times other requests from their route on.
    for (const row of logs.body.data) expect(row.latencyMs).toBeGreaterThan(0);
    const usage = await call(server, 'GET', `/api/v1/usage?keyId=${key.id}`, { key: tenant.key });
    expect(usage.body.totals).toMatchObject({ requests: 3, clientErrors: 3, rateLimited: 1 });
  });

  it('without a key: the same problems, counted in /metrics', async () => {
    const metric = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return text
        .split('\n')
        .filter(
          (line) => line.startsWith('partnerline_http_requests_total{') && line.includes('route="unmatched"'),
        )
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    };
    const before = await metric();
    expectProblem(await call(server, 'GET', `/api/v1/partners/${'y'.repeat(200)}`), 404, 'not_found');
    expectProblem(await call(server, 'GET', '/api/v1/partners/%zz'), 400, 'validation_error');
    expect(await metric()).toBe(before + 2);
  });
});

describe('an empty path segment where an id belongs', () => {
  it.each([
    ['GET', '/api/v1/partners/'],
    ['PATCH', '/api/v1/customers/'],
    ['DELETE', '/api/v1/api-keys/'],
    ['POST', '/api/v1/partners//invite'],
    ['GET', '/api/v1/partners//commissions'],
    ['POST', '/api/v1/webhook-messages//retry'],
    ['PUT', '/api/v1/partners/'],
  ])('%s %s is an unknown route, counted as unmatched', async (method, path) => {
    const key = await createKey(server, tenant.key, {
      name: `empty id ${method} ${path}`,
      scopes: ['admin'],
    });
    const body = method === 'GET' ? undefined : {};
    const response = await call(server, method, path, { key: key.key, body });
    expectProblem(response, 404, 'not_found');
    expect(response.body.detail).toBe(`No route ${method} ${path}`);
    expect(response.headers.get('allow')).toBeNull();
    // Gated like any unknown route: the key's budget, and its request log under `unmatched`.
    expect(response.headers.get('x-ratelimit-limit')).not.toBeNull();
    await server.services.requestRecorder.flush();
    const logs = await call(server, 'GET', `/api/v1/request-logs?keyId=${key.id}`, { key: tenant.key });
    expect(logs.body.data.map((row: { route: string; status: number }) => [row.route, row.status])).toEqual([
      ['unmatched', 404],
    ]);
  });

  it.each([
    [`/api/t/{slug}/v1/partners/`, () => tenant.key],
    ['/api/t//v1/partners', () => tenant.key],
    ['/api/admin/tenants/', () => ADMIN_KEY],
    ['/api/v1/partners/', () => undefined],
  ])('GET %s is an unknown route too', async (template, key) => {
    const path = template.replace('{slug}', tenant.slug);
    const response = await call(server, 'GET', path, { key: key() });
    expectProblem(response, 404, 'not_found');
    expect(response.body.detail).toBe(`No route GET ${path}`);
  });

  it('/api/t//v1/… names no tenant: the admin key is told to name one', async () => {
    const response = await call(server, 'GET', '/api/t//v1/partners', { key: ADMIN_KEY });
    expectProblem(response, 400, 'tenant_slug_missing');
  });
});

describe('a QUERY request without Content-Type', () => {
  it('is a 400 that names the missing header', async () => {
    const response = await call(server, 'QUERY', '/api/v1/partners', { key: tenant.key });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.detail).toBe(
      'A QUERY request must carry a Content-Type, as the QUERY method requires',
    );
  });
});
