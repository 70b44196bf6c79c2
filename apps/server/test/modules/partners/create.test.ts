import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, type TestTenant } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const createPartner = (tenant: TestTenant, body: unknown) =>
  call(server, 'POST', '/api/v1/partners', { key: tenant.key, body });

const PARTNER_ID = /^prt_[0-7][0-9a-hjkmnp-tv-z]{25}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('POST /api/v1/partners', () => {
  it('creates a partner from an email alone, with defaults and a generated referral code', async () => {
    const tenant = await createTenant(server);
    const response = await createPartner(tenant, { email: 'ada@example.com' });

    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('etag')).toMatch(/^"[^"]+"$/);
    const partner = response.body.data;
    expect(partner).toMatchObject({
      email: 'ada@example.com',
      name: null,
      status: 'active',
      groupKey: null,
      metadata: {},
      invitedAt: null,
    });
    expect(partner.id).toMatch(PARTNER_ID);
    expect(partner.referralCode).toMatch(/^[A-Za-z0-9_-]{3,40}$/);
    expect(partner.createdAt).toMatch(TIMESTAMP);
    expect(partner.updatedAt).toBe(partner.createdAt);
  });

  it('takes null for name and groupKey, as the partner shows them', async () => {
    const tenant = await createTenant(server);
    const response = await createPartner(tenant, { email: 'null@example.com', name: null, groupKey: null });

    expect(response.status).toBe(201);
    expect(response.body.data).toMatchObject({ name: null, groupKey: null });
  });

  it('stores every field it is given and returns it as GET does', async () => {
    const tenant = await createTenant(server);
    const body = {
      email: 'grace@example.com',
      name: 'Grace Hopper',
      status: 'invited',
      groupKey: 'premium',
      referralCode: 'GRACE-2026',
      metadata: { crmId: 'hs-4411', 'source.campaign': 'spring_launch' },
    };
    const created = await createPartner(tenant, body);

    expect(created.status).toBe(201);
    const { email, name, status, groupKey, referralCode, metadata } = created.body.data;
    expect({ email, name, status, groupKey, referralCode, metadata }).toEqual(body);
    expect(created.body.data.invitedAt).toMatch(TIMESTAMP);

    const fetched = await call(server, 'GET', `/api/v1/partners/${created.body.data.id}`, {
      key: tenant.key,
    });
    expect(fetched.body.data).toEqual(created.body.data);
    expect(fetched.headers.get('etag')).toBe(created.headers.get('etag'));
  });

  it('stores the email in lower case', async () => {
    const tenant = await createTenant(server);
    const response = await createPartner(tenant, { email: 'Ada.Lovelace@Example.COM' });
    expect(response.status).toBe(201);
    expect(response.body.data.email).toBe('ada.lovelace@example.com');
  });

  it('gives every partner its own id and referral code', async () => {
    const tenant = await createTenant(server);
    const partners = [];
    for (let i = 0; i < 5; i++)
      partners.push((await createPartner(tenant, { email: `p${i}@example.com` })).body.data);
    expect(new Set(partners.map((p) => p.id)).size).toBe(5);
    expect(new Set(partners.map((p) => p.referralCode)).size).toBe(5);
  });

  it.each(['invited', 'active', 'revoked'])('accepts status %s', async (status) => {
    const tenant = await createTenant(server);
    const response = await createPartner(tenant, { email: 'status@example.com', status });
    expect(response.status).toBe(201);
    expect(response.body.data.status).toBe(status);
  });
});

describe('conflicts', () => {
  it('an email already used in the tenant, in any letter case: 409 partner_email_taken', async () => {
    const tenant = await createTenant(server);
    expect((await createPartner(tenant, { email: 'ada@example.com' })).status).toBe(201);

    const again = await createPartner(tenant, { email: 'ADA@Example.com', name: 'Someone else' });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(again.body).toMatchObject({
      type: 'https://partnerline.dev/problems/partner_email_taken',
      status: 409,
      code: 'partner_email_taken',
      requestId: again.headers.get('x-request-id'),
    });
  });

  it('a referral code already used in the tenant: 409 referral_code_taken', async () => {
    const tenant = await createTenant(server);
    expect((await createPartner(tenant, { email: 'a@example.com', referralCode: 'SHARED1' })).status).toBe(
      201,
    );

    const again = await createPartner(tenant, { email: 'b@example.com', referralCode: 'SHARED1' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ status: 409, code: 'referral_code_taken' });
    // People type codes in any case: one that differs only in case is the same code.
    const otherCase = await createPartner(tenant, { email: 'c@example.com', referralCode: 'shared1' });
    expect(otherCase.body).toMatchObject({ status: 409, code: 'referral_code_taken' });
  });

  it('a failed create leaves nothing behind', async () => {
    const tenant = await createTenant(server);
    await createPartner(tenant, { email: 'a@example.com', referralCode: 'ONLYONE' });
    await createPartner(tenant, { email: 'b@example.com', referralCode: 'ONLYONE' });
    await createPartner(tenant, { email: 'A@example.com' });

    const list = await call(server, 'GET', '/api/v1/partners', { key: tenant.key });
    expect(list.body.pagination.total).toBe(1);
  });

  it('the same email and referral code in two tenants are two partners', async () => {
    const first = await createTenant(server);
    const second = await createTenant(server);
    const body = { email: 'shared@example.com', referralCode: 'SAMECODE' };

    const a = await createPartner(first, body);
    const b = await createPartner(second, body);
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(a.body.data.id).not.toBe(b.body.data.id);
  });
});

describe('validation', () => {
  const valid = { email: 'valid@example.com' };
  const tooManyKeys = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`key${i}`, 'v']));
  const cases: [string, Record<string, unknown>, string][] = [
    ['missing email', { name: 'No Email' }, 'email'],
    ['email without @', { email: 'not-an-email' }, 'email'],
    ['email with spaces', { email: 'ada lovelace@example.com' }, 'email'],
    ['email not a string', { email: 42 }, 'email'],
    ['email over 254 characters', { email: `${'a'.repeat(250)}@example.com` }, 'email'],
    ['empty name', { ...valid, name: '' }, 'name'],
    ['name over 200 characters', { ...valid, name: 'n'.repeat(201) }, 'name'],
    ['null email', { ...valid, email: null }, 'email'],
    ['unknown status', { ...valid, status: 'deleted' }, 'status'],
    ['status in upper case', { ...valid, status: 'ACTIVE' }, 'status'],
    ['groupKey with spaces and capitals', { ...valid, groupKey: 'Premium Plus' }, 'groupKey'],
    ['groupKey starting with a dash', { ...valid, groupKey: '-premium' }, 'groupKey'],
    ['groupKey over 64 characters', { ...valid, groupKey: 'g'.repeat(65) }, 'groupKey'],
    ['referralCode of 2 characters', { ...valid, referralCode: 'AB' }, 'referralCode'],
    ['referralCode with a space', { ...valid, referralCode: 'ADA 2026' }, 'referralCode'],
    ['referralCode with punctuation', { ...valid, referralCode: 'ADA!2026' }, 'referralCode'],
    ['referralCode over 40 characters', { ...valid, referralCode: 'R'.repeat(41) }, 'referralCode'],
    ['metadata with a nested object', { ...valid, metadata: { crm: { id: '1' } } }, 'metadata.crm'],
    ['metadata with a number value', { ...valid, metadata: { seats: 5 } }, 'metadata.seats'],
    ['metadata with a null value', { ...valid, metadata: { seats: null } }, 'metadata.seats'],
    ['metadata with 51 keys', { ...valid, metadata: tooManyKeys }, 'metadata'],
    [
      'metadata value over 500 characters',
      { ...valid, metadata: { note: 'x'.repeat(501) } },
      'metadata.note',
    ],
    ['metadata key with a space', { ...valid, metadata: { 'crm id': '1' } }, 'metadata.crm id'],
    [
      'metadata key over 40 characters',
      { ...valid, metadata: { ['k'.repeat(41)]: '1' } },
      `metadata.${'k'.repeat(41)}`,
    ],
    ['metadata key that is empty', { ...valid, metadata: { '': '1' } }, 'metadata'],
    ['metadata as an array', { ...valid, metadata: ['a'] }, 'metadata'],
    ['an unknown field', { ...valid, nickname: 'Ada' }, 'nickname'],
    ['a read-only field', { ...valid, id: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f' }, 'id'],
  ];

  it.each(cases)('%s: 400 validation_error naming %s', async (_, body, field) => {
    const tenant = await createTenant(server);
    const response = await createPartner(tenant, body);

    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({ code: 'validation_error', status: 400 });
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    for (const error of response.body.errors) {
      expect(error).toEqual({
        field: expect.any(String),
        code: expect.any(String),
        message: expect.any(String),
      });
    }

    const list = await call(server, 'GET', '/api/v1/partners', { key: tenant.key });
    expect(list.body.pagination.total).toBe(0);
  });

  it('names the unknown field with code unknown_field', async () => {
    const tenant = await createTenant(server);
    const response = await createPartner(tenant, { email: 'a@example.com', nickname: 'Ada' });
    expect(response.body.errors).toEqual([
      { field: 'nickname', code: 'unknown_field', message: expect.stringContaining('nickname') },
    ]);
  });

  it('reports every invalid field at once', async () => {
    const tenant = await createTenant(server);
    const response = await createPartner(tenant, { email: 'nope', status: 'gone', groupKey: 'Bad Key' });
    const fields = response.body.errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['email', 'status', 'groupKey']));
  });

  it.each([
    ['an array', []],
    ['a string', 'ada@example.com'],
    ['a number', 42],
    ['null', null],
  ])('a body that is %s: 400 validation_error on body', async (_, body) => {
    const tenant = await createTenant(server);
    const response = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      raw: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({
      code: 'validation_error',
      errors: [{ field: 'body', code: 'invalid_type' }],
    });
  });
});
