import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/platform/config.ts';
import { call, createKey, createTenant, type TestTenant } from '../../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../../helpers/server.ts';
import { DOMAIN_EVENT_TYPES, eventually, WebhookReceiver } from '../../helpers/webhook-receiver.ts';
import { type Program, startProgram } from '../../modules/events/program.ts';

let server: TestServer;
let tenant: TestTenant;
const URL = 'https://hooks.example.com/partnerline';

beforeAll(async () => {
  server = await startServer();
  tenant = await createTenant(server);
});

afterAll(async () => {
  await server?.close();
});

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const api = (method: string, path: string, body?: unknown, key = tenant.key) =>
  call(server, method, `/api/v1${path}`, { key, body });

describe('webhook endpoints', () => {
  it('never show the password of a URL, and keep it when the masked URL is sent back', async () => {
    const stored = async (id: string) =>
      (
        await server.services.db
          .selectFrom('webhookEndpoints')
          .select('url')
          .where('id', '=', id)
          .executeTakeFirstOrThrow()
      ).url;
    const created = await api('POST', '/webhook-endpoints', {
      url: 'https://crm:s3cret-pw@hooks.example.com/partnerline',
      eventTypes: ['*'],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { id } = created.body.data;
    const shown = 'https://crm:****@hooks.example.com/partnerline';
    expect(created.body.data.url).toBe(shown);
    const reader = await createKey(server, tenant.key, { name: 'hooks reader', scopes: ['webhooks:read'] });
    const listed = await api('GET', '/webhook-endpoints', undefined, reader.key);
    expect(JSON.stringify(listed.body)).not.toContain('s3cret-pw');
    expect((await api('GET', `/webhook-endpoints/${id}`, undefined, reader.key)).body.data.url).toBe(shown);

    const renamed = await api('PATCH', `/webhook-endpoints/${id}`, { url: shown, description: 'CRM' });
    expect(renamed.status).toBe(200);
    expect(await stored(id)).toBe('https://crm:s3cret-pw@hooks.example.com/partnerline');
    const changed = await api('PATCH', `/webhook-endpoints/${id}`, {
      url: 'https://crm:new-pw@hooks.example.com/partnerline',
    });
    expect(changed.body.data.url).toBe(shown);
    expect(await stored(id)).toBe('https://crm:new-pw@hooks.example.com/partnerline');

    const audit = await api('GET', `/audit-log?resourceId=${id}`);
    expect(audit.body.data.length).toBe(3);
    expect(JSON.stringify(audit.body)).not.toMatch(/s3cret-pw|new-pw/);
  });

  it('creates, reads, lists, updates and deletes an endpoint; the secret only where asked for', async () => {
    const created = await api('POST', '/webhook-endpoints', {
      url: URL,
      description: 'CRM',
      eventTypes: ['partner.created', 'partner.created', 'payout.paid'],
      metadata: { team: 'growth' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const endpoint = created.body.data;
    expect(endpoint).toMatchObject({
      url: URL,
      description: 'CRM',
      eventTypes: ['partner.created', 'payout.paid'],
      enabled: true,
      disabledReason: null,
      metadata: { team: 'growth' },
      failingSince: null,
    });
    expect(endpoint.id).toMatch(/^whe_/);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const got = await api('GET', `/webhook-endpoints/${endpoint.id}`);
    expect(got.status).toBe(200);
    expect(got.body.data.secret).toBeUndefined();
    const etag = got.headers.get('etag') as string;
    const secret = await api('GET', `/webhook-endpoints/${endpoint.id}/secret`);
    expect(secret.body.data).toEqual({ secret: endpoint.secret, previousSecretExpiresAt: null });

    const list = await api('GET', '/webhook-endpoints');
    expect(list.body.data.map((e: { id: string }) => e.id)).toContain(endpoint.id);
    expect(list.body.pagination).toMatchObject({ page: 1, limit: 50 });
    expect(list.body.data[0].secret).toBeUndefined();
    const byCursor = await api('GET', '/webhook-endpoints?limit=1&enabled=true');
    expect(
      byCursor.body.pagination.nextCursor === null || typeof byCursor.body.pagination.nextCursor === 'string',
    ).toBe(true);

    const patched = await call(server, 'PATCH', `/api/v1/webhook-endpoints/${endpoint.id}`, {
      key: tenant.key,
      body: { eventTypes: ['*'], enabled: false, description: null },
      headers: { 'if-match': etag },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.data).toMatchObject({
      eventTypes: ['*'],
      enabled: false,
      disabledReason: 'manual',
      description: null,
    });
    const stale = await call(server, 'PATCH', `/api/v1/webhook-endpoints/${endpoint.id}`, {
      key: tenant.key,
      body: { enabled: true },
      headers: { 'if-match': etag },
    });
    expect(stale.status).toBe(412);

    const removed = await api('DELETE', `/webhook-endpoints/${endpoint.id}`);
    expect(removed.body.data).toEqual({ id: endpoint.id, deleted: true });
    expect((await api('GET', `/webhook-endpoints/${endpoint.id}`)).status).toBe(404);

    // Every change is audited with before and after, and never with a secret.
    const audit = await api('GET', `/audit-log?resourceId=${endpoint.id}`);
    expect(audit.status, JSON.stringify(audit.body)).toBe(200);
    expect(audit.body.data.map((e: { action: string }) => e.action).sort()).toEqual([
      'webhook_endpoint.created',
      'webhook_endpoint.deleted',
      'webhook_endpoint.updated',
    ]);
    expect(JSON.stringify(audit.body)).not.toContain('whsec_');
  });

  it('audits a secret rotation without the secrets', async () => {
    const created = await api('POST', '/webhook-endpoints', { url: URL, eventTypes: ['*'] });
    const rotated = await api('POST', `/webhook-endpoints/${created.body.data.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    const audit = await api('GET', `/audit-log?resourceId=${created.body.data.id}`);
    expect(audit.body.data.map((e: { action: string }) => e.action)).toContain(
      'webhook_endpoint.secret_rotated',
    );
    expect(JSON.stringify(audit.body)).not.toContain('whsec_');
  });

  it.each([
    [{ url: 'ftp://example.com/x', eventTypes: ['*'] }, 'url'],
    [{ url: 'not a url', eventTypes: ['*'] }, 'url'],
    [{ url: URL, eventTypes: [] }, 'eventTypes'],
    [{ url: URL, eventTypes: ['partner.exploded'] }, 'eventTypes.0'],
    [{ url: URL, eventTypes: ['*', 'partner.created'] }, 'eventTypes'],
    [{ url: URL }, 'eventTypes'],
    [{ url: URL, eventTypes: ['*'], secret: 'whsec_x' }, 'secret'],
    [{ url: `${URL}#frag`, eventTypes: ['*'] }, 'url'],
    [{ url: 'https://hooks.example.com:0/x', eventTypes: ['*'] }, 'url'],
  ])('refuses %j with a 400 naming %s', async (body, field) => {
    const response = await api('POST', '/webhook-endpoints', body);
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('needs webhooks:read to read, webhooks:write to change or see secrets; other tenants get 404', async () => {
    const created = await api('POST', '/webhook-endpoints', { url: URL, eventTypes: ['*'] });
    const id = created.body.data.id;
    const reader = await createKey(server, tenant.key, { name: 'reader', scopes: ['webhooks:read'] });
    expect((await api('GET', `/webhook-endpoints/${id}`, undefined, reader.key)).status).toBe(200);
    expect((await api('GET', '/webhook-event-types', undefined, reader.key)).status).toBe(200);
    for (const [method, path] of [
      ['POST', '/webhook-endpoints'],
      ['GET', `/webhook-endpoints/${id}/secret`],
      ['POST', `/webhook-endpoints/${id}/rotate-secret`],
      ['POST', `/webhook-endpoints/${id}/test`],
      ['DELETE', `/webhook-endpoints/${id}`],
    ] as const) {
      const response = await api(method, path, method === 'POST' ? {} : undefined, reader.key);
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.body.code).toBe('insufficient_scope');
    }
    const other = await createTenant(server);
    for (const path of [
      `/webhook-endpoints/${id}`,
      `/webhook-endpoints/${id}/secret`,
      `/webhook-endpoints/${id}/messages`,
    ]) {
      const response = await api('GET', path, undefined, other.key);
      expect(response.status, path).toBe(404);
    }
    expect((await api('GET', '/webhook-messages/msg_01jd8x3v4w5y6z7a8b9c0d1e2f/attempts')).status).toBe(404);
    expect((await api('POST', '/webhook-messages/nope/retry', {})).status).toBe(404);
  });
});

describe('GET /webhook-event-types', () => {
  it('lists every type with a description, an example and the API schema of its data', async () => {
    const response = await api('GET', '/webhook-event-types');
    expect(response.status).toBe(200);
    const types = response.body.data.map((t: { type: string }) => t.type);
    expect(types).toEqual([...DOMAIN_EVENT_TYPES, 'webhook.test']);
    const partner = response.body.data[0];
    expect(partner.description).toEqual(expect.any(String));
    expect(partner.example).toMatchObject({
      type: 'partner.created',
      data: { id: expect.stringMatching(/^prt_/) },
    });
    // The schema is the API's own: the one GET /partners/{id} is documented with.
    const doc = await call(server, 'GET', '/api/doc.json');
    const documented =
      doc.body.paths['/api/v1/partners/{id}'].get.responses['200'].content['application/json'].schema
        .properties.data;
    expect(partner.schema).toEqual(documented);
  });

  const at = expect.stringMatching(/^\d{4}-\d\d-\d\dT/);
  const EXAMPLES_SHOW: [string, Record<string, unknown>][] = [
    ['partner.invited', { status: 'invited', invitedAt: at }],
    ['partner.revoked', { status: 'revoked', revokedAt: at }],
    ['transaction.created', { status: 'pending', refundedAmount: '0.00' }],
    ['transaction.approved', { status: 'approved' }],
    ['transaction.rejected', { status: 'rejected', statusReason: expect.any(String) }],
    ['transaction.refunded', { status: 'refunded', refundedAmount: expect.not.stringMatching(/^0\.00$/) }],
    ['commission.created', { status: 'pending', approvedAt: null }],
    ['commission.approved', { status: 'approved', approvedAt: at, paidAt: null }],
    ['commission.reversed', { status: 'reversed', statusReason: expect.any(String), amount: '0.00' }],
    ['commission.paid', { status: 'paid', payoutId: expect.stringMatching(/^po_/), paidAt: at }],
    ['payout.created', { status: 'pending', paidAt: null }],
    ['payout.paid', { status: 'paid', reference: expect.any(String), paidAt: at }],
    ['api_key.created', { status: 'active', lastUsedAt: null }],
    ['api_key.revoked', { status: 'revoked', revokedAt: at }],
    ['api_key.expiring', { status: 'active', expiresAt: at }],
  ];

  it.each(EXAMPLES_SHOW)(
    'the example of %s shows the resource as that event leaves it',
    async (type, fields) => {
      const response = await api('GET', '/webhook-event-types');
      const entry = response.body.data.find((t: { type: string }) => t.type === type);
      expect(entry.example.data).toMatchObject(fields);
      // A change is not dated before the message that reports it.
      expect(entry.example.timestamp >= entry.example.data.updatedAt).toBe(true);
    },
  );

  it('gives every type an example whose data validates against the type’s schema', async () => {
    const response = await api('GET', '/webhook-event-types');
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const failures = response.body.data.flatMap(
      (t: { type: string; schema: object; example: { data: unknown } }) => {
        const validate = ajv.compile(t.schema);
        return validate(t.example.data) ? [] : [`${t.type}: ${ajv.errorsText(validate.errors)}`];
      },
    );
    expect(failures).toEqual([]);
  });
});

describe('an endpoint that keeps failing', () => {
  const clock = new TestClock(new Date('2026-05-01T00:00:00.000Z'));
  let failing: TestServer;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    receiver.respond(() => ({ status: 500, body: 'broken' }));
    failing = await startServer({
      clock,
      env: {
        WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
        WEBHOOK_RETRY_SCHEDULE:
          '1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h,1h',
        WEBHOOK_DISABLE_AFTER: '5d',
        WEBHOOK_POLL_INTERVAL_MS: '20',
      },
    });
  });

  afterAll(async () => {
    await failing?.close();
    await receiver?.close();
  });

  it('is disabled (and audited, and shown so) once every attempt failed for 5 days', async () => {
    const program = await startProgram(failing);
    const created = await program.post('/webhook-endpoints', {
      url: `${receiver.url}/x`,
      eventTypes: ['partner.created'],
    });
    const id = created.body.data.id;
    await program.partner();
    const first = await eventually(async () => {
      const response = await program.get(`/webhook-endpoints/${id}`);
      return response.body.data.failingSince ?? undefined;
    });
    expect(first).toBe('2026-05-01T00:00:00.000Z');
    // A day later the retry fails too: still enabled.
    clock.advance(86_400_000);
    await receiver.waitFor((all) => all.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await program.get(`/webhook-endpoints/${id}`)).body.data.enabled).toBe(true);
    // Five days after the first failure, the next failed attempt disables it.
    clock.advance(4 * 86_400_000);
    const disabled = await eventually(async () => {
      const response = await program.get(`/webhook-endpoints/${id}`);
      return response.body.data.enabled ? undefined : response.body.data;
    });
    expect(disabled).toMatchObject({ disabledReason: 'failing', disabledAt: '2026-05-06T00:00:00.000Z' });
    const audit = await program.get(`/audit-log?resourceId=${id}`);
    const entry = audit.body.data.find((e: { action: string }) => e.action === 'webhook_endpoint.disabled');
    expect(entry).toMatchObject({ actorType: 'system' });
    expect(entry.changes).toMatchObject({ enabled: { before: true, after: false } });
    const messages = await program.get(`/webhook-endpoints/${id}/messages`);
    expect(messages.body.data[0]).toMatchObject({ status: 'failed', attempts: 3 });
  });
});

describe('a URL sent back with its password as ****', () => {
  let hooks: TestServer;
  let receiver: WebhookReceiver;
  let program: Program;
  /** The receiver's address, host:port. */
  let host: string;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    hooks = await startServer({ env: { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_ALLOW_HTTP: 'true' } });
    program = await startProgram(hooks);
    host = new globalThis.URL(receiver.url).host;
  });

  afterAll(async () => {
    await hooks?.close();
    await receiver?.close();
  });

  /** An endpoint sending Basic auth hookuser:pw-only-for-hook to the receiver's `path`. */
  async function endpointWithPassword(path: string) {
    const created = await program.post('/webhook-endpoints', {
      url: `http://hookuser:pw-only-for-hook@${host}${path}`,
      eventTypes: ['*'],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body.data as { id: string; url: string };
  }

  /** The Basic auth credentials each request to `path` came with, decoded. */
  const credentialsAt = (path: string) =>
    receiver
      .at(path)
      .map((r) => Buffer.from(String(r.headers.authorization).replace(/^Basic /, ''), 'base64').toString());

  it('keeps the stored password when the URL is otherwise unchanged', async () => {
    const endpoint = await endpointWithPassword('/kept');
    expect(endpoint.url).toBe(`http://hookuser:****@${host}/kept`);
    const renamed = await program.patch(`/webhook-endpoints/${endpoint.id}`, {
      url: endpoint.url,
      description: 'renamed',
    });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    expect((await program.post(`/webhook-endpoints/${endpoint.id}/test`)).body.data.status).toBe('delivered');
    expect(credentialsAt('/kept')).toEqual(['hookuser:pw-only-for-hook']);
  });

  it.each([
    ['another path', (h: string) => `http://hookuser:****@${h}/attacker-bin`],
    ['a query', (h: string) => `http://hookuser:****@${h}/changed?to=attacker-bin`],
    ['another port', (h: string) => `http://hookuser:****@${h.replace(/:\d+$/, ':1')}/changed`],
    ['another scheme', (h: string) => `https://hookuser:****@${h}/changed`],
    ['another user', (h: string) => `http://attacker:****@${h}/changed`],
    ['another host', (h: string) => `http://hookuser:****@${h.replace('127.0.0.1', 'localhost')}/changed`],
  ])('with %s is a 400: the password must be sent again', async (_, changedUrl) => {
    const endpoint = await endpointWithPassword('/changed');
    const response = await program.patch(`/webhook-endpoints/${endpoint.id}`, { url: changedUrl(host) });
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors).toEqual([
      { field: 'url', code: 'required', message: expect.stringContaining('password must be sent again') },
    ]);
    expect((await program.get(`/webhook-endpoints/${endpoint.id}`)).body.data.url).toBe(endpoint.url);
    // The endpoint still sends its password only where it was given for.
    const before = receiver.received.length;
    await program.post(`/webhook-endpoints/${endpoint.id}/test`);
    expect(receiver.received.slice(before).map((r) => r.path)).toEqual(['/changed']);
  });

  it('is a 400 for an endpoint that has no stored password', async () => {
    const created = await program.post('/webhook-endpoints', {
      url: `http://${host}/open`,
      eventTypes: ['*'],
    });
    const response = await program.patch(`/webhook-endpoints/${created.body.data.id}`, {
      url: `http://hookuser:****@${host}/open`,
    });
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      { field: 'url', code: 'required', message: expect.stringContaining('the endpoint has none') },
    ]);
  });

  it('a new password with the changed URL is taken', async () => {
    const endpoint = await endpointWithPassword('/moved-from');
    const moved = await program.patch(`/webhook-endpoints/${endpoint.id}`, {
      url: `http://hookuser:new-pw@${host}/moved-to`,
    });
    expect(moved.status).toBe(200);
    expect(moved.body.data.url).toBe(`http://hookuser:****@${host}/moved-to`);
    await program.post(`/webhook-endpoints/${endpoint.id}/test`);
    expect(credentialsAt('/moved-to')).toEqual(['hookuser:new-pw']);
  });
});

describe('settings', () => {
  it.each(
    [
      ['WEBHOOK_RETRY_SCHEDULE', '5s,soon'],
      ['WEBHOOK_RETRY_SCHEDULE', ''.padEnd(0)],
      ['WEBHOOK_DISPATCH', 'maybe'],
      ['WEBHOOK_ALLOW_PRIVATE_TARGETS', 'yes'],
      ['WEBHOOK_DISABLE_AFTER', '5 days'],
      ['WEBHOOK_TIMEOUT', '0'],
      ['WEBHOOK_CONCURRENCY', '0'],
      ['WEBHOOK_LEASE', '10s'],
    ].filter(([, value]) => value !== ''),
  )('%s=%s is refused with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name as string]: value as string })).toThrow(new RegExp(`^${name}`));
  });

  it('states the range of a duration in readable units', () => {
    expect(() => loadConfig({ WEBHOOK_TIMEOUT: '70s' })).toThrow(/from 100ms to 1m\)/);
  });

  it('parses the retry schedule and defaults https-only to production', () => {
    expect(loadConfig({}).webhooks.retrySchedule).toEqual([
      5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
    ]);
    expect(loadConfig({ WEBHOOK_RETRY_SCHEDULE: '250ms,2s,1500' }).webhooks.retrySchedule).toEqual([
      250, 2000, 1500,
    ]);
    expect(loadConfig({ NODE_ENV: 'production' }).webhooks.allowHttp).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', WEBHOOK_ALLOW_HTTP: 'true' }).webhooks.allowHttp).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).webhooks.allowHttp).toBe(true);
  });
});
