import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, expectProblem, type TestTenant, uniqueSlug } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let tenant: TestTenant;
beforeAll(async () => {
  server = await startServer();
  tenant = await createTenant(server);
});
afterAll(() => server.close());

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}-${Date.now().toString(36)}`;

/** Every resource with a human name, how to create one, and whether its name may be null. */
const RESOURCES = [
  {
    resource: 'tenants',
    path: '/api/admin/tenants',
    admin: true,
    body: () => ({ slug: uniqueSlug('blank') }),
    nullable: false,
  },
  {
    resource: 'api keys',
    path: '/api/v1/api-keys',
    admin: false,
    body: () => ({ scopes: ['read'] }),
    nullable: false,
  },
  {
    resource: 'partners',
    path: '/api/v1/partners',
    admin: false,
    body: () => ({ email: `${unique('blank')}@example.com` }),
    nullable: true,
  },
  {
    resource: 'partner groups',
    path: '/api/v1/partner-groups',
    admin: false,
    body: () => ({ key: unique('blank') }),
    nullable: false,
  },
  {
    resource: 'customers',
    path: '/api/v1/customers',
    admin: false,
    body: () => ({ externalId: unique('blank') }),
    nullable: false,
  },
];

const BLANKS = [
  ['spaces', '   '],
  ['a tab and a line break', '\t\n'],
  ['a no-break space', '\u00a0'],
  ['an ideographic space', '\u3000'],
];

const BLANK_ERROR = { field: 'name', code: 'invalid_format', message: 'name must not be blank' };

describe.each(RESOURCES)('the name of $resource', ({ path, admin, body, nullable }) => {
  const key = () => (admin ? ADMIN_KEY : tenant.key);
  const create = (name: unknown) => call(server, 'POST', path, { key: key(), body: { ...body(), name } });

  it.each(BLANKS)('of %s only is refused on create: 400, nothing created', async (_, name) => {
    const before = await call(server, 'GET', `${path}?limit=100`, { key: key() });
    const response = await create(name);
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([BLANK_ERROR]);
    expect(response.body.detail).toBe('name must not be blank');
    const after = await call(server, 'GET', `${path}?limit=100`, { key: key() });
    expect(after.body.data.length).toBe(before.body.data.length);
  });

  it.each(BLANKS)('of %s only is refused on PATCH: 400, the name kept', async (_, name) => {
    const created = await create('Kept name');
    expect(created.status).toBe(201);
    const url = `${path}/${created.body.data.id}`;
    const response = await call(server, 'PATCH', url, { key: key(), body: { name } });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([BLANK_ERROR]);
    expect((await call(server, 'GET', url, { key: key() })).body.data.name).toBe('Kept name');
  });

  it('with white space around text is taken as sent', async () => {
    const created = await create(' Spaced name ');
    expect(created.status).toBe(201);
    expect(created.body.data.name).toBe(' Spaced name ');
  });

  it.runIf(nullable)('null is still allowed on create and PATCH', async () => {
    const created = await create(null);
    expect(created.status).toBe(201);
    expect(created.body.data.name).toBeNull();
    const url = `${path}/${created.body.data.id}`;
    await call(server, 'PATCH', url, { key: key(), body: { name: 'Named' } });
    const cleared = await call(server, 'PATCH', url, { key: key(), body: { name: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body.data.name).toBeNull();
  });
});
