import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, call, createTenant, expectProblem, type TestTenant } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, type TestServer } from '../helpers/server.ts';

// PostgreSQL text cannot hold U+0000: every request part is refused before a handler runs, as a
// 400 naming the field, or as a 404 when it is in the path.

let server: TestServer;
let tenant: TestTenant;
let partnerId: string;
beforeAll(async () => {
  server = await startServer();
  tenant = await createTenant(server);
  const partner = await call(server, 'POST', '/api/v1/partners', {
    key: tenant.key,
    body: { email: 'existing@example.com', name: 'Existing' },
  });
  partnerId = partner.body.data.id;
});
afterAll(() => server.close());

function expectNulRefused(response: ApiResponse, fields: string[]): void {
  expectProblem(response, 400, 'validation_error');
  for (const field of fields) {
    expect(response.body.errors).toContainEqual({
      field,
      code: 'invalid_format',
      message: `${field} must not contain the NUL character (U+0000)`,
    });
  }
}

/** The rows a list answers with, to show a refused write left nothing behind. */
async function listed(path: string, key = tenant.key): Promise<unknown[]> {
  const response = await call(server, 'GET', path, { key });
  expect(response.status).toBe(200);
  return response.body.data;
}

describe('U+0000 in a JSON body: 400 naming the field, nothing written', () => {
  it.each([
    ['a top-level string', { email: 'a@example.com', name: 'a\u0000b' }, ['name']],
    ['a metadata value', { email: 'a@example.com', metadata: { k: 'a\u0000' } }, ['metadata.k']],
    ['a metadata key', { email: 'a@example.com', metadata: { 'a\u0000': 'x' } }, ['metadata.a\u0000']],
    [
      'several fields at once',
      { email: 'a\u0000@example.com', name: 'n\u0000', metadata: { 'a/b': '\u0000' } },
      ['email', 'name', 'metadata.a/b'],
    ],
  ])('POST /partners, %s', async (_, body, fields) => {
    const before = await listed('/api/v1/partners');
    const response = await call(server, 'POST', '/api/v1/partners', { key: tenant.key, body });
    expectNulRefused(response, fields);
    expect(await listed('/api/v1/partners')).toEqual(before);
  });

  it('is reported together with the schema errors of the same body', async () => {
    const response = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      body: { name: 'a\u0000' },
    });
    expectNulRefused(response, ['name']);
    expect(response.body.errors).toContainEqual({
      field: 'email',
      code: 'required',
      message: 'email is required',
    });
  });

  it.each([
    ['the name', { name: 'n\u0000', scopes: ['read'] }, 'name'],
    ['an array item', { name: 'n', scopes: ['read', 'wr\u0000ite'] }, 'scopes.1'],
  ])('POST /api-keys, %s', async (_, body, field) => {
    const before = await listed('/api/v1/api-keys');
    const response = await call(server, 'POST', '/api/v1/api-keys', { key: tenant.key, body });
    expectNulRefused(response, [field]);
    expect(await listed('/api/v1/api-keys')).toEqual(before);
  });

  it('POST /api/admin/tenants', async () => {
    const response = await call(server, 'POST', '/api/admin/tenants', {
      key: ADMIN_KEY,
      body: { slug: 'nul-t', name: 'A\u0000' },
    });
    expectNulRefused(response, ['name']);
    const lookup = await call(server, 'GET', '/api/admin/tenants/nul-t', { key: ADMIN_KEY });
    expectProblem(lookup, 404, 'tenant_not_found');
  });

  it('PATCH /api/admin/tenants/{slug}', async () => {
    const path = `/api/admin/tenants/${tenant.slug}`;
    const before = await call(server, 'GET', path, { key: ADMIN_KEY });
    const response = await call(server, 'PATCH', path, { key: ADMIN_KEY, body: { name: 'A\u0000' } });
    expectNulRefused(response, ['name']);
    expect((await call(server, 'GET', path, { key: ADMIN_KEY })).body).toEqual(before.body);
  });
});

describe('U+0000 in a query string: 400 naming the parameter', () => {
  it.each([
    ['/api/v1/partners?q=%00', ['q']],
    ['/api/v1/usage?route=%00', ['route']],
    ['/api/v1/usage?keyId=%00', ['keyId']],
    ['/api/v1/request-logs?route=%00', ['route']],
    ['/api/v1/request-logs?keyId=%00', ['keyId']],
    ['/api/v1/request-logs?requestId=%00', ['requestId']],
    ['/api/v1/request-logs?route=a%00&keyId=%00b', ['route', 'keyId']],
  ])('GET %s', async (path, fields) => {
    expectNulRefused(await call(server, 'GET', path, { key: tenant.key }), fields);
  });

  it('GET /api-keys/{id}/usage?route=%00', async () => {
    const response = await call(server, 'GET', `/api/v1/api-keys/${tenant.keyId}/usage?route=%00`, {
      key: tenant.key,
    });
    expectNulRefused(response, ['route']);
  });
});

describe('U+0000 in a path parameter: 404, like any id of the wrong shape', () => {
  it.each([
    '/api/v1/partners/%00',
    '/api/v1/partners/{partner}%00',
    '/api/v1/partner-groups/%00',
    '/api/v1/api-keys/{key}%00/usage',
  ])('GET %s', async (template) => {
    const path = template.replace('{partner}', partnerId).replace('{key}', tenant.keyId);
    expectProblem(await call(server, 'GET', path, { key: tenant.key }), 404, 'not_found');
  });

  it('PATCH /partners/{id} with U+0000 in the id changes nothing', async () => {
    const response = await call(server, 'PATCH', `/api/v1/partners/${partnerId}%00`, {
      key: tenant.key,
      body: { name: 'Changed' },
    });
    expectProblem(response, 404, 'not_found');
    const partner = await call(server, 'GET', `/api/v1/partners/${partnerId}`, { key: tenant.key });
    expect(partner.body.data.name).toBe('Existing');
  });

  it.each([
    ['GET', '/api/admin/tenants/%00'],
    ['PATCH', '/api/admin/tenants/%00'],
  ])('%s %s (admin key)', async (method, path) => {
    const response = await call(server, method, path, {
      key: ADMIN_KEY,
      ...(method === 'PATCH' ? { body: { name: 'X' } } : {}),
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  });
});

describe('the admin tenant lookup by id or slug', () => {
  it.each([
    ['neither an id nor a slug', 'Not%20A%20Slug'],
    ['a slug too short', 'ab'],
    ['a slug ending in -', 'acme-'],
  ])('answers 404 tenant_not_found for %s', async (_, value) => {
    const response = await call(server, 'GET', `/api/admin/tenants/${value}`, { key: ADMIN_KEY });
    expectProblem(response, 404, 'tenant_not_found');
  });
});

describe('half of a surrogate pair in a JSON body: 400 naming the field, nothing written', () => {
  const refused = (field: string) => ({
    field,
    code: 'invalid_format',
    message: `${field} must be valid Unicode: it contains half of a surrogate pair`,
  });

  it.each([
    [
      'a high surrogate in a metadata value',
      { email: 'h@example.com', metadata: { a: '\ud800' } },
      'metadata.a',
    ],
    ['a low surrogate in the name', { email: 'l@example.com', name: 'x\udc00y' }, 'name'],
    ['a metadata key', { email: 'k@example.com', metadata: { '\udbff': 'x' } }, 'metadata.\udbff'],
  ])('POST /partners, %s', async (_, body, field) => {
    const before = await listed('/api/v1/partners');
    const response = await call(server, 'POST', '/api/v1/partners', { key: tenant.key, body });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toContainEqual(refused(field));
    expect(await listed('/api/v1/partners')).toEqual(before);
  });

  it('POST /events with it in metadata', async () => {
    const before = await listed('/api/v1/events');
    const response = await call(server, 'POST', '/api/v1/events', {
      key: tenant.key,
      body: { type: 'click', partnerId, metadata: { campaign: 'spring\ud83d' } },
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toContainEqual(refused('metadata.campaign'));
    expect(await listed('/api/v1/events')).toEqual(before);
  });

  it('a whole pair is a character like any other', async () => {
    const response = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      body: { email: 'emoji@example.com', name: 'Ada \ud83d\ude00', metadata: { rocket: '\ud83d\ude80' } },
    });
    expect(response.status).toBe(201);
    expect(response.body.data).toMatchObject({ name: 'Ada 😀', metadata: { rocket: '🚀' } });
  });
});
