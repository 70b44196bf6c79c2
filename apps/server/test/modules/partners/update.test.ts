import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../../src/platform/ids.ts';
import { call, createTenant, type RequestOptions, type TestTenant } from '../../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../../helpers/server.ts';

const clock = new TestClock(new Date('2026-05-01T12:00:00.000Z'));
let server: TestServer;
beforeAll(async () => {
  server = await startServer({ clock });
});
afterAll(() => server.close());

const patch = (tenant: TestTenant, id: string, body: unknown, options: RequestOptions = {}) =>
  call(server, 'PATCH', `/api/v1/partners/${id}`, { key: tenant.key, body, ...options });

const getPartner = (tenant: TestTenant, id: string) =>
  call(server, 'GET', `/api/v1/partners/${id}`, { key: tenant.key });

async function createPartner(tenant: TestTenant, body: Record<string, unknown> = {}) {
  const response = await call(server, 'POST', '/api/v1/partners', {
    key: tenant.key,
    body: { email: `${newId('prt').slice(-10)}@example.com`, ...body },
  });
  expect(response.status).toBe(201);
  return { partner: response.body.data, etag: response.headers.get('etag') as string };
}

const EDITABLE = ['email', 'name', 'status', 'groupKey', 'referralCode', 'metadata'] as const;
const editable = (partner: Record<string, unknown>) =>
  Object.fromEntries(EDITABLE.map((field) => [field, partner[field]]));

describe('PATCH /api/v1/partners/{id}', () => {
  const changes: [string, Record<string, unknown>][] = [
    ['email', { email: 'new.address@example.com' }],
    ['name', { name: 'Ada King' }],
    ['status', { status: 'revoked' }],
    ['groupKey', { groupKey: 'gold' }],
    ['referralCode', { referralCode: 'KING-1843' }],
    ['metadata', { metadata: { crmId: 'hs-9', tier: 'a' } }],
    ['several fields', { name: 'Countess', groupKey: 'gold', metadata: {} }],
  ];

  it.each(changes)('changes %s and nothing else', async (_, change) => {
    const tenant = await createTenant(server);
    const { partner, etag } = await createPartner(tenant, {
      name: 'Ada Lovelace',
      groupKey: 'premium',
      metadata: { crmId: 'hs-1' },
    });
    clock.advance(60_000);

    const response = await patch(tenant, partner.id, change);
    expect(response.status).toBe(200);
    const updated = response.body.data;
    expect(editable(updated)).toEqual({ ...editable(partner), ...change });
    expect(updated.id).toBe(partner.id);
    expect(updated.createdAt).toBe(partner.createdAt);
    expect(updated.updatedAt).toBe(clock.now().toISOString());
    expect(response.headers.get('etag')).not.toBe(etag);

    const fetched = await getPartner(tenant, partner.id);
    expect(fetched.body.data).toEqual(updated);
    expect(fetched.headers.get('etag')).toBe(response.headers.get('etag'));
  });

  it('null clears name and groupKey', async () => {
    const tenant = await createTenant(server);
    const { partner } = await createPartner(tenant, { name: 'Ada', groupKey: 'premium' });

    const response = await patch(tenant, partner.id, { name: null, groupKey: null });
    expect(response.status).toBe(200);
    expect(response.body.data).toMatchObject({ name: null, groupKey: null, email: partner.email });
  });

  it('metadata is replaced whole, not merged', async () => {
    const tenant = await createTenant(server);
    const { partner } = await createPartner(tenant, { metadata: { a: '1', b: '2' } });
    const response = await patch(tenant, partner.id, { metadata: { c: '3' } });
    expect(response.body.data.metadata).toEqual({ c: '3' });
  });

  it('an empty body changes nothing: same ETag, same updatedAt', async () => {
    const tenant = await createTenant(server);
    const { partner, etag } = await createPartner(tenant, { name: 'Ada' });
    clock.advance(60_000);

    const response = await patch(tenant, partner.id, {});
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual(partner);
    expect(response.headers.get('etag')).toBe(etag);
  });

  it('setting its own email again, in another letter case, is not a conflict', async () => {
    const tenant = await createTenant(server);
    const { partner } = await createPartner(tenant, { email: 'ada@example.com' });
    const response = await patch(tenant, partner.id, { email: 'ADA@example.com' });
    expect(response.status).toBe(200);
    expect(response.body.data.email).toBe('ada@example.com');
  });
});

describe('conflicts', () => {
  it("another partner's email, in any letter case: 409 partner_email_taken", async () => {
    const tenant = await createTenant(server);
    await createPartner(tenant, { email: 'taken@example.com' });
    const { partner } = await createPartner(tenant);

    const response = await patch(tenant, partner.id, { email: 'Taken@Example.com' });
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ status: 409, code: 'partner_email_taken' });
    expect((await getPartner(tenant, partner.id)).body.data.email).toBe(partner.email);
  });

  it("another partner's referral code: 409 referral_code_taken", async () => {
    const tenant = await createTenant(server);
    const { partner: owner } = await createPartner(tenant, { referralCode: 'TAKEN1' });
    const { partner } = await createPartner(tenant);

    const response = await patch(tenant, partner.id, { referralCode: 'TAKEN1' });
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('referral_code_taken');
    // Codes are unique whatever their letter case; the owner may change the case of its own.
    expect((await patch(tenant, partner.id, { referralCode: 'taken1' })).body.code).toBe(
      'referral_code_taken',
    );
    const recased = await patch(tenant, owner.id, { referralCode: 'Taken1' });
    expect([recased.status, recased.body.data.referralCode]).toEqual([200, 'Taken1']);
  });

  it('an email used only in another tenant is free', async () => {
    const other = await createTenant(server);
    await createPartner(other, { email: 'elsewhere@example.com' });
    const tenant = await createTenant(server);
    const { partner } = await createPartner(tenant);

    const response = await patch(tenant, partner.id, { email: 'elsewhere@example.com' });
    expect(response.status).toBe(200);
  });
});

describe('If-Match', () => {
  it('with the current ETag: 200 and a new ETag', async () => {
    const tenant = await createTenant(server);
    const { partner, etag } = await createPartner(tenant);

    const response = await patch(tenant, partner.id, { name: 'First' }, { headers: { 'if-match': etag } });
    expect(response.status).toBe(200);
    const next = response.headers.get('etag');
    expect(next).toMatch(/^"[^"]+"$/);
    expect(next).not.toBe(etag);

    const again = await patch(
      tenant,
      partner.id,
      { name: 'Second' },
      { headers: { 'if-match': next as string } },
    );
    expect(again.status).toBe(200);
    expect(again.body.data.name).toBe('Second');
  });

  it('with a stale ETag: 412 precondition_failed and no change', async () => {
    const tenant = await createTenant(server);
    const { partner, etag } = await createPartner(tenant, { name: 'Original' });
    expect((await patch(tenant, partner.id, { name: 'Someone else' })).status).toBe(200);

    const response = await patch(tenant, partner.id, { name: 'Mine' }, { headers: { 'if-match': etag } });
    expect(response.status).toBe(412);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ status: 412, code: 'precondition_failed' });
    expect((await getPartner(tenant, partner.id)).body.data.name).toBe('Someone else');
  });

  it.each([
    ['a tag that is not ours', '"not-an-etag"'],
    ['a weak tag', 'W/"v1"'],
    ['an unquoted tag', 'v1'],
  ])('with %s: 412', async (_, header) => {
    const tenant = await createTenant(server);
    const { partner } = await createPartner(tenant);
    const response = await patch(tenant, partner.id, { name: 'x' }, { headers: { 'if-match': header } });
    expect(response.status).toBe(412);
    expect(response.body.code).toBe('precondition_failed');
  });

  it('with a list that contains the current ETag: 200', async () => {
    const tenant = await createTenant(server);
    const { partner, etag } = await createPartner(tenant);
    const response = await patch(
      tenant,
      partner.id,
      { name: 'x' },
      { headers: { 'if-match': `"old", ${etag}` } },
    );
    expect(response.status).toBe(200);
  });

  it('If-Match: * always matches an existing partner', async () => {
    const tenant = await createTenant(server);
    const { partner } = await createPartner(tenant);
    await patch(tenant, partner.id, { name: 'changed' });

    const response = await patch(tenant, partner.id, { name: 'star' }, { headers: { 'if-match': '*' } });
    expect(response.status).toBe(200);
    expect(response.body.data.name).toBe('star');
  });
});

describe('validation and missing partners', () => {
  const cases: [string, unknown, string][] = [
    ['an unknown field', { nickname: 'Ada' }, 'nickname'],
    ['a read-only field', { createdAt: '2026-01-01T00:00:00.000Z' }, 'createdAt'],
    ['a null email', { email: null }, 'email'],
    ['an invalid email', { email: 'nope' }, 'email'],
    ['a null status', { status: null }, 'status'],
    ['an unknown status', { status: 'paused' }, 'status'],
    ['an empty name', { name: '' }, 'name'],
    ['a bad groupKey', { groupKey: 'Not Valid' }, 'groupKey'],
    ['a null referralCode', { referralCode: null }, 'referralCode'],
    ['a short referralCode', { referralCode: 'AB' }, 'referralCode'],
    ['null metadata', { metadata: null }, 'metadata'],
    ['nested metadata', { metadata: { a: { b: 'c' } } }, 'metadata.a'],
    ['an array body', [], 'body'],
  ];

  it.each(cases)('%s: 400 validation_error naming %s', async (_, body, field) => {
    const tenant = await createTenant(server);
    const { partner, etag } = await createPartner(tenant);
    const response = await patch(tenant, partner.id, body);

    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect((await getPartner(tenant, partner.id)).headers.get('etag')).toBe(etag);
  });

  it('an unknown id: 404 not_found', async () => {
    const tenant = await createTenant(server);
    for (const id of [newId('prt'), 'prt_x', 'x'.repeat(200)]) {
      const response = await patch(tenant, id, { name: 'x' });
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
  });

  it("another tenant's partner: 404 not_found and untouched", async () => {
    const owner = await createTenant(server);
    const stranger = await createTenant(server);
    const { partner, etag } = await createPartner(owner, { name: 'Mine' });

    const response = await patch(stranger, partner.id, { name: 'Stolen' }, { headers: { 'if-match': etag } });
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('not_found');
    expect((await getPartner(owner, partner.id)).body.data.name).toBe('Mine');
  });
});
