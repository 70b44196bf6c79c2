import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, call, createTenant, expectProblem, type TestTenant } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let tenant: TestTenant;
beforeAll(async () => {
  server = await startServer();
  tenant = await createTenant(server);
});
afterAll(() => server.close());

/** Every error response of this file, checked at the end for anything a client must never see. */
const errorResponses: { label: string; response: ApiResponse }[] = [];

async function problem(
  label: string,
  method: string,
  path: string,
  options: Parameters<typeof call>[3] = {},
) {
  const response = await call(server, method, path, options);
  errorResponses.push({ label, response });
  return response;
}

const json = { 'content-type': 'application/json' };

describe('unknown routes and wrong methods', () => {
  it.each([
    ['GET', '/nope'],
    ['GET', '/api/v1/nope'],
    ['POST', '/api/v1/partnerz'],
    ['GET', '/api/v2/partners'],
    ['GET', '/api/v1/partners/prt_x/unknown'],
    ['DELETE', '/nope'],
  ])('%s %s: 404 not_found', async (method, path) => {
    const response = await problem(`404 ${method} ${path}`, method, path, { key: tenant.key });
    expectProblem(response, 404, 'not_found');
  });

  it.each([
    ['PUT', '/api/v1/partners', ['GET', 'HEAD', 'POST']],
    ['DELETE', '/api/v1/partners', ['GET', 'HEAD', 'POST']],
    ['PATCH', '/api/v1/partners', ['GET', 'HEAD', 'POST']],
    ['POST', '/api/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f', ['GET', 'HEAD', 'PATCH']],
    ['DELETE', '/api/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f', ['GET', 'HEAD', 'PATCH']],
    ['POST', '/health', ['GET', 'HEAD']],
  ])('%s %s: 405 method_not_allowed with Allow', async (method, path, allowed) => {
    const response = await problem(`405 ${method} ${path}`, method, path, { key: tenant.key });
    expectProblem(response, 405, 'method_not_allowed');
    const allow = (response.headers.get('allow') ?? '').split(',').map((m) => m.trim());
    expect(allow.sort()).toEqual([...allowed].sort());
    // What Allow names really works: HEAD answers like GET, without a body.
    if (allowed.includes('HEAD')) {
      const head = await call(server, 'HEAD', path, { key: tenant.key });
      expect(head.status).not.toBe(405);
    }
  });

  it('405 does not depend on a key', async () => {
    const response = await problem('405 without key', 'PUT', '/api/v1/partners');
    expectProblem(response, 405, 'method_not_allowed');
  });

  it('a path that is not valid percent-encoding: a 400 problem, not a framework error', async () => {
    const response = await problem('bad URL', 'GET', '/api/v1/partners/%E0%A4%A', { key: tenant.key });
    expectProblem(response, 400, 'validation_error');
  });

  it('a path segment too long for the router: a 404 problem', async () => {
    const response = await problem('long segment', 'GET', `/api/v1/partners/${'x'.repeat(500)}`, {
      key: tenant.key,
    });
    expectProblem(response, 404, 'not_found');
    expect(JSON.stringify(response.body)).not.toContain('x'.repeat(100));
  });
});

describe('request bodies', () => {
  it.each([
    ['a truncated object', '{"email":'],
    ['unquoted keys', '{email: "a@example.com"}'],
    ['a trailing comma', '{"email": "a@example.com",}'],
    ['single quotes', "{'email': 'a@example.com'}"],
    ['plain text', 'hello'],
  ])('malformed JSON (%s): 400 invalid_json', async (_, raw) => {
    const response = await problem(`invalid JSON ${raw}`, 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw,
      headers: json,
    });
    expectProblem(response, 400, 'invalid_json');
  });

  it('an empty body declared as JSON: 400 invalid_json', async () => {
    const response = await problem('empty JSON', 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw: '',
      headers: json,
    });
    expectProblem(response, 400, 'invalid_json');
  });

  it('malformed JSON on PATCH: 400 invalid_json', async () => {
    const response = await problem(
      'invalid JSON PATCH',
      'PATCH',
      '/api/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
      {
        key: tenant.key,
        raw: '{"name":',
        headers: json,
      },
    );
    expectProblem(response, 400, 'invalid_json');
  });

  it.each([
    ['__proto__', '{"email":"proto-1@example.com","__proto__":{"x":1}}', '__proto__'],
    ['__proto__ holding null', '{"email":"proto-2@example.com","__proto__":null}', '__proto__'],
    [
      'constructor.prototype',
      '{"email":"proto-3@example.com","constructor":{"prototype":{"x":1}}}',
      'constructor',
    ],
    [
      '__proto__ in metadata',
      '{"email":"proto-4@example.com","metadata":{"__proto__":"v"}}',
      'metadata.__proto__',
    ],
    [
      '__proto__ deep in a list',
      `{"email":"proto-5@example.com","x":${'['.repeat(20)}{"__proto__":1}${']'.repeat(20)}}`,
      '….0.0.0.0.0.0.0.__proto__',
    ],
  ])('valid JSON holding %s: 400 validation_error naming it, nothing stored', async (_, raw, field) => {
    const response = await problem(`prototype ${field}`, 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw,
      headers: json,
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([
      { field, code: 'forbidden_name', message: expect.stringMatching(/ is not an allowed property name$/) },
    ]);
    expect(response.body.detail).toBe(response.body.errors[0].message);
    expect(response.body.errors[0].message.startsWith(field)).toBe(true);
    const email = JSON.parse(raw.replace(/"(__proto__|constructor)"/g, '"p"')).email;
    const listed = await call(server, 'GET', `/api/v1/partners?q=${email}`, { key: tenant.key });
    expect(listed.body.data).toEqual([]);
  });

  it('a name that only holds __proto__ is still taken as a value', async () => {
    const response = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw: '{"email":"proto-value@example.com","name":"__proto__","metadata":{"constructor":"x"}}',
      headers: json,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    expect(response.body.data).toMatchObject({ name: '__proto__', metadata: { constructor: 'x' } });
  });

  it.each([
    ['text/plain', 'email=a@example.com'],
    ['application/x-www-form-urlencoded', 'email=a%40example.com'],
    [
      'multipart/form-data; boundary=x',
      '--x\r\nContent-Disposition: form-data; name="email"\r\n\r\na\r\n--x--',
    ],
    ['application/xml', '<partner><email>a@example.com</email></partner>'],
  ])('a %s body: 415 unsupported_media_type', async (type, raw) => {
    const response = await problem(`415 ${type}`, 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw,
      headers: { 'content-type': type },
    });
    expectProblem(response, 415, 'unsupported_media_type');
  });

  it.each([
    ['bytes that are no character', [0xff, 0xfe]],
    ['half of a surrogate pair', [0xed, 0xa0, 0x80]],
    ['an overlong slash', [0xc0, 0xaf]],
    ['a character cut short', [0xe2, 0x82]],
  ])('a body that is not UTF-8 (%s): 400 invalid_json, nothing stored', async (_, bytes) => {
    const email = `utf8-${bytes.join('-')}@example.com`;
    const head = Buffer.from(`{"email":"${email}","name":"x-`);
    const raw = Buffer.concat([head, Buffer.from(bytes), Buffer.from('"}')]);
    const response = await problem(`not UTF-8 ${bytes}`, 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw,
      headers: json,
    });
    expectProblem(response, 400, 'invalid_json');
    expect(response.body.detail).toContain('UTF-8');
    const listed = await call(server, 'GET', `/api/v1/partners?q=${encodeURIComponent(email)}`, {
      key: tenant.key,
    });
    expect(listed.body.data).toEqual([]);
  });

  it.each([
    'application/json; charset=utf-8',
    'application/json; charset=UTF-8',
    'application/json;charset="utf-8"',
    'Application/JSON',
  ])('UTF-8 declared as %s: the text is stored as sent', async (type) => {
    const name = `Zoë Ångström 🚀 ${type}`;
    const response = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw: Buffer.from(JSON.stringify({ email: `${crypto.randomUUID()}@example.com`, name })),
      headers: { 'content-type': type },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    expect(response.body.data.name).toBe(name);
  });

  it.each(['iso-8859-1', 'utf-16', 'windows-1252'])(
    'JSON declared in charset %s: 415 unsupported_media_type',
    async (charset) => {
      const response = await problem(`415 charset ${charset}`, 'POST', '/api/v1/partners', {
        key: tenant.key,
        raw: Buffer.from('{"email":"caf\xe9@example.com"}', 'latin1'),
        headers: { 'content-type': `application/json; charset=${charset}` },
      });
      expectProblem(response, 415, 'unsupported_media_type');
      expect(response.body.detail).toContain('UTF-8');
    },
  );

  it.each([
    ['gzip', gzipSync(JSON.stringify({ email: 'gzip@example.com' }))],
    ['br', Buffer.from('{"email":"br@example.com"}')],
    ['deflate, gzip', Buffer.from('{"email":"two@example.com"}')],
  ])('a body with Content-Encoding %s: 415, and Accept-Encoding says what is taken', async (coding, raw) => {
    const response = await problem(`415 coding ${coding}`, 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw,
      headers: { ...json, 'content-encoding': coding },
    });
    expectProblem(response, 415, 'unsupported_media_type');
    expect(response.headers.get('accept-encoding')).toBe('identity');
  });

  it('a body with Content-Encoding identity is taken as it is', async () => {
    const response = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw: JSON.stringify({ email: 'identity-coding@example.com' }),
      headers: { ...json, 'content-encoding': 'identity' },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
  });

  it('a body over 1 MiB: 413 payload_too_large', async () => {
    const raw = JSON.stringify({ email: 'big@example.com', name: 'x'.repeat(1024 * 1024) });
    const response = await problem('413', 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw,
      headers: json,
    });
    expectProblem(response, 413, 'payload_too_large');
  });

  it('a body just under 1 MiB reaches validation', async () => {
    const raw = JSON.stringify({ email: 'big@example.com', name: 'x'.repeat(1024 * 1024 - 100) });
    const response = await problem('just under 1 MiB', 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw,
      headers: json,
    });
    expectProblem(response, 400, 'validation_error');
  });
});

describe('validation errors', () => {
  it('have exactly the shape of DESIGN §Errors', async () => {
    const response = await problem('validation shape', 'POST', '/api/v1/partners', {
      key: tenant.key,
      body: {},
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(response.body).toEqual({
      type: 'https://partnerline.dev/problems/validation_error',
      title: 'Validation failed',
      status: 400,
      code: 'validation_error',
      detail: 'email is required',
      errors: [{ field: 'email', code: 'required', message: 'email is required' }],
      requestId: response.headers.get('x-request-id'),
    });
  });

  it('list the first 20 errors and count the rest in the detail', async () => {
    const metadata = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`field${i}`, i]));
    const response = await problem('30 errors', 'POST', '/api/v1/partners', {
      key: tenant.key,
      body: { email: 'many@example.com', metadata },
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toHaveLength(20);
    expect(response.body.errors[0]).toEqual({
      field: 'metadata.field0',
      code: 'invalid_type',
      message: 'metadata.field0 must be of type string',
    });
    expect(response.body.detail).toMatch(/^metadata\.field0 must be of type string; .*; and 10 more$/);
  });

  it('past a thousand, are not counted: the detail says there are more', async () => {
    const response = await problem('2,000 errors', 'POST', '/api/v1/webhook-endpoints', {
      key: tenant.key,
      body: { url: 'https://hooks.example.com/in', eventTypes: Array(2_000).fill(7) },
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toHaveLength(20);
    expect(response.body.detail).toMatch(/^eventTypes must have at most 50 entries; .*; and more$/);
    // A number fails the list of event types too; the type error alone says what is wrong.
    expect(response.body.errors[1]).toEqual({
      field: 'eventTypes.0',
      code: 'invalid_type',
      message: 'eventTypes.0 must be of type string',
    });
    expect(response.body.errors[2].field).toBe('eventTypes.1');
  });

  it('of a refused body with half a million values: only its first, in a small answer', async () => {
    // No key needed: the leak report is open to anyone, so its refusal must cost little.
    const raw = `{"keys":[${Array(520_000).fill('1').join(',')}]}`;
    const response = await problem('half a million bad items', 'POST', '/api/v1/api-keys/revoke-leaked', {
      raw,
      headers: json,
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([
      { field: 'keys', code: 'too_many', message: 'keys must have at most 100 entries' },
    ]);
    expect(JSON.stringify(response.body).length).toBeLessThan(1_000);
  });

  it('name query parameters as fields too', async () => {
    const response = await problem('query validation', 'GET', '/api/v1/partners?limit=0', {
      key: tenant.key,
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([
      { field: 'limit', code: 'out_of_range', message: expect.any(String) },
    ]);
  });
});

describe('unknown query parameters', () => {
  it('are refused on routes that take none, as on every other route', async () => {
    const partner = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      body: { email: 'query@example.com' },
    });
    const id = partner.body.data.id;
    for (const [method, path, key] of [
      ['GET', '/api/v1/me', tenant.key],
      ['GET', `/api/v1/partners/${id}`, tenant.key],
      ['GET', `/api/v1/partners/${id}/stats`, tenant.key],
      ['GET', `/api/v1/api-keys/${tenant.keyId}`, tenant.key],
      ['GET', '/api/v1/webhook-event-types', tenant.key],
      ['POST', `/api/v1/partners/${id}/revoke`, tenant.key],
      ['GET', `/api/admin/tenants/${tenant.slug}`, ADMIN_KEY],
      ['GET', '/health', undefined],
    ] as const) {
      const response = await problem(`unknown query ${path}`, method, `${path}?bogus=1`, { key });
      expectProblem(response, 400, 'validation_error');
      expect(response.body.errors, `${method} ${path}`).toEqual([
        { field: 'bogus', code: 'unknown_field', message: 'bogus is not a known field' },
      ]);
    }
    expect((await call(server, 'GET', `/api/v1/partners/${id}`, { key: tenant.key })).body.data.status).toBe(
      'active',
    );
  });

  it('a field in the body of an action or DELETE that takes none: 400, nothing done', async () => {
    const endpoint = await call(server, 'POST', '/api/v1/webhook-endpoints', {
      key: tenant.key,
      body: { url: 'https://hooks.example.com/in', eventTypes: ['*'] },
    });
    expect(endpoint.status).toBe(201);
    const hook = endpoint.body.data.id;
    const revocable = await call(server, 'POST', '/api/v1/api-keys', {
      key: tenant.key,
      body: { name: 'to revoke', scopes: ['read'] },
    });
    for (const [method, path] of [
      ['POST', `/api/v1/webhook-endpoints/${hook}/rotate-secret`],
      ['POST', `/api/v1/webhook-endpoints/${hook}/test`],
      ['DELETE', `/api/v1/webhook-endpoints/${hook}`],
      ['DELETE', `/api/v1/api-keys/${revocable.body.data.id}`],
    ] as const) {
      const response = await problem(`body of ${path}`, method, path, { key: tenant.key, body: { foo: 1 } });
      expectProblem(response, 400, 'validation_error');
      expect(response.body.errors, `${method} ${path}`).toEqual([
        { field: 'foo', code: 'unknown_field', message: 'foo is not a known field' },
      ]);
    }
    expect((await call(server, 'GET', `/api/v1/webhook-endpoints/${hook}`, { key: tenant.key })).status).toBe(
      200,
    );
    const key = await call(server, 'GET', `/api/v1/api-keys/${revocable.body.data.id}`, { key: tenant.key });
    expect(key.body.data.status).toBe('active');
    // Without a body, or with an empty one, they still work.
    expect(
      (await call(server, 'DELETE', `/api/v1/api-keys/${revocable.body.data.id}`, { key: tenant.key }))
        .status,
    ).toBe(200);
    expect(
      (await call(server, 'DELETE', `/api/v1/webhook-endpoints/${hook}`, { key: tenant.key, body: {} }))
        .status,
    ).toBe(200);
  });
});

describe('X-Request-Id', () => {
  it('is on every response and equals the body requestId of every problem', async () => {
    const responses = [
      await call(server, 'GET', '/health'),
      await call(server, 'GET', '/api/v1/partners', { key: tenant.key }),
      await call(server, 'POST', '/api/v1/partners', { key: tenant.key, body: { email: 'rid@example.com' } }),
      await problem('rid 400', 'POST', '/api/v1/partners', { key: tenant.key, body: {} }),
      await problem('rid 401', 'GET', `/api/t/${tenant.slug}/v1/partners`),
      await problem('rid 404', 'GET', '/does/not/exist'),
      await problem('rid 405', 'DELETE', '/api/v1/partners', { key: tenant.key }),
      await problem('rid 413', 'POST', '/api/v1/partners', {
        key: tenant.key,
        raw: JSON.stringify({ email: 'x@example.com', name: 'x'.repeat(1024 * 1024 + 1) }),
        headers: json,
      }),
      await problem('rid 415', 'POST', '/api/v1/partners', {
        key: tenant.key,
        raw: 'x',
        headers: { 'content-type': 'text/plain' },
      }),
    ];
    const ids = responses.map((response) => {
      const id = response.headers.get('x-request-id');
      expect(id).toMatch(/^req_[0-9a-z]{26}$/);
      if (response.status >= 400) expect(response.body.requestId).toBe(id);
      return id;
    });
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('is generated by the server, not taken from the client', async () => {
    const response = await call(server, 'GET', '/health', { headers: { 'x-request-id': 'req_client' } });
    expect(response.headers.get('x-request-id')).not.toBe('req_client');
  });
});

describe('an unexpected server error', () => {
  let broken: TestServer;
  let key: string;
  let driverMessage = '';
  beforeAll(async () => {
    broken = await startServer();
    key = (await createTenant(broken)).key;
    // A first call puts the key in the verifier's cache, so the next one gets past authentication.
    expect((await call(broken, 'GET', '/api/v1/partners', { key })).status).toBe(200);
    await broken.services.database.close();
    driverMessage = await broken.services.db
      .selectFrom('partners')
      .select('id')
      .execute()
      .then(
        () => '',
        (error: Error) => error.message,
      );
  });
  afterAll(async () => {
    // The database is already closed, so the usual teardown fails half-way; drop what it could not.
    await broken.close().catch(() => dropDatabase(broken.databaseUrl));
  });

  it('the closed database really fails with a driver message', () => {
    expect(driverMessage).not.toBe('');
  });

  it('is a 500 internal_error with a fixed message and nothing of the cause', async () => {
    const response = await call(broken, 'GET', '/api/v1/partners', { key });
    errorResponses.push({ label: '500', response });
    expect(response.status).toBe(500);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(response.body).toEqual({
      type: 'https://partnerline.dev/problems/internal_error',
      title: 'Internal server error',
      status: 500,
      code: 'internal_error',
      detail: 'An unexpected error occurred; quote the requestId when reporting it',
      requestId: response.headers.get('x-request-id'),
    });
    expect(JSON.stringify(response.body)).not.toContain(driverMessage);
  });

  it('the same for a write', async () => {
    const response = await call(broken, 'POST', '/api/v1/partners', {
      key,
      body: { email: 'w@example.com' },
    });
    errorResponses.push({ label: '500 write', response });
    expect(response.status).toBe(500);
    expect(response.body.code).toBe('internal_error');
    expect(JSON.stringify(response.body)).not.toContain(driverMessage);
  });

  it('/ready answers 503 service_unavailable, /health stays 200', async () => {
    const ready = await call(broken, 'GET', '/ready');
    errorResponses.push({ label: '503', response: ready });
    expectProblem(ready, 503, 'service_unavailable');
    expect(JSON.stringify(ready.body)).not.toContain(driverMessage);
    expect((await call(broken, 'GET', '/health')).status).toBe(200);
  });
});

describe('no error body leaks internals', () => {
  const leaks: [string, RegExp][] = [
    ['a stack trace', /\bat [\w.<>]+ \(|\n\s+at /],
    ['a stack property', /"stack"/],
    ['a source file', /\.(ts|js|mjs|cjs):\d+|\/src\/|\/work\/|node_modules|file:\/\//],
    [
      'SQL',
      /\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|WHERE|RETURNING)\b|relation "|violates|syntax error at/,
    ],
    ['a driver name', /pglite|postgres|kysely|\bpg\b|ECONNREFUSED/i],
    ["Fastify's own codes", /FST_/],
  ];

  it.each(leaks)('none contains %s', (_, pattern) => {
    expect(errorResponses.length).toBeGreaterThan(30);
    for (const { label, response } of errorResponses) {
      expect(response.status, label).toBeGreaterThanOrEqual(400);
      const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.body);
      expect(text, label).not.toMatch(pattern);
    }
  });
});

/** Drops a test database the failed teardown left behind (PostgreSQL only). */
async function dropDatabase(url: string | undefined): Promise<void> {
  const base = process.env.DATABASE_URL;
  if (!url || !base) return;
  const name = new URL(url).pathname.slice(1);
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await client.end();
  }
}
