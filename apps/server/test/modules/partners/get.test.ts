import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../../src/platform/ids.ts';
import { call, createTenant, type TestTenant } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const getPartner = (tenant: TestTenant, id: string) =>
  call(server, 'GET', `/api/v1/partners/${id}`, { key: tenant.key });

async function createPartner(tenant: TestTenant, body: Record<string, unknown> = {}) {
  const response = await call(server, 'POST', '/api/v1/partners', {
    key: tenant.key,
    body: { email: `${newId('prt').slice(-10)}@example.com`, ...body },
  });
  expect(response.status).toBe(201);
  return response;
}

/** A problem body with the parts that differ per request or per id masked. */
function problemShape(body: Record<string, unknown>, id: string) {
  return { ...body, detail: String(body.detail).replace(id, '<id>'), requestId: '<requestId>' };
}

describe('GET /api/v1/partners/{id}', () => {
  it('returns the partner with an ETag, the same one create returned', async () => {
    const tenant = await createTenant(server);
    const created = await createPartner(tenant, { name: 'Ada Lovelace', groupKey: 'premium' });
    const { id } = created.body.data;

    const response = await getPartner(tenant, id);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: created.body.data });
    expect(response.headers.get('etag')).toMatch(/^"[^"]+"$/);
    expect(response.headers.get('etag')).toBe(created.headers.get('etag'));
    expect((await getPartner(tenant, id)).headers.get('etag')).toBe(response.headers.get('etag'));
  });

  it('works under /api/t/{slug}/v1 with the same answer', async () => {
    const tenant = await createTenant(server);
    const { id } = (await createPartner(tenant)).body.data;
    const bySlug = await call(server, 'GET', `/api/t/${tenant.slug}/v1/partners/${id}`, { key: tenant.key });
    expect(bySlug.status).toBe(200);
    expect(bySlug.body).toEqual((await getPartner(tenant, id)).body);
  });
});

describe('ids that name no partner: 404 not_found, never 400 or 500', () => {
  const shapes: [string, (tenant: TestTenant) => string][] = [
    ['a prefix and garbage', () => 'prt_x'],
    ['no prefix', () => 'abc'],
    ['an API key id', (tenant) => tenant.keyId],
    ['a tenant id', (tenant) => tenant.id],
    ['a well-formed unknown partner id', () => newId('prt')],
    ['a partner id in upper case', () => newId('prt').toUpperCase()],
    ['an id with a quote and SQL', () => encodeURIComponent("prt_' or '1'='1")],
    ['90 characters', () => 'x'.repeat(90)],
    ['200 characters', () => 'x'.repeat(200)],
    ['2000 characters', () => 'p'.repeat(2000)],
  ];

  it.each(shapes)('%s', async (_, idOf) => {
    const tenant = await createTenant(server);
    await createPartner(tenant);
    const response = await getPartner(tenant, idOf(tenant));

    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.headers.get('etag')).toBeNull();
    expect(response.body).toMatchObject({
      type: 'https://partnerline.dev/problems/not_found',
      title: 'Not found',
      status: 404,
      code: 'not_found',
      requestId: response.headers.get('x-request-id'),
    });
  });
});

describe('another tenant', () => {
  it("gets 404 for a partner of another tenant, shaped exactly like an unknown id's", async () => {
    const owner = await createTenant(server);
    const stranger = await createTenant(server);
    const { id } = (await createPartner(owner)).body.data;
    const unknownId = newId('prt');

    const foreign = await getPartner(stranger, id);
    const unknown = await getPartner(stranger, unknownId);

    expect(foreign.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(problemShape(foreign.body, id)).toEqual(problemShape(unknown.body, unknownId));
    expect(Object.keys(foreign.body).sort()).toEqual(Object.keys(unknown.body).sort());
    expect(foreign.headers.get('content-type')).toBe(unknown.headers.get('content-type'));
    expect(foreign.headers.get('etag')).toBeNull();
    expect((await getPartner(owner, id)).status).toBe(200);
  });

  it('cannot reach a partner through its own URL either', async () => {
    const owner = await createTenant(server);
    const stranger = await createTenant(server);
    const { id } = (await createPartner(owner)).body.data;
    const response = await call(server, 'GET', `/api/t/${owner.slug}/v1/partners/${id}`, {
      key: stranger.key,
    });
    expect(response.status).toBe(401);
    expect(response.body.code).toBe('api_key_invalid');
  });
});
