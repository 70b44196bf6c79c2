import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createTenant, uniqueSlug } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const admin = (method: string, path: string, body?: unknown) =>
  call(server, method, path, { key: ADMIN_KEY, ...(body === undefined ? {} : { body }) });

async function newTenant(body: Record<string, unknown> = {}) {
  const slug = uniqueSlug('ten');
  const response = await admin('POST', '/api/admin/tenants', { slug, name: `Tenant ${slug}`, ...body });
  expect(response.status).toBe(201);
  return response.body.data;
}

describe('POST /api/admin/tenants', () => {
  it('creates a tenant with a ten_ id on the default plan', async () => {
    const slug = uniqueSlug('acme');
    const response = await admin('POST', '/api/admin/tenants', { slug, name: 'Acme Inc.' });
    expect(response.status).toBe(201);
    expect(response.body.data).toMatchObject({ slug, name: 'Acme Inc.', plan: 'default', status: 'active' });
    expect(response.body.data.id).toMatch(/^ten_[0-7][0-9a-hjkmnp-tv-z]{25}$/);
    expect(new Date(response.body.data.createdAt).toISOString()).toBe(response.body.data.createdAt);
  });

  it('takes a plan', async () => {
    expect((await newTenant({ plan: 'enterprise' })).plan).toBe('enterprise');
  });

  it.each([
    ['3 characters', 'a1z'],
    ['40 characters', `b${'0'.repeat(38)}z`],
    ['inner dashes', 'a--b-c'],
    ['digits only', '1234'],
  ])('accepts a slug of %s', async (_, slug) => {
    const response = await admin('POST', '/api/admin/tenants', { slug, name: 'Edge' });
    expect(response.status).toBe(201);
    expect(response.body.data.slug).toBe(slug);
  });

  it.each([
    ['2 characters', 'ab'],
    ['41 characters', `a${'b'.repeat(40)}`],
    ['upper case', 'Acme'],
    ['an underscore', 'ac_me'],
    ['a dot', 'ac.me'],
    ['a space', 'ac me'],
    ['a leading dash', '-acme'],
    ['a trailing dash', 'acme-'],
    ['a non-ASCII letter', 'acmé'],
    ['a number instead of a string', 12345],
  ])('refuses a slug with %s: 400 naming slug', async (_, slug) => {
    const response = await admin('POST', '/api/admin/tenants', { slug, name: 'Bad' });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain('slug');
  });

  it.each([
    ['an unknown plan', { plan: 'platinum' }, 'plan'],
    ['an unknown field', { region: 'eu' }, 'region'],
    ['an empty name', { name: '' }, 'name'],
    ['a status (set only by PATCH)', { status: 'suspended' }, 'status'],
  ])('refuses %s: 400 naming the field', async (_, extra, field) => {
    const response = await admin('POST', '/api/admin/tenants', { slug: uniqueSlug(), name: 'X', ...extra });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('refuses a missing name and slug', async () => {
    const response = await admin('POST', '/api/admin/tenants', {});
    expect(response.status).toBe(400);
    const fields = response.body.errors.map((e: { field: string; code: string }) => `${e.field}:${e.code}`);
    expect(fields).toEqual(expect.arrayContaining(['slug:required', 'name:required']));
  });

  it.each(['www', 'api', 'admin'])('refuses the reserved slug %s, and creates nothing', async (slug) => {
    const response = await admin('POST', '/api/admin/tenants', { slug, name: 'Reserved' });
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([expect.objectContaining({ field: 'slug', code: 'invalid_value' })]);
    expect((await admin('GET', `/api/admin/tenants/${slug}`)).status).toBe(404);
  });

  it('serves a tenant at once, also when its slug was asked for before it existed', async () => {
    const slug = uniqueSlug('late');
    const before = await admin('GET', `/api/t/${slug}/v1/partners`);
    expect([before.status, before.body.code]).toEqual([404, 'tenant_not_found']);
    expect((await admin('POST', '/api/admin/tenants', { slug, name: 'Late' })).status).toBe(201);
    expect((await admin('GET', `/api/t/${slug}/v1/partners`)).status).toBe(200);
  });

  it('applies a POST with an Idempotency-Key once: retries replay it, another body is 422', async () => {
    const slug = uniqueSlug('idem');
    const post = (body: unknown, key: string) =>
      call(server, 'POST', '/api/admin/tenants', {
        key: ADMIN_KEY,
        body,
        headers: { 'idempotency-key': key },
      });
    const key = `create-${slug}`;
    const answers = await Promise.all(Array.from({ length: 6 }, () => post({ slug, name: 'Once' }, key)));
    const created = answers.filter((answer) => answer.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((answer) => answer.body.data.id)).size).toBe(1);
    for (const answer of answers) {
      expect([201, 409]).toContain(answer.status);
      if (answer.status === 409) expect(answer.body.code).toBe('idempotency_key_in_flight');
    }
    const replay = await post({ slug, name: 'Once' }, key);
    expect([replay.status, replay.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
    expect(replay.body.data.id).toBe(created[0]!.body.data.id);
    const reused = await post({ slug: uniqueSlug('other'), name: 'Else' }, key);
    expect([reused.status, reused.body.code]).toEqual([422, 'idempotency_key_reused']);
  });

  it('refuses a taken slug: 409 tenant_slug_taken', async () => {
    const { slug } = await newTenant();
    const response = await admin('POST', '/api/admin/tenants', { slug, name: 'Again' });
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('tenant_slug_taken');
  });
});

describe('GET /api/admin/tenants', () => {
  it('pages by page number and by cursor, newest first', async () => {
    for (let i = 0; i < 3; i++) await newTenant();
    const all = await admin('GET', '/api/admin/tenants?limit=100');
    const total = all.body.pagination.total as number;
    expect(total).toBeGreaterThanOrEqual(3);
    const ids = all.body.data.map((t: { id: string }) => t.id);
    expect(ids).toEqual([...ids].sort().reverse());

    const page2 = await admin('GET', '/api/admin/tenants?page=2&limit=2');
    expect(page2.status).toBe(200);
    expect(page2.body.pagination).toEqual({ page: 2, limit: 2, total, pages: Math.ceil(total / 2) });
    expect(page2.body.data.map((t: { id: string }) => t.id)).toEqual(ids.slice(2, 4));

    const seen: string[] = [];
    let path = '/api/admin/tenants?limit=2';
    for (;;) {
      const page = await admin('GET', path);
      expect(page.status).toBe(200);
      seen.push(...page.body.data.map((t: { id: string }) => t.id));
      if (!page.body.pagination.nextCursor) break;
      path = `/api/admin/tenants?limit=2&cursor=${page.body.pagination.nextCursor}`;
    }
    expect(seen).toEqual(ids);
  });

  it.each(['limit=0', 'limit=101', 'page=0', 'cursor=bogus', 'sort=name'])(
    'refuses ?%s with 400',
    async (query) => {
      const response = await admin('GET', `/api/admin/tenants?${query}`);
      expect(response.status).toBe(400);
      expect(['validation_error', 'invalid_cursor']).toContain(response.body.code);
    },
  );
});

describe('GET /api/admin/tenants/{id}', () => {
  it('finds a tenant by id and by slug', async () => {
    const tenant = await newTenant();
    const byId = await admin('GET', `/api/admin/tenants/${tenant.id}`);
    const bySlug = await admin('GET', `/api/admin/tenants/${tenant.slug}`);
    expect(byId.status).toBe(200);
    expect(byId.body.data).toEqual(tenant);
    expect(bySlug.body.data).toEqual(tenant);
  });

  it.each([
    ['an unknown slug', 'no-such-tenant'],
    ['an unknown id', 'ten_01jd8x3v4w5y6z7a8b9c0d1e2f'],
    ['a malformed id', 'ten_nope'],
  ])('answers 404 for %s', async (_, id) => {
    const response = await admin('GET', `/api/admin/tenants/${id}`);
    expect(response.status).toBe(404);
    expect(['tenant_not_found', 'not_found']).toContain(response.body.code);
  });
});

describe('PATCH /api/admin/tenants/{id}', () => {
  it('changes name, plan and status', async () => {
    const tenant = await newTenant();
    const response = await admin('PATCH', `/api/admin/tenants/${tenant.id}`, {
      name: 'Renamed',
      plan: 'starter',
      status: 'suspended',
    });
    expect(response.status).toBe(200);
    expect(response.body.data).toMatchObject({
      id: tenant.id,
      name: 'Renamed',
      plan: 'starter',
      status: 'suspended',
    });
    const read = await admin('GET', `/api/admin/tenants/${tenant.slug}`);
    expect(read.body.data).toMatchObject({ name: 'Renamed', plan: 'starter', status: 'suspended' });
  });

  it.each([
    ['an unknown field', { slug: 'new-slug' }, 'slug'],
    ['an unknown plan', { plan: 'gold' }, 'plan'],
    ['an unknown status', { status: 'deleted' }, 'status'],
  ])('refuses %s with 400', async (_, body, field) => {
    const tenant = await newTenant();
    const response = await admin('PATCH', `/api/admin/tenants/${tenant.id}`, body);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('changes sent at once apply one after the other: one suspension, each name change audited from the last', async () => {
    const tenant = await newTenant({ name: 'n0' });
    const answers = await Promise.all([
      ...Array.from({ length: 6 }, () =>
        admin('PATCH', `/api/admin/tenants/${tenant.id}`, { status: 'suspended' }),
      ),
      ...Array.from({ length: 6 }, (_, i) =>
        admin('PATCH', `/api/admin/tenants/${tenant.id}`, { name: `n${i + 1}` }),
      ),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual(Array(12).fill(200));
    const entries = await server.services.db
      .selectFrom('auditLog')
      .select('changes')
      .where('tenantId', '=', tenant.id)
      .where('action', '=', 'tenant.updated')
      .orderBy('id')
      .execute();
    const changes = entries.map(
      (entry) =>
        (typeof entry.changes === 'string' ? JSON.parse(entry.changes) : entry.changes) as Record<
          string,
          { before: string; after: string }
        >,
    );
    expect(changes.filter((change) => change.status)).toHaveLength(1);
    const names = changes.flatMap((change) => (change.name ? [change.name] : []));
    expect(names.map((name) => name.before)).toEqual(['n0', ...names.slice(0, -1).map((name) => name.after)]);
  });

  it('takes If-Match: the ETag of GET, moved by each change; a stale one is 412 and changes nothing', async () => {
    const tenant = await newTenant();
    const read = await admin('GET', `/api/admin/tenants/${tenant.slug}`);
    expect(read.headers.get('etag')).toBe('"v1"');
    const patch = (body: unknown, etag: string) =>
      call(server, 'PATCH', `/api/admin/tenants/${tenant.id}`, {
        key: ADMIN_KEY,
        body,
        headers: { 'if-match': etag },
      });
    const renamed = await patch({ name: 'First' }, '"v1"');
    expect([renamed.status, renamed.headers.get('etag')]).toEqual([200, '"v2"']);
    const stale = await patch({ name: 'Second' }, '"v1"');
    expect([stale.status, stale.body.code]).toEqual([412, 'precondition_failed']);
    expect((await admin('GET', `/api/admin/tenants/${tenant.id}`)).body.data.name).toBe('First');
  });

  it('answers 404 for an unknown tenant', async () => {
    const response = await admin('PATCH', '/api/admin/tenants/no-such-tenant', { name: 'X' });
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('tenant_not_found');
  });

  it('answers 404, not 400, for an id or slug of any wrong shape or length', async () => {
    for (const id of ['a'.repeat(65), 'ten_short', 'Upper-Case']) {
      for (const method of ['GET', 'PATCH'] as const) {
        const response = await admin(
          method,
          `/api/admin/tenants/${id}`,
          method === 'PATCH' ? { name: 'X' } : undefined,
        );
        expect(response.status, `${method} ${id}`).toBe(404);
      }
    }
  });
});

describe('admin authentication', () => {
  const routes: [string, string][] = [
    ['GET', '/api/admin/tenants'],
    ['POST', '/api/admin/tenants'],
    ['GET', '/api/admin/tenants/default'],
    ['PATCH', '/api/admin/tenants/default'],
  ];

  describe.each(routes)('%s %s', (method, path) => {
    const body = method === 'GET' ? undefined : { name: 'X' };

    it('answers 401 api_key_missing without a key', async () => {
      const response = await call(server, method, path, { body });
      expect(response.status).toBe(401);
      expect(response.body.code).toBe('api_key_missing');
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="partnerline"/);
    });

    it('answers 401 api_key_invalid for a wrong key and for a tenant key', async () => {
      const tenant = await createTenant(server);
      for (const key of [`${ADMIN_KEY}x`, 'nonsense', tenant.key]) {
        const response = await call(server, method, path, { key, body });
        expect(response.status).toBe(401);
        expect(response.body.code).toBe('api_key_invalid');
        expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
      }
    });
  });

  it.each([
    ['X-API-Key', { 'x-api-key': ADMIN_KEY }],
    ['Authorization: Bearer', { authorization: `Bearer ${ADMIN_KEY}` }],
  ])('accepts ADMIN_API_KEY as %s', async (_, headers) => {
    const response = await call(server, 'GET', '/api/admin/tenants', { headers });
    expect(response.status).toBe(200);
  });
});

describe('suspension', () => {
  it("refuses a suspended tenant's keys with 403 tenant_suspended until it is active again", async () => {
    const tenant = await createTenant(server);
    expect((await call(server, 'GET', '/api/v1/me', { key: tenant.key })).status).toBe(200);

    await admin('PATCH', `/api/admin/tenants/${tenant.slug}`, { status: 'suspended' });
    const refused = await call(server, 'GET', '/api/v1/partners', { key: tenant.key });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('tenant_suspended');
    const viaPath = await call(server, 'GET', `/api/t/${tenant.slug}/v1/me`, { key: tenant.key });
    expect(viaPath.body.code).toBe('tenant_suspended');

    await admin('PATCH', `/api/admin/tenants/${tenant.slug}`, { status: 'active' });
    const again = await call(server, 'GET', '/api/v1/partners', { key: tenant.key });
    expect(again.status).toBe(200);
  });
});
