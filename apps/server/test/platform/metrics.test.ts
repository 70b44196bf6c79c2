import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/platform/config.ts';
import { onPostgres } from '../helpers/database.ts';
import { call, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses the Prometheus text format strictly: every line is a comment or a sample, every sample
 * belongs to a family declared by a preceding `# TYPE`, label values are quoted and escaped.
 */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      expect(types.has(type[1] as string), `family declared twice: ${line}`).toBe(false);
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    expect(sample, `not a sample: ${line}`).not.toBeNull();
    const [, name = '', labelText = '', value = ''] = sample ?? [];
    const labels: Record<string, string> = {};
    const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
    let consumed = 0;
    while (consumed < labelText.length) {
      pair.lastIndex = consumed;
      const match = pair.exec(labelText);
      if (!match) throw new Error(`bad labels: ${line}`);
      labels[match[1] as string] = (match[2] as string).replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      consumed = pair.lastIndex;
    }
    const family = name.replace(/_(bucket|sum|count)$/, '');
    expect(types.has(name) || types.get(family) === 'histogram', `undeclared family: ${name}`).toBe(true);
    samples.push({ name, labels, value: Number(value) });
  }
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.find(
    (s) => s.name === name && Object.entries(labels).every(([key, v]) => s.labels[key] === v),
  );
  return found?.value ?? 0;
}

let server: TestServer;
let tenant: TestTenant;

async function scrape(target = server, headers: Record<string, string> = {}) {
  const response = await fetch(`${target.url}/metrics`, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await response.text());
}

beforeAll(async () => {
  server = await startServer();
  tenant = await createTenant(server);
});
afterAll(() => server.close());

describe('GET /metrics', () => {
  it('is Prometheus text with the documented families', async () => {
    const { types } = await scrape();
    expect(Object.fromEntries(types)).toMatchObject({
      partnerline_http_requests_total: 'counter',
      partnerline_http_request_duration_seconds: 'histogram',
      partnerline_rate_limited_total: 'counter',
      partnerline_rate_limit_store_failures_total: 'counter',
      partnerline_usage_flush_pending: 'gauge',
      partnerline_request_log_pending: 'gauge',
      partnerline_request_log_dropped_total: 'counter',
      process_cpu_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_heap_size_used_bytes: 'gauge',
      nodejs_eventloop_lag_p99_seconds: 'gauge',
    });
    if (onPostgres) {
      expect(Object.fromEntries(types)).toMatchObject({
        partnerline_db_pool_total: 'gauge',
        partnerline_db_pool_idle: 'gauge',
        partnerline_db_pool_waiting: 'gauge',
      });
    } else {
      expect(types.has('partnerline_db_pool_total')).toBe(false);
    }
  });

  it('counts requests by method, route template and status, with their latency', async () => {
    const labels = { method: 'GET', route: '/api/v1/partners/{id}', status: '404' };
    const before = (await scrape()).samples;
    for (const path of [
      '/api/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
      `/api/t/${tenant.slug}/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e3g`,
      '/api/v1/partners/whatever',
    ]) {
      expect((await call(server, 'GET', path, { key: tenant.key })).status).toBe(404);
    }
    const after = (await scrape()).samples;
    expect(value(after, 'partnerline_http_requests_total', labels)).toBe(
      value(before, 'partnerline_http_requests_total', labels) + 3,
    );
    const route = { method: 'GET', route: '/api/v1/partners/{id}' };
    const count = 'partnerline_http_request_duration_seconds_count';
    expect(value(after, count, route)).toBe(value(before, count, route) + 3);
    expect(value(after, 'partnerline_http_request_duration_seconds_bucket', { ...route, le: '+Inf' })).toBe(
      value(after, count, route),
    );
    expect(value(after, 'partnerline_http_request_duration_seconds_sum', route)).toBeGreaterThan(0);
  });

  it('labels routes by template only: no ids, slugs or unknown paths', async () => {
    await call(server, 'GET', '/no/such/path/prt_01jd8x3v4w5y6z7a8b9c0d1e2f');
    await call(server, 'PROPFIND', '/api/v1/partners', { key: tenant.key });
    const { samples } = await scrape();
    const routes = new Set(samples.filter((s) => s.labels.route !== undefined).map((s) => s.labels.route));
    for (const route of routes) {
      expect(route).not.toMatch(/prt_|t-[0-9a-f]{8}|no\/such/);
    }
    expect(routes).toContain('unmatched');
    const methods = new Set(samples.filter((s) => s.labels.method).map((s) => s.labels.method));
    expect(methods.has('PROPFIND')).toBe(false);
  });

  it('counts rate-limited requests', async () => {
    const created = await call(server, 'POST', '/api/v1/api-keys', {
      key: tenant.key,
      body: { name: 'limited', scopes: ['read'], rateLimit: { limit: 1, windowSeconds: 60 } },
    });
    const key = created.body.data.key;
    const before = value((await scrape()).samples, 'partnerline_rate_limited_total', {
      code: 'rate_limited',
    });
    expect((await call(server, 'GET', '/api/v1/partners', { key })).status).toBe(200);
    expect((await call(server, 'GET', '/api/v1/partners', { key })).status).toBe(429);
    expect((await call(server, 'GET', '/api/v1/partners', { key })).status).toBe(429);
    const after = (await scrape()).samples;
    expect(value(after, 'partnerline_rate_limited_total', { code: 'rate_limited' })).toBe(before + 2);
    expect(
      value(after, 'partnerline_http_requests_total', { route: '/api/v1/partners', status: '429' }),
    ).toBeGreaterThanOrEqual(2);
  });

  it('is never rate limited and needs no key without METRICS_TOKEN', async () => {
    for (let i = 0; i < 40; i++) {
      const response = await fetch(`${server.url}/metrics`);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
  });

  it('is not in the OpenAPI document', async () => {
    const doc = await call(server, 'GET', '/api/doc.json');
    expect(Object.keys(doc.body.paths)).not.toContain('/metrics');
  });
});

describe('METRICS_TOKEN', () => {
  const token = 'metrics-token-0123456789abcdef';
  let guarded: TestServer;
  beforeAll(async () => {
    guarded = await startServer({ env: { METRICS_TOKEN: token } });
  });
  afterAll(() => guarded.close());

  it.each([
    ['no credentials', {}, 'api_key_missing'],
    ['a wrong token', { authorization: 'Bearer metrics-token-0123456789abcdeX' }, 'api_key_invalid'],
    [
      'the token less its last character',
      { authorization: `Bearer ${token.slice(0, -1)}` },
      'api_key_invalid',
    ],
    ['the token and one character more', { authorization: `Bearer ${token}f` }, 'api_key_invalid'],
    ['the token in X-API-Key', { 'x-api-key': token }, 'api_key_missing'],
    ['the token without Bearer', { authorization: token }, 'api_key_missing'],
  ])('%s: 401 problem', async (_, headers, code) => {
    const response = await call(guarded, 'GET', '/metrics', { headers });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="partnerline"/);
    expect(response.body.code).toBe(code);
    expect(JSON.stringify(response.body)).not.toContain(token);
  });

  it('the right bearer token: 200', async () => {
    const { types } = await scrape(guarded, { authorization: `Bearer ${token}` });
    expect(types.get('partnerline_http_requests_total')).toBe('counter');
  });

  it('a token shorter than 16 characters is a configuration error', () => {
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(ConfigError);
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
  });
});
