import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../helpers/server.ts';

const clock = new TestClock(new Date('2026-05-01T12:00:00.000Z'));
let server: TestServer;
let tenant: TestTenant;

beforeAll(async () => {
  server = await startServer({ clock });
  tenant = await createTenant(server);
});
afterAll(() => server.close());

const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  call(server, method, `/api/v1${path}`, { key: tenant.key, body, ...(headers ? { headers } : {}) });

let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}-${Date.now().toString(36)}`;

interface Resource {
  name: string;
  /** Creates one and returns its path. */
  create(): Promise<string>;
  /** A change that passes validation, different on every call. */
  change(): Record<string, unknown>;
  /** The field `change` sets. */
  field: string;
}

const resources: Resource[] = [
  {
    name: 'partners',
    create: async () =>
      `/partners/${(await api('POST', '/partners', { email: `${unique('p')}@example.com` })).body.data.id}`,
    change: () => ({ name: unique('name') }),
    field: 'name',
  },
  {
    name: 'partner groups',
    create: async () =>
      `/partner-groups/${(await api('POST', '/partner-groups', { key: unique('g'), name: 'G' })).body.data.id}`,
    change: () => ({ name: unique('name') }),
    field: 'name',
  },
  {
    name: 'customers',
    create: async () =>
      `/customers/${(await api('POST', '/customers', { externalId: unique('c') })).body.data.id}`,
    change: () => ({ name: unique('name') }),
    field: 'name',
  },
];

describe.each(resources)('$name', ({ create, change, field }) => {
  let path: string;
  beforeAll(async () => {
    path = await create();
  });

  const current = async () => {
    const response = await api('GET', path);
    expect(response.status).toBe(200);
    return { etag: response.headers.get('etag') as string, data: response.body.data };
  };

  it('GET carries a strong ETag that stays put while nothing changes', async () => {
    const first = await current();
    expect(first.etag).toMatch(/^"[^"]+"$/);
    expect((await current()).etag).toBe(first.etag);
  });

  it('PATCH with the current ETag: 200 with a new ETag, the one GET then shows', async () => {
    const before = await current();
    const body = change();
    const response = await api('PATCH', path, body, { 'if-match': before.etag });
    expect(response.status).toBe(200);
    const etag = response.headers.get('etag');
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(etag).not.toBe(before.etag);
    expect(response.body.data[field]).toBe(body[field]);
    expect((await current()).etag).toBe(etag);
  });

  it('PATCH with a stale ETag: 412 precondition_failed, nothing changed', async () => {
    const stale = (await current()).etag;
    expect((await api('PATCH', path, change())).status).toBe(200);
    const before = await current();
    const response = await api('PATCH', path, change(), { 'if-match': stale });
    expect(response.status).toBe(412);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({
      type: 'https://partnerline.dev/problems/precondition_failed',
      status: 412,
      code: 'precondition_failed',
      requestId: response.headers.get('x-request-id'),
    });
    expect(await current()).toEqual(before);
  });

  it('PATCH with a list of tags applies when any of them is current (RFC 9110)', async () => {
    const stale = (await current()).etag;
    expect((await api('PATCH', path, change())).status).toBe(200);
    const fresh = (await current()).etag;
    const response = await api('PATCH', path, change(), { 'if-match': `${stale}, ${fresh}` });
    expect(response.status).toBe(200);
    expect((await api('PATCH', path, change(), { 'if-match': `${stale}, "abc"` })).status).toBe(412);
  });

  it('PATCH with If-Match: * always applies', async () => {
    const before = await current();
    const response = await api('PATCH', path, change(), { 'if-match': '*' });
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).not.toBe(before.etag);
  });

  it('PATCH without If-Match applies unconditionally and still answers with the ETag', async () => {
    const response = await api('PATCH', path, change());
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe((await current()).etag);
  });

  it.each([
    ['an unquoted tag', (tag: string) => tag.slice(1, -1)],
    ['a weak tag (If-Match compares strongly)', (tag: string) => `W/${tag}`],
    ['a tag of another shape', () => '"abc"'],
    ['an empty value', () => ''],
    ['a list of garbage', () => 'foo, bar'],
    ['a tag with a huge version', () => '"v99999999999999999999"'],
  ])('PATCH with a malformed If-Match (%s): 412, nothing changed', async (_, malformed) => {
    const before = await current();
    const response = await api('PATCH', path, change(), { 'if-match': malformed(before.etag) });
    expect(response.status).toBe(412);
    expect(response.body.code).toBe('precondition_failed');
    expect(await current()).toEqual(before);
  });

  it('a PATCH that fails validation does not move the ETag', async () => {
    const before = await current();
    const response = await api('PATCH', path, { unknownField: 1 }, { 'if-match': before.etag });
    expect(response.status).toBe(400);
    expect((await current()).etag).toBe(before.etag);
  });
});

it('POST answers with the ETag the new resource has', async () => {
  const created = await api('POST', '/customers', { externalId: unique('c') });
  expect(created.status).toBe(201);
  const fetched = await api('GET', `/customers/${created.body.data.id}`);
  expect(created.headers.get('etag')).toBe(fetched.headers.get('etag'));
});
