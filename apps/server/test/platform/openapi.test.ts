import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/platform/ids.ts';
import { type ApiResponse, call, createTenant } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, type TestServer } from '../helpers/server.ts';

// ajv-formats ships CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** The OpenAPI document, walked as plain JSON. */
type Json = any;

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** The one keyless API operation: a leaked key is its own proof. */
const LEAK_REPORT = '/api/v1/api-keys/revoke-leaked';

let server: TestServer;
let doc: Json;
beforeAll(async () => {
  server = await startServer();
  const response = await call(server, 'GET', '/api/doc.json');
  expect(response.status).toBe(200);
  doc = response.body;
});
afterAll(() => server.close());

/**
 * Every method and path the server routes, from Fastify's own route tree (`printRoutes`): each
 * line is a node whose label continues its parent's path, with the methods registered on it.
 */
function registeredRoutes(tree: string): { method: string; path: string }[] {
  const routes: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:│ {3}| {4}|├── |└── )*)(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match?.[2]) continue;
    const depth = (match[1] ?? '').length / 4;
    stack.length = Math.max(depth - 1, 0);
    const path = `${stack.join('')}${match[2]}`;
    stack.push(match[2]);
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method !== '' && method !== 'HEAD') routes.push({ method, path });
    }
  }
  return routes;
}

/** Fastify's `/partners/:id` as OpenAPI's `/partners/{id}`. */
const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

function operations(): { method: string; path: string; op: Json }[] {
  return Object.entries<Json>(doc.paths).flatMap(([path, item]) =>
    Object.entries<Json>(item)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, op]) => ({ method, path, op })),
  );
}

describe('GET /api/doc.json', () => {
  it('is an OpenAPI 3.1.0 document with info, servers and tags', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.info.license).toMatchObject({ name: expect.any(String) });
    expect(doc.servers.length).toBeGreaterThan(0);
    for (const tag of doc.tags) expect(tag.description, tag.name).toEqual(expect.any(String));
  });

  it('documents every route served under /api/v1 and /api/admin, and nothing that is not served', () => {
    const served = registeredRoutes(server.app.printRoutes({ commonPrefix: false }))
      .filter(({ path }) => path.startsWith('/api/v1/') || path.startsWith('/api/admin/'))
      .map(({ method, path }) => `${method} ${openApiPath(path)}`);
    expect(served).toContain('GET /api/v1/partners');
    expect(served).toContain('PATCH /api/v1/partners/{id}');
    expect(served).toContain('POST /api/admin/tenants');

    const documented = operations().map(({ method, path }) => `${method.toUpperCase()} ${path}`);
    const documentedApi = documented.filter((op) => / \/api\/(v1|admin)\//.test(op));
    expect([...new Set(served)].sort()).toEqual([...documentedApi].sort());
    expect(documented).toEqual(expect.arrayContaining(['GET /health', 'GET /ready']));
  });

  it('every documented operation is served', () => {
    for (const { method, path } of operations()) {
      const url = path.replace(/\{(\w+)\}/g, ':$1');
      expect(server.app.hasRoute({ method: method.toUpperCase() as 'GET', url }), `${method} ${path}`).toBe(
        true,
      );
    }
  });

  it('hides the /api/t/{tenantSlug}/v1 twins and the documentation routes', () => {
    const paths = Object.keys(doc.paths);
    expect(paths.filter((path) => path.startsWith('/api/t/'))).toEqual([]);
    expect(paths.filter((path) => path.startsWith('/api/doc'))).toEqual([]);
  });

  it('every operation has a unique operationId, a summary and a declared tag', () => {
    const ids = new Set<string>();
    const tags = new Set(doc.tags.map((tag: Json) => tag.name));
    for (const { method, path, op } of operations()) {
      const where = `${method} ${path}`;
      expect(op.operationId, where).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
      expect(ids.has(op.operationId), `${where}: duplicate ${op.operationId}`).toBe(false);
      ids.add(op.operationId);
      expect(op.summary, where).toEqual(expect.any(String));
      expect(op.tags?.length, where).toBeGreaterThan(0);
      for (const tag of op.tags) expect(tags.has(tag), `${where}: tag ${tag}`).toBe(true);
    }
  });

  it('every operation has a 2xx response with a JSON schema and an example', () => {
    for (const { method, path, op } of operations()) {
      const where = `${method} ${path}`;
      const success = Object.entries<Json>(op.responses).filter(([status]) => /^2\d\d$/.test(status));
      expect(success.length, where).toBeGreaterThan(0);
      for (const [status, response] of success) {
        const media = response.content?.['application/json'];
        expect(media?.schema, `${where} ${status}`).toBeTypeOf('object');
        expect(media.example ?? media.examples, `${where} ${status}: example`).toBeDefined();
      }
    }
  });

  it('marks a request body required exactly where the server refuses a request without one', async () => {
    const tenant = await createTenant(server);
    const withBody = operations().filter(({ op }) => op.requestBody !== undefined);
    expect(withBody.length).toBeGreaterThan(0);
    for (const { method, path, op } of withBody) {
      const where = `${method} ${path}`;
      const url = path.replace(/\{id\}/g, newId('prt'));
      const key = path.startsWith('/api/admin/') ? ADMIN_KEY : path === LEAK_REPORT ? undefined : tenant.key;
      const response = await call(server, method.toUpperCase(), url, { key });
      const refused = response.status === 400 && response.body.code === 'validation_error';
      expect(op.requestBody.required, `${where}: ${response.status} ${response.body?.detail}`).toBe(refused);
      if (!refused) {
        expect(response.status, where).toBe(404);
        expect(op.requestBody.content['application/json'].example, where).toBeDefined();
      }
    }
  });

  it.each([
    ['/api/v1/api-keys/{id}/activate', {}],
    ['/api/v1/api-keys/{id}/deactivate', {}],
    ['/api/v1/api-keys/{id}/rotate', { gracePeriodSeconds: 3600 }],
    ['/api/v1/partners/{id}/activate', {}],
    ['/api/v1/partners/{id}/invite', {}],
    ['/api/v1/partners/{id}/revoke', { cancelPending: true, reason: 'Terms of service violation' }],
    ['/api/v1/payouts/{id}/cancel', {}],
    ['/api/v1/webhook-endpoints/{id}/test', {}],
    ['/api/v1/webhook-endpoints/{id}/rotate-secret', {}],
    ['/api/v1/webhook-messages/{id}/retry', {}],
    ['/api/v1/transactions/{id}/approve', { reason: 'Order cancelled by the customer' }],
    ['/api/v1/transactions/{id}/reject', { reason: 'Order cancelled by the customer' }],
  ])('POST %s takes an optional body, with an example', (path, example) => {
    const body = doc.paths[path].post.requestBody;
    expect(body.required).toBe(false);
    expect(body.content['application/json'].example).toEqual(example);
  });

  it('every operation documents its 4xx answers as problem+json with a code and an example', () => {
    for (const { method, path, op } of operations()) {
      const where = `${method} ${path}`;
      const clientErrors = Object.entries<Json>(op.responses).filter(([status]) => /^4\d\d$/.test(status));
      expect(clientErrors.length, where).toBeGreaterThan(0);
      for (const [status, response] of Object.entries<Json>(op.responses)) {
        if (!/^[45]\d\d$/.test(status)) continue;
        const media = response.content?.['application/problem+json'];
        expect(media, `${where} ${status}`).toBeDefined();
        expect(media.schema.required, `${where} ${status}`).toEqual(
          expect.arrayContaining(['type', 'title', 'status', 'code', 'detail', 'requestId']),
        );
        expect(media.example?.status, `${where} ${status}: example`).toBe(Number(status));
      }
    }
  });

  it('tenant operations document the auth answers', () => {
    for (const { method, path, op } of operations()) {
      if (!path.startsWith('/api/v1/') && !path.startsWith('/api/admin/')) continue;
      if (path === LEAK_REPORT) continue;
      expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['401']));
    }
  });

  it('documents what the platform around a route answers: body parser, idempotency keys, unknown tenants', () => {
    const codes = (op: Json, status: string): string[] => {
      const code = op.responses[status]?.content['application/problem+json'].schema.properties.code;
      return code === undefined
        ? []
        : (code.anyOf ?? [code]).flatMap((literal: Json) => literal.enum ?? literal.const);
    };
    for (const { method, path, op } of operations()) {
      const where = `${method} ${path}`;
      if (['post', 'put', 'patch', 'delete'].includes(method) && path !== LEAK_REPORT) {
        expect(codes(op, '400'), where).toContain('invalid_json');
        expect(codes(op, '413'), where).toEqual(['payload_too_large']);
        expect(codes(op, '415'), where).toEqual(['unsupported_media_type']);
      }
      if (!path.startsWith('/api/v1/') || path === LEAK_REPORT) continue;
      expect(codes(op, '404'), where).toContain('tenant_not_found');
      if (method !== 'post') continue;
      expect(codes(op, '409'), where).toContain('idempotency_key_in_flight');
      expect(codes(op, '422'), where).toEqual(['idempotency_key_reused']);
      expect(
        op.parameters?.map((p: Json) => p.name),
        where,
      ).toContain('Idempotency-Key');
    }
  });

  it('every example in the document validates against its schema', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const failures: string[] = [];
    const check = (schema: Json, example: unknown, where: string) => {
      const validate = ajv.compile(schema);
      if (!validate(example)) failures.push(`${where}: ${ajv.errorsText(validate.errors)}`);
    };
    const walk = (node: Json, where: string): void => {
      if (Array.isArray(node)) {
        for (const [i, child] of node.entries()) walk(child, `${where}/${i}`);
        return;
      }
      if (node === null || typeof node !== 'object') return;
      if (node.schema && 'example' in node) check(node.schema, node.example, `${where}/example`);
      if (node.schema && node.examples) {
        for (const [name, example] of Object.entries<Json>(node.examples)) {
          check(node.schema, example.value, `${where}/examples/${name}`);
        }
      }
      const isSchema = 'type' in node || 'anyOf' in node || 'properties' in node;
      if (isSchema && Array.isArray(node.examples)) {
        for (const [i, example] of (node.examples as unknown[]).entries()) {
          check(node, example, `${where}/examples/${i}`);
        }
      }
      for (const [key, child] of Object.entries<Json>(node)) {
        if (key !== 'example' && key !== 'examples') walk(child, `${where}/${key}`);
      }
    };
    walk(doc.paths, '#/paths');
    walk(doc.components ?? {}, '#/components');
    expect(failures).toEqual([]);
  });

  it('defines both key schemes and requires one of them by default; the probes need none', () => {
    expect(doc.components.securitySchemes.ApiKeyHeader).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'X-API-Key',
    });
    expect(doc.components.securitySchemes.BearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual(expect.arrayContaining([{ ApiKeyHeader: [] }, { BearerAuth: [] }]));
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/ready'].get.security).toEqual([]);
    expect(doc.paths[LEAK_REPORT].post.security).toEqual([]);
    for (const { method, path, op } of operations()) {
      if (path.startsWith('/api/') && path !== LEAK_REPORT)
        expect(op.security, `${method} ${path}`).not.toEqual([]);
    }
  });

  it('is the same document Swagger UI loads', async () => {
    const ui = await call(server, 'GET', '/api/doc/json');
    expect(ui.status).toBe(200);
    expect(ui.body).toEqual(doc);
  });
});

const RATE_LIMIT_HEADERS = [
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'RateLimit-Policy',
  'RateLimit',
];
const QUOTA_HEADERS = ['X-Quota-Limit', 'X-Quota-Remaining', 'X-Quota-Reset'];
const PARTNER = '/api/v1/partners/{id}';

/** The headers a documented response declares, each of which must be a `$ref` to components.headers. */
function declaredHeaders(path: string, method: string, status: number | string): string[] {
  const response = doc.paths[path][method].responses[String(status)];
  expect(response, `${method} ${path} ${status}`).toBeDefined();
  return Object.entries<Json>(response.headers ?? {}).map(([name, header]) => {
    // Retry-After of a 409 is the in-flight one's, declared under a name of its own.
    const component = name === 'Retry-After' && String(status) === '409' ? 'Retry-After-If-In-Flight' : name;
    expect(header, `${method} ${path} ${status} ${name}`).toEqual({
      $ref: `#/components/headers/${component}`,
    });
    return name;
  });
}

describe('response headers in the document', () => {
  it.each([
    ['X-Request-Id', 'string', true],
    ['X-RateLimit-Limit', 'integer', false],
    ['X-RateLimit-Remaining', 'integer', false],
    ['X-RateLimit-Reset', 'integer', false],
    ['RateLimit-Policy', 'string', false],
    ['RateLimit', 'string', false],
    ['X-Quota-Limit', 'integer', false],
    ['X-Quota-Remaining', 'integer', false],
    ['X-Quota-Reset', 'integer', false],
    ['Retry-After', 'integer', true],
    ['WWW-Authenticate', 'string', true],
  ])('components.headers declares %s: %s, required %s', (name, type, required) => {
    const header = doc.components.headers[name];
    expect(header.description).toEqual(expect.any(String));
    expect(header.schema.type).toBe(type);
    expect(header.required ?? false).toBe(required);
    expect(header.schema.examples.length).toBeGreaterThan(0);
  });

  it('describes the IETF draft fields and the quota as the API sends them', () => {
    const { headers } = doc.components;
    expect(headers['RateLimit-Policy'].description).toContain('"<policy>";q=<limit>;w=<windowSeconds>');
    expect(headers.RateLimit.description).toContain('"<policy>";r=<remaining>;t=<');
    for (const name of QUOTA_HEADERS)
      expect(headers[name].description).toMatch(/only when the key has a quota/);
    expect(headers['X-Request-Id'].description).toContain('req_');
  });

  it.each([200, 401, 404, 429])('GET /api/v1/partners/{id} %i declares the limit headers', (status) => {
    const declared = declaredHeaders(PARTNER, 'get', status);
    expect(declared).toEqual(
      expect.arrayContaining(['X-Request-Id', ...RATE_LIMIT_HEADERS, ...QUOTA_HEADERS]),
    );
    expect(declared.includes('Retry-After')).toBe(status === 429);
    expect(declared.includes('WWW-Authenticate')).toBe(status === 401);
  });

  it('every response declares X-Request-Id; every 401 WWW-Authenticate; every 429 and 503 Retry-After', () => {
    for (const { method, path, op } of operations()) {
      for (const status of Object.keys(op.responses)) {
        const declared = declaredHeaders(path, method, status);
        expect(declared, `${method} ${path} ${status}`).toContain('X-Request-Id');
        if (status === '401') expect(declared, `${method} ${path}`).toContain('WWW-Authenticate');
        if (status === '429' || status === '503')
          expect(declared, `${method} ${path}`).toContain('Retry-After');
      }
    }
  });

  it('tenant operations behind the key gate declare the limit headers on every response', () => {
    for (const { method, path, op } of operations()) {
      if (!path.startsWith('/api/v1/') || path === LEAK_REPORT) continue;
      for (const status of Object.keys(op.responses)) {
        expect(declaredHeaders(path, method, status), `${method} ${path} ${status}`).toEqual(
          expect.arrayContaining([...RATE_LIMIT_HEADERS, ...QUOTA_HEADERS]),
        );
      }
    }
  });

  it('other operations declare no quota, and the per-IP limit headers on 401 and 429 (the leak report: on all)', () => {
    const others = operations().filter(({ path }) => !path.startsWith('/api/v1/') || path === LEAK_REPORT);
    expect(others.map(({ path }) => path)).toEqual(
      expect.arrayContaining(['/health', '/ready', LEAK_REPORT]),
    );
    for (const { method, path, op } of others) {
      for (const status of Object.keys(op.responses)) {
        const declared = declaredHeaders(path, method, status);
        const where = `${method} ${path} ${status}`;
        for (const name of QUOTA_HEADERS) expect(declared, where).not.toContain(name);
        // The leak report takes every request from a budget per IP; elsewhere only keyless ones.
        const limited = path === LEAK_REPORT || status === '401' || status === '429';
        for (const name of RATE_LIMIT_HEADERS)
          expect(declared.includes(name), `${where} ${name}`).toBe(limited);
      }
    }
    expect(declaredHeaders('/health', 'get', 200)).toEqual(['X-Request-Id']);
  });

  it('every operation can answer 400 validation_error (an unknown query parameter, a path that is not valid percent-encoding)', () => {
    for (const { method, path, op } of operations()) {
      if (path === '/health' || path === '/ready' || path === '/metrics') continue;
      const codes = JSON.stringify(
        op.responses['400']?.content['application/problem+json'].schema.properties.code,
      );
      expect(codes, `${method} ${path}`).toContain('"validation_error"');
    }
  });

  it('every operation can answer 417 expectation_failed and 503 service_unavailable (a request that came as the server stops)', () => {
    for (const { method, path, op } of operations()) {
      for (const [status, code] of [
        ['417', 'expectation_failed'],
        ['503', 'service_unavailable'],
      ] as const) {
        const codes = JSON.stringify(
          op.responses[status]?.content['application/problem+json'].schema.properties.code,
        );
        expect(codes, `${method} ${path} ${status}`).toContain(`"${code}"`);
      }
    }
  });

  it('every 415 declares Accept-Encoding, which refuses an encoded body', () => {
    const refusals = operations().filter(({ op }) => op.responses['415'] !== undefined);
    expect(refusals.length).toBeGreaterThan(20);
    for (const { method, path } of refusals) {
      expect(declaredHeaders(path, method, '415'), `${method} ${path}`).toContain('Accept-Encoding');
    }
    expect(doc.components.headers['Accept-Encoding'].schema.pattern).toBe('^identity$');
  });

  it('declares ETag on the successful answers of the operations that send it, Idempotent-Replayed on POSTs', () => {
    expect(declaredHeaders(PARTNER, 'get', 200)).toContain('ETag');
    expect(declaredHeaders(PARTNER, 'get', 404)).not.toContain('ETag');
    expect(declaredHeaders('/api/v1/partners', 'post', 201)).toEqual(
      expect.arrayContaining(['ETag', 'Idempotent-Replayed']),
    );
    expect(declaredHeaders('/api/v1/partners', 'get', 200)).not.toContain('ETag');
    expect(declaredHeaders('/api/admin/tenants/{id}', 'patch', 200)).toContain('ETag');
    expect(declaredHeaders('/api/v1/partners', 'post', 409)).toEqual(
      expect.arrayContaining(['Idempotent-Replayed', 'Retry-After']),
    );
    expect(declaredHeaders(LEAK_REPORT, 'post', 202)).not.toContain('Idempotent-Replayed');
  });

  it("states each tenant operation's scope, and the scope fields of insufficient_scope", () => {
    const get = doc.paths[PARTNER].get;
    expect(get.security).toEqual([{ ApiKeyHeader: ['partners:read'] }, { BearerAuth: ['partners:read'] }]);
    expect(get.description).toContain('Requires the scope `partners:read`.');
    expect(doc.paths['/api/v1/partners'].post.security).toEqual([
      { ApiKeyHeader: ['partners:write'] },
      { BearerAuth: ['partners:write'] },
    ]);
    // Any valid key may call GET /me.
    expect(doc.paths['/api/v1/me'].get.security).toBeUndefined();
    const forbidden = get.responses['403'].content['application/problem+json'].schema.properties;
    expect(forbidden).toMatchObject({ requiredScope: { type: 'string' }, missingScopes: { type: 'array' } });
  });

  it('keeps no internal marker in the operations', () => {
    for (const { method, path, op } of operations()) {
      expect(
        Object.keys(op).filter((key) => key.startsWith('x-')),
        `${method} ${path}`,
      ).toEqual([]);
    }
  });
});

describe('response headers as sent', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });

  /**
   * Holds a real response to its documentation both ways: every header it declares is sent (bar
   * `absent`, optional ones this request has no reason to carry) and matches its schema, and no
   * header of components.headers is sent that it does not declare.
   */
  function expectAsDocumented(
    response: ApiResponse,
    path: string,
    method: string,
    absent: readonly string[] = [],
  ): void {
    const declared = new Set(declaredHeaders(path, method, response.status));
    for (const [name, header] of Object.entries<Json>(doc.components.headers)) {
      const where = `${method} ${path} ${response.status} ${name}`;
      const value = response.headers.get(name);
      if (!declared.has(name) || absent.includes(name)) {
        expect(value, `${where}: sent, not declared`).toBeNull();
        continue;
      }
      expect(value, `${where}: declared, not sent`).not.toBeNull();
      const parsed = header.schema.type === 'integer' && /^\d+$/.test(value ?? '') ? Number(value) : value;
      const validate = ajv.compile(header.schema);
      expect(validate(parsed), `${where}: ${value} ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  }

  it('GET /api/v1/partners/{id} with a limited key: 200, 404 and 429 send every declared header', async () => {
    const tenant = await createTenant(server);
    const partner = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      body: { email: 'headers@example.com' },
    });
    expect(partner.status).toBe(201);
    const limited = await call(server, 'POST', '/api/v1/api-keys', {
      key: tenant.key,
      body: {
        name: 'limited',
        scopes: ['read'],
        rateLimit: { limit: 2, windowSeconds: 60 },
        quota: { limit: 100, period: 'day' },
      },
    });
    expect(limited.status).toBe(201);
    const key = limited.body.data.key;

    const found = await call(server, 'GET', `/api/v1/partners/${partner.body.data.id}`, { key });
    expect(found.status).toBe(200);
    expectAsDocumented(found, PARTNER, 'get');
    expect(found.headers.get('ratelimit-policy')).toBe('"key";q=2;w=60');

    const missing = await call(server, 'GET', `/api/v1/partners/${newId('prt')}`, { key });
    expect(missing.status).toBe(404);
    expectAsDocumented(missing, PARTNER, 'get');

    const refused = await call(server, 'GET', `/api/v1/partners/${partner.body.data.id}`, { key });
    expect(refused.status).toBe(429);
    expectAsDocumented(refused, PARTNER, 'get');

    // Without a key the request takes from the client IP's budget, and there is no key quota.
    const id = partner.body.data.id;
    const unnamed = await call(server, 'GET', `/api/v1/partners/${id}`);
    expect(unnamed.body.code).toBe('tenant_slug_missing');
    expectAsDocumented(unnamed, PARTNER, 'get', QUOTA_HEADERS);
    const keyless = await call(server, 'GET', `/api/t/${tenant.slug}/v1/partners/${id}`);
    expect(keyless.body.code).toBe('api_key_missing');
    expectAsDocumented(keyless, PARTNER, 'get', QUOTA_HEADERS);
    expect(keyless.headers.get('ratelimit-policy')).toMatch(/^"unauthenticated";/);
  });

  it('the admin API: the admin key is not limited; a request without a key is, per IP', async () => {
    const admin = await call(server, 'GET', '/api/admin/tenants', { key: ADMIN_KEY });
    expect(admin.status).toBe(200);
    expectAsDocumented(admin, '/api/admin/tenants', 'get');

    const keyless = await call(server, 'GET', '/api/admin/tenants');
    expect(keyless.status).toBe(401);
    expectAsDocumented(keyless, '/api/admin/tenants', 'get');
  });

  it('POST /api/v1/partners with Idempotency-Key: the first answer and its replay as documented', async () => {
    const tenant = await createTenant(server);
    const send = () =>
      call(server, 'POST', '/api/v1/partners', {
        key: tenant.key,
        headers: { 'idempotency-key': 'documented-replay' },
        body: { email: 'replayed@example.com' },
      });
    const first = await send();
    expect(first.status).toBe(201);
    expectAsDocumented(first, '/api/v1/partners', 'post', [...QUOTA_HEADERS, 'Idempotent-Replayed']);
    const replay = await send();
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expectAsDocumented(replay, '/api/v1/partners', 'post', QUOTA_HEADERS);
  });

  it('/health sends X-Request-Id and no limit headers', async () => {
    expectAsDocumented(await call(server, 'GET', '/health'), '/health', 'get');
  });
});

describe('Swagger UI', () => {
  it('GET /api/doc serves the UI as HTML', async () => {
    const response = await fetch(`${server.url}/api/doc`, { redirect: 'follow' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain('swagger-ui');
  });

  it('its pages and files carry a content security policy and are not to be framed by other sites', async () => {
    for (const path of [
      '/api/doc/static/index.html',
      '/api/doc/static/swagger-initializer.js',
      '/api/doc/json',
    ]) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(200);
      const policy = response.headers.get('content-security-policy') ?? '';
      expect(policy, path).toContain("default-src 'self'");
      expect(policy, path).toContain("frame-ancestors 'self'");
      expect(policy, path).toContain("object-src 'none'");
      // A server on plain HTTP must still load the UI's files.
      expect(policy, path).not.toContain('upgrade-insecure-requests');
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(response.headers.get('x-frame-options'), path).toBe('SAMEORIGIN');
    }
  });

  it('keeps no key in the browser and calls no outside validator', async () => {
    const script = await (await fetch(`${server.url}/api/doc/static/swagger-initializer.js`)).text();
    const config = await (await fetch(`${server.url}/api/doc/json`)).text();
    expect(script).toContain('SwaggerUIBundle');
    expect(`${script}${config}`).not.toMatch(/persistAuthorization"?\s*:\s*true/);
    expect(script).toMatch(/validatorUrl"?\s*:\s*null/);
  });

  it('a file the UI does not have is a 404 problem, not a wrong method', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const response = await fetch(`${server.url}/api/doc/static/no-such-file.js`, { method });
      expect(response.status, method).toBe(404);
      expect(response.headers.get('content-type'), method).toMatch(/^application\/problem\+json/);
      expect(response.headers.get('allow'), method).toBeNull();
    }
  });
});

describe('in production', () => {
  const env = { NODE_ENV: 'production', LOG_LEVEL: 'silent' };

  it('the docs routes are 404 problems; the probes still answer', async () => {
    const production = await startServer({ env });
    try {
      for (const path of ['/api/doc.json', '/api/doc', '/api/doc/json', '/api/doc/static/index.html']) {
        const response = await call(production, 'GET', path);
        expect(response.status, path).toBe(404);
        expect(response.headers.get('content-type'), path).toMatch(/^application\/problem\+json/);
      }
      expect((await call(production, 'GET', '/health')).status).toBe(200);
    } finally {
      await production.close();
    }
  });

  it('DOCS_ENABLED=true turns them on', async () => {
    const production = await startServer({ env: { ...env, DOCS_ENABLED: 'true' } });
    try {
      const document = await call(production, 'GET', '/api/doc.json');
      expect(document.status).toBe(200);
      expect(document.body.openapi).toBe('3.1.0');
      const ui = await fetch(`${production.url}/api/doc`);
      expect(ui.status).toBe(200);
      expect(ui.headers.get('content-type')).toMatch(/^text\/html/);
    } finally {
      await production.close();
    }
  });
});

describe('redocly lint --extends=recommended', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'partnerline-openapi-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('finds no errors and no warnings', { timeout: 180_000 }, async () => {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(doc, null, 2));
    const require = createRequire(import.meta.url);
    const manifestPath = require.resolve('@redocly/cli/package.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    const bin = join(
      dirname(manifestPath),
      typeof manifest.bin === 'string' ? manifest.bin : manifest.bin.redocly,
    );

    const run = promisify(execFile);
    const result = await run(
      process.execPath,
      [bin, 'lint', '--extends=recommended', file, '--format=json'],
      {
        timeout: 150_000,
        maxBuffer: 64 * 1024 * 1024,
        // No telemetry or update check: the lint must not need the network.
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', CI: 'true' },
      },
    ).catch((error: { stdout?: string; stderr?: string }) => ({
      stdout: error.stdout ?? '',
      stderr: error.stderr ?? '',
    }));

    const start = result.stdout.indexOf('{');
    expect(start, `no JSON from redocly: ${result.stderr}`).toBeGreaterThanOrEqual(0);
    const report = JSON.parse(result.stdout.slice(start));
    const problems = report.problems.map(
      (p: Json) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer ?? '?'}`,
    );
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });
});
