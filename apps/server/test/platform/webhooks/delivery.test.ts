import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookRetentionJob } from '../../../src/platform/webhooks/index.ts';
import { pruneWebhookMessages } from '../../../src/platform/webhooks/retention.ts';
import { call } from '../../helpers/http.ts';
import { ADMIN_KEY, startServer, type TestServer } from '../../helpers/server.ts';
import {
  DOMAIN_EVENT_TYPES,
  eventually,
  type ReceivedWebhook,
  verify,
  WebhookReceiver,
} from '../../helpers/webhook-receiver.ts';
import { FAST_APPROVAL, type Program, startProgram } from '../../modules/events/program.ts';

let server: TestServer;
let receiver: WebhookReceiver;
let pathCounter = 0;

beforeAll(async () => {
  receiver = await new WebhookReceiver().start();
  server = await startServer({
    env: {
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
      WEBHOOK_RETRY_SCHEDULE: '100ms,100ms',
      LOG_LEVEL: 'error',
      WEBHOOK_POLL_INTERVAL_MS: '50',
      API_KEY_EXPIRY_CHECK_INTERVAL_MS: '100',
      ...FAST_APPROVAL,
    },
  });
});

afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

interface Endpoint {
  id: string;
  secret: string;
  path: string;
}

/** Subscribes a fresh receiver path of its own; replies come from `reply` for that path. */
async function subscribe(program: Program, body: Record<string, unknown> = {}): Promise<Endpoint> {
  pathCounter += 1;
  const path = `/hooks/${pathCounter}`;
  const response = await program.post('/webhook-endpoints', {
    url: `${receiver.url}${path}`,
    eventTypes: ['*'],
    ...body,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return { id: response.body.data.id, secret: response.body.data.secret, path };
}

/** Waits for a delivery to `endpoint` matching `match` and verifies its signature. */
async function delivered(
  endpoint: Endpoint,
  match: (r: ReceivedWebhook) => boolean,
): Promise<ReceivedWebhook> {
  await receiver.waitFor(() => receiver.at(endpoint.path).some(match));
  const found = receiver.at(endpoint.path).find(match) as ReceivedWebhook;
  verify(endpoint.secret, found);
  return found;
}

const replies = new Map<
  string,
  (r: ReceivedWebhook, n: number) => ReturnType<Parameters<WebhookReceiver['respond']>[0]>
>();
beforeAll(() => {
  receiver.respond((r) => {
    const reply = replies.get(r.path);
    return reply ? reply(r, receiver.at(r.path).length) : { status: 200, body: 'ok' };
  });
});

async function messages(program: Program, endpoint: Endpoint, query = '') {
  const response = await program.get(`/webhook-endpoints/${endpoint.id}/messages${query}`);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

describe('a message for each domain change', () => {
  it('partners, customers, sales, refunds, rejections, approvals, payouts and keys each send theirs', async () => {
    const program = await startProgram(server, {
      holdbackDays: 0,
      saleCommission: { type: 'percentage', basisPoints: 2000 },
    });
    const endpoint = await subscribe(program);
    const partner = await program.partner({ name: 'Ada' });
    expect((await program.patch(`/partners/${partner.id}`, { name: 'Ada K' })).status).toBe(200);
    expect((await program.post(`/partners/${partner.id}/invite`)).status).toBe(200);
    const customer = await program.post('/customers', { externalId: 'hand-1', partnerId: partner.id });
    expect(customer.status, JSON.stringify(customer.body)).toBe(201);
    expect((await program.patch(`/customers/${customer.body.data.id}`, { name: 'Bo' })).status).toBe(200);

    const seller = await program.partner();
    const sale = (externalId: string) =>
      program.event({
        type: 'sale',
        partnerId: seller.id,
        customer: { externalId: `buyer-${externalId}` },
        amount: '100.00',
        currency: 'EUR',
        externalId,
      });
    const sale1 = await sale('sale-1');
    expect(sale1.status, JSON.stringify(sale1.body)).toBe(201);
    const txn1 = sale1.body.data.transactionId;
    expect((await program.post(`/transactions/${txn1}/approve`)).status).toBe(200);
    await delivered(endpoint, (r) => r.payload.type === 'commission.approved');
    const payout = await program.post('/payouts', { partnerId: seller.id, currency: 'EUR' });
    expect(payout.status, JSON.stringify(payout.body)).toBe(201);
    const paid = await program.post(`/payouts/${payout.body.data.id}/mark-paid`, { reference: 'SEPA-1' });
    expect(paid.status).toBe(200);

    expect((await sale('sale-2')).status).toBe(201);
    const refund = await program.event({
      type: 'refund',
      saleExternalId: 'sale-2',
      amount: '50.00',
      currency: 'EUR',
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
    const sale3 = await sale('sale-3');
    expect((await program.post(`/transactions/${sale3.body.data.transactionId}/reject`, {})).status).toBe(
      200,
    );
    expect((await program.post(`/partners/${partner.id}/revoke`)).status).toBe(200);

    const expiresAt = new Date(Date.now() + 3 * 86_400_000).toISOString();
    const key = await program.post('/api-keys', { name: 'revoked', scopes: ['read'] });
    expect(key.status).toBe(201);
    const expiringKey = await program.post('/api-keys', { name: 'expiring', scopes: ['read'], expiresAt });
    expect(
      (await call(server, 'DELETE', `/api/v1/api-keys/${key.body.data.id}`, { key: program.tenant.key }))
        .status,
    ).toBe(200);

    const expected = DOMAIN_EVENT_TYPES;
    await receiver.waitFor(() => {
      const types = new Set(receiver.at(endpoint.path).map((r) => r.payload.type));
      return expected.every((type) => types.has(type));
    });
    const all = receiver.at(endpoint.path);
    for (const delivery of all) verify(endpoint.secret, delivery);
    // One message per event, each with an id of its own.
    expect(new Set(all.map((r) => r.id)).size).toBe(all.length);

    // `data` is the resource exactly as the API returns it.
    const created = all.find((r) => r.payload.type === 'transaction.created' && r.payload.data.id === txn1);
    const txnNow = await program.get(`/transactions/${txn1}`);
    expect(created?.payload.data).toEqual({
      ...txnNow.body.data,
      status: 'pending',
      updatedAt: created?.payload.data.updatedAt,
    });
    const keyEvent = all.find(
      (r) => r.payload.type === 'api_key.created' && r.payload.data.id === key.body.data.id,
    );
    expect(keyEvent?.payload.data.key).toBeUndefined();
    expect(keyEvent?.body).not.toContain(key.body.data.key);
    const expiring = all.filter((r) => r.payload.type === 'api_key.expiring');
    expect(expiring.map((r) => r.payload.data.id)).toEqual([expiringKey.body.data.id]);
    const paidCommission = all.find((r) => r.payload.type === 'commission.paid');
    expect(paidCommission?.payload.data.status).toBe('paid');
  });

  it('a PATCH that changes a field and the status sends one message, with the partner as it left it', async () => {
    const program = await startProgram(server);
    const endpoint = await subscribe(program, { eventTypes: ['partner.updated', 'partner.revoked'] });
    const partner = await program.partner();
    expect((await program.post(`/partners/${partner.id}/revoke`, {})).status).toBe(200);
    await receiver.waitFor(() => receiver.at(endpoint.path).length === 1);
    const patched = await program.patch(`/partners/${partner.id}`, { name: 'Renamed', status: 'active' });
    expect(patched.status).toBe(200);
    const revokedAgain = await program.patch(`/partners/${partner.id}`, { name: 'Gone', status: 'revoked' });
    expect(revokedAgain.status).toBe(200);
    await receiver.waitFor(() => receiver.at(endpoint.path).length >= 3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sent = receiver.at(endpoint.path).map((r) => {
      const data = r.payload.data as { name: string; status: string };
      return [r.payload.type, data.name, data.status];
    });
    expect(sent.slice(1)).toEqual([
      ['partner.updated', 'Renamed', 'active'],
      ['partner.revoked', 'Gone', 'revoked'],
    ]);
  });

  it('sends only the subscribed types, and nothing from before the endpoint existed', async () => {
    const program = await startProgram(server);
    const before = await program.partner();
    const endpoint = await subscribe(program, { eventTypes: ['partner.updated'] });
    const partner = await program.partner();
    expect((await program.patch(`/partners/${partner.id}`, { name: 'Changed' })).status).toBe(200);
    const update = await delivered(endpoint, (r) => r.payload.type === 'partner.updated');
    expect(update.payload.data.id).toBe(partner.id);
    const test = await program.post(`/webhook-endpoints/${endpoint.id}/test`);
    expect(test.status).toBe(200);
    const types = receiver.at(endpoint.path).map((r) => r.payload.type);
    expect(types).toEqual(['partner.updated', 'webhook.test']);
    expect(receiver.at(endpoint.path).some((r) => r.payload.data.id === before.id)).toBe(false);
  });
});

describe('test sends', () => {
  it('sends webhook.test at once and returns the attempt', async () => {
    const program = await startProgram(server);
    const endpoint = await subscribe(program);
    const response = await program.post(`/webhook-endpoints/${endpoint.id}/test`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.data).toMatchObject({
      status: 'delivered',
      responseStatus: 200,
      responseBody: 'ok',
      trigger: 'test',
      attempt: 1,
      error: null,
    });
    expect(response.body.data.durationMs).toBeGreaterThanOrEqual(0);
    const delivery = receiver.at(endpoint.path)[0] as ReceivedWebhook;
    expect(verify(endpoint.secret, delivery)).toMatchObject({
      type: 'webhook.test',
      data: { endpointId: endpoint.id },
    });
    expect(delivery.id).toBe(response.body.data.messageId);
  });

  it('reports a failing receiver with its status and the first 4 KiB of its answer', async () => {
    const program = await startProgram(server);
    const endpoint = await subscribe(program);
    replies.set(endpoint.path, () => ({ status: 500, body: 'x'.repeat(10_000) }));
    const response = await program.post(`/webhook-endpoints/${endpoint.id}/test`);
    expect(response.body.data).toMatchObject({ status: 'failed', responseStatus: 500, error: 'HTTP 500' });
    expect(response.body.data.responseBody).toHaveLength(4096);
  });
});

describe('retries', () => {
  it('retries on the schedule with the same webhook-id until a 2xx, and logs every attempt', async () => {
    const program = await startProgram(server);
    const endpoint = await subscribe(program, { eventTypes: ['partner.created'] });
    replies.set(endpoint.path, (_r, n) => (n < 3 ? { status: 503, body: `down ${n}` } : { status: 204 }));
    await program.partner();
    await receiver.waitFor(() => receiver.at(endpoint.path).length === 3);
    const attempts = receiver.at(endpoint.path);
    expect(new Set(attempts.map((r) => r.id)).size).toBe(1);
    expect(new Set(attempts.map((r) => r.body)).size).toBe(1);
    for (const attempt of attempts) verify(endpoint.secret, attempt);

    const message = await eventually(async () => {
      const page = await messages(program, endpoint);
      return page.data[0]?.status === 'delivered' ? page.data[0] : undefined;
    });
    expect(message).toMatchObject({ id: attempts[0]?.id, attempts: 3, eventType: 'partner.created' });
    const log = await program.get(`/webhook-messages/${message.id}/attempts`);
    expect(
      log.body.data.map((a: { status: string; responseStatus: number; responseBody: string }) => [
        a.status,
        a.responseStatus,
        a.responseBody,
      ]),
    ).toEqual([
      ['delivered', 204, ''],
      ['failed', 503, 'down 2'],
      ['failed', 503, 'down 1'],
    ]);
    const failedOnly = await program.get(`/webhook-messages/${message.id}/attempts?status=failed&limit=1`);
    expect(failedOnly.body.data).toHaveLength(1);
    expect(failedOnly.body.pagination.nextCursor).toEqual(expect.any(String));
    const next = await program.get(
      `/webhook-messages/${message.id}/attempts?status=failed&limit=1&cursor=${failedOnly.body.pagination.nextCursor}`,
    );
    expect(next.body.data[0].responseBody).toBe('down 1');
    expect(next.body.pagination.nextCursor).toBeNull();
  });

  it('fails a message when the schedule is spent; retry and recover resend it on demand', async () => {
    const program = await startProgram(server);
    const endpoint = await subscribe(program, { eventTypes: ['partner.created'] });
    let healthy = false;
    replies.set(endpoint.path, () => (healthy ? { status: 200 } : { status: 500 }));
    await program.partner();
    await program.partner();
    const failed = await eventually(async () => {
      const page = await messages(program, endpoint, '?status=failed');
      return page.data.length === 2 ? page.data : undefined;
    });
    expect(failed.map((m: { attempts: number }) => m.attempts)).toEqual([3, 3]);
    expect(receiver.at(endpoint.path)).toHaveLength(6);

    healthy = true;
    const retried = await program.post(`/webhook-messages/${failed[1].id}/retry`);
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    await eventually(async () => {
      const message = await program.get(`/webhook-messages/${failed[1].id}`);
      return message.body.data.status === 'delivered' ? true : undefined;
    });
    const log = await program.get(`/webhook-messages/${failed[1].id}/attempts`);
    expect(log.body.data[0]).toMatchObject({ trigger: 'manual', status: 'delivered', attempt: 4 });

    const recover = await program.post(`/webhook-endpoints/${endpoint.id}/recover`, {
      since: new Date(Date.now() - 60_000).toISOString(),
    });
    expect(recover.status, JSON.stringify(recover.body)).toBe(202);
    expect(recover.body.data.messages).toBe(1);
    await eventually(async () => {
      const page = await messages(program, endpoint, '?status=delivered');
      return page.data.length === 2 ? true : undefined;
    });
    expect(receiver.at(endpoint.path)).toHaveLength(8);
  });

  it('honours Retry-After on a 429', async () => {
    const program = await startProgram(server);
    const endpoint = await subscribe(program, { eventTypes: ['partner.created'] });
    replies.set(endpoint.path, () => ({ status: 429, headers: { 'retry-after': '3600' } }));
    const before = Date.now();
    await program.partner();
    const message = await eventually(async () => {
      const page = await messages(program, endpoint);
      return page.data[0]?.attempts === 1 ? page.data[0] : undefined;
    });
    expect(message.status).toBe('pending');
    expect(new Date(message.nextAttemptAt).getTime()).toBeGreaterThanOrEqual(before + 3_600_000);
  });

  it('disables an endpoint that answers 410 Gone, and audits it', async () => {
    const program = await startProgram(server);
    const endpoint = await subscribe(program, { eventTypes: ['partner.created'] });
    replies.set(endpoint.path, () => ({ status: 410 }));
    await program.partner();
    const disabled = await eventually(async () => {
      const response = await program.get(`/webhook-endpoints/${endpoint.id}`);
      return response.body.data.enabled ? undefined : response.body.data;
    });
    expect(disabled).toMatchObject({ enabled: false, disabledReason: 'gone' });
    const audit = await program.get('/audit-log?action=webhook_endpoint.disabled');
    expect(audit.status, JSON.stringify(audit.body)).toBe(200);
    expect(audit.body.data.map((e: { resourceId: string }) => e.resourceId)).toContain(endpoint.id);
    // Nothing more is sent to it.
    await program.partner();
    const test = await program.post(`/webhook-endpoints/${endpoint.id}/test`);
    expect(test.body.data.status).toBe('failed');
    expect(receiver.at(endpoint.path).filter((r) => r.payload.type === 'partner.created')).toHaveLength(1);
  });
});

describe('logs', () => {
  it('lists an endpoint’s messages with filters, in both pagination modes', async () => {
    const program = await startProgram(server);
    const endpoint = await subscribe(program);
    const partner = await program.partner();
    await program.patch(`/partners/${partner.id}`, { name: 'Renamed' });
    await receiver.waitFor(() => receiver.at(endpoint.path).length === 2);
    await eventually(async () => {
      const page = await messages(program, endpoint, '?status=delivered');
      return page.data.length === 2 ? true : undefined;
    });
    const classic = await messages(program, endpoint);
    expect(classic.pagination).toMatchObject({ page: 1, total: 2 });
    expect(classic.data.map((m: { eventType: string }) => m.eventType)).toEqual([
      'partner.updated',
      'partner.created',
    ]);
    expect(classic.data[1].payload.data.id).toBe(partner.id);
    expect((await messages(program, endpoint, '?eventType=partner.created')).data).toHaveLength(1);
    expect((await messages(program, endpoint, '?status=failed')).data).toHaveLength(0);
    expect((await messages(program, endpoint, '?from=2000-01-01&to=2000-01-02')).data).toHaveLength(0);
    const first = await messages(
      program,
      endpoint,
      `?limit=1&cursor=${Buffer.from(`v1:${classic.data[0].id}`).toString('base64url')}`,
    );
    expect(first.data.map((m: { id: string }) => m.id)).toEqual([classic.data[1].id]);
    const bad = await program.get(`/webhook-endpoints/${endpoint.id}/messages?status=lost`);
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('validation_error');
  });
});

describe('secret rotation', () => {
  it('signs with both secrets for 24 h; each verifies on its own', async () => {
    const program = await startProgram(server);
    const endpoint = await subscribe(program);
    const rotated = await program.post(`/webhook-endpoints/${endpoint.id}/rotate-secret`);
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    const newSecret = rotated.body.data.secret as string;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(endpoint.secret);
    const shown = await program.get(`/webhook-endpoints/${endpoint.id}/secret`);
    expect(shown.body.data.secret).toBe(newSecret);
    expect(new Date(shown.body.data.previousSecretExpiresAt).getTime()).toBeGreaterThan(
      Date.now() + 23 * 3_600_000,
    );

    const test = await program.post(`/webhook-endpoints/${endpoint.id}/test`);
    expect(test.body.data.status).toBe('delivered');
    const delivery = receiver.at(endpoint.path)[0] as ReceivedWebhook;
    expect(delivery.signature.split(' ')).toHaveLength(2);
    expect(verify(newSecret, delivery)).toMatchObject({ type: 'webhook.test' });
    expect(verify(endpoint.secret, delivery)).toMatchObject({ type: 'webhook.test' });
    expect(() => verify(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, delivery)).toThrow();
  });
});

describe('metrics', () => {
  it('/metrics shows the webhook queue depth', async () => {
    const response = await fetch(`${server.url}/metrics`);
    const text = await response.text();
    expect(text).toMatch(/^partnerline_webhook_queue_depth\{queue="outbox"\} \d+$/m);
    expect(text).toMatch(/^partnerline_webhook_queue_depth\{queue="due"\} \d+$/m);
    expect(text).toMatch(/^partnerline_webhook_attempts_total\{result="delivered"\} [1-9]\d*$/m);
  });
});

describe('admin key', () => {
  it('works on a tenant URL too', async () => {
    const program = await startProgram(server);
    const response = await call(server, 'GET', `/api/t/${program.tenant.slug}/v1/webhook-event-types`, {
      key: ADMIN_KEY,
    });
    expect(response.status).toBe(200);
  });
});

describe('retention (WEBHOOK_RETENTION, 30 days)', () => {
  it('deletes delivered and failed messages and their attempts once old enough; pending ones stay', async () => {
    const program = await startProgram(server);
    const [ok, broken, later] = [
      await subscribe(program),
      await subscribe(program),
      await subscribe(program),
    ];
    replies.set(broken.path, () => ({ status: 500 }));
    replies.set(later.path, () => ({ status: 503, headers: { 'retry-after': '3600' } }));
    await program.partner();
    const byEndpoint = await eventually(async () => {
      const [delivered, failed, pending] = await Promise.all([
        messages(program, ok, '?status=delivered'),
        messages(program, broken, '?status=failed'),
        messages(program, later, '?status=pending'),
      ]);
      const done = pending.data[0]?.attempts === 1;
      return delivered.data.length === 1 && failed.data.length === 1 && done
        ? [delivered.data[0].id, failed.data[0].id, pending.data[0].id]
        : undefined;
    });
    const attempts = async (id: string) =>
      Number(
        (
          await sql<{
            n: number;
          }>`select count(*)::int as n from webhook_attempts where message_id = ${id}`.execute(
            server.services.db,
          )
        ).rows[0]?.n,
      );
    expect(await attempts(byEndpoint[1] as string)).toBe(3);

    // The job as the server runs it: nothing is old enough yet.
    await webhookRetentionJob(server.services).run();
    for (const id of byEndpoint) expect((await program.get(`/webhook-messages/${id}`)).status).toBe(200);

    const retention = server.services.config.webhooks.retentionMs;
    expect(retention).toBe(30 * 86_400_000);
    await pruneWebhookMessages(server.services.db, new Date(Date.now() + retention + 60_000), retention);
    const [delivered, failed, pending] = byEndpoint as [string, string, string];
    expect((await program.get(`/webhook-messages/${delivered}`)).status).toBe(404);
    expect((await program.get(`/webhook-messages/${failed}`)).status).toBe(404);
    expect(await attempts(failed)).toBe(0);
    expect((await program.get(`/webhook-messages/${pending}`)).body.data.status).toBe('pending');
    expect(await attempts(pending)).toBe(1);
  });
});

describe('answers that take long (WEBHOOK_TIMEOUT=1s)', () => {
  let slow: TestServer;
  beforeAll(async () => {
    slow = await startServer({
      env: {
        WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
        WEBHOOK_TIMEOUT: '1s',
        WEBHOOK_RETRY_SCHEDULE: '100ms',
        WEBHOOK_POLL_INTERVAL_MS: '50',
        LOG_LEVEL: 'error',
      },
    });
  });
  afterAll(() => slow?.close());

  it('a 2xx whose body is still arriving at the timeout is delivered, with what came of the body', async () => {
    const program = await startProgram(slow);
    const endpoint = await subscribe(program);
    replies.set(endpoint.path, () => ({ status: 200, body: 'accepted, more to come', hold: true }));
    const response = await program.post(`/webhook-endpoints/${endpoint.id}/test`);
    expect(response.body.data).toMatchObject({
      status: 'delivered',
      responseStatus: 200,
      responseBody: 'accepted, more to come',
      error: null,
    });
    // Counted in /metrics like the dispatcher's own attempts.
    const metrics = await call(slow, 'GET', '/metrics');
    expect(String(metrics.body)).toMatch(/partnerline_webhook_attempts_total\{result="delivered"\} [1-9]/);
  });

  it('a test send that fails after a slow answer is dated, and retried, from when the answer came', async () => {
    const program = await startProgram(slow);
    const endpoint = await subscribe(program);
    const arrivals: number[] = [];
    replies.set(endpoint.path, (_r, n) => {
      arrivals.push(Date.now());
      // The retry answers slowly too: the message keeps its nextAttemptAt until the answer comes.
      return n === 1 ? { status: 503, body: 'busy', delayMs: 500 } : { status: 200, delayMs: 500 };
    });
    const test = await program.post(`/webhook-endpoints/${endpoint.id}/test`);
    expect(test.body.data).toMatchObject({ status: 'failed', responseStatus: 503 });
    const message = (await program.get(`/webhook-messages/${test.body.data.messageId}`)).body.data;
    const [stored] = (await program.get(`/webhook-messages/${message.id}/attempts`)).body.data;
    expect(stored.createdAt).toBe(test.body.data.createdAt);
    const ended = new Date(stored.createdAt).getTime();
    const sent = arrivals[0] as number;
    expect(ended).toBeGreaterThanOrEqual(sent + 490);
    // WEBHOOK_RETRY_SCHEDULE=100ms, ±10 %, from the end of the attempt.
    const retryIn = new Date(message.nextAttemptAt).getTime() - ended;
    expect(retryIn).toBeGreaterThanOrEqual(90);
    expect(retryIn).toBeLessThanOrEqual(110);
    await receiver.waitFor(() => receiver.at(endpoint.path).length === 2);
    expect((arrivals[1] as number) - sent).toBeGreaterThanOrEqual(490 + 90);
    await eventually(async () => {
      const retried = await program.get(`/webhook-messages/${message.id}`);
      return retried.body.data.status === 'delivered' ? true : undefined;
    });
  });

  it('an endpoint disabled while an attempt runs: the message still records the attempt and its outcome', async () => {
    const program = await startProgram(slow);
    const endpoint = await subscribe(program, { eventTypes: ['partner.created'] });
    replies.set(endpoint.path, () => ({ status: 200, body: 'ok', delayMs: 500 }));
    const before = (await program.get(`/webhook-endpoints/${endpoint.id}`)).headers.get('etag');
    await program.partner();
    await receiver.waitFor(() => receiver.at(endpoint.path).length === 1);
    expect((await program.patch(`/webhook-endpoints/${endpoint.id}`, { enabled: false })).status).toBe(200);
    const message = await eventually(async () => {
      const page = await messages(program, endpoint);
      return page.data[0]?.status === 'delivered' ? page.data[0] : undefined;
    });
    expect(message).toMatchObject({ attempts: 1, deliveredAt: expect.any(String) });
    const log = await program.get(`/webhook-messages/${message.id}/attempts`);
    expect(log.body.data.map((a: { attempt: number; status: string }) => [a.attempt, a.status])).toEqual([
      [1, 'delivered'],
    ]);
    // A resend of it is numbered on from there.
    expect((await program.patch(`/webhook-endpoints/${endpoint.id}`, { enabled: true })).status).toBe(200);
    expect((await program.post(`/webhook-messages/${message.id}/retry`)).status).toBe(202);
    await receiver.waitFor(() => receiver.at(endpoint.path).length === 2);
    const resent = await eventually(async () => {
      const attempts = (await program.get(`/webhook-messages/${message.id}/attempts`)).body.data;
      return attempts.length === 2 ? attempts : undefined;
    });
    expect(resent.map((a: { attempt: number }) => a.attempt)).toEqual([2, 1]);
    expect((await program.get(`/webhook-endpoints/${endpoint.id}`)).headers.get('etag')).not.toBe(before);
  });

  it('the failing state the dispatcher records changes the endpoint ETag', async () => {
    const program = await startProgram(slow);
    const endpoint = await subscribe(program, { eventTypes: ['partner.created'] });
    replies.set(endpoint.path, () => ({ status: 500 }));
    const first = await program.get(`/webhook-endpoints/${endpoint.id}`);
    expect(first.body.data.failingSince).toBeNull();
    await program.partner();
    const failing = await eventually(async () => {
      const current = await program.get(`/webhook-endpoints/${endpoint.id}`);
      return current.body.data.failingSince ? current : undefined;
    });
    expect(failing.headers.get('etag')).not.toBe(first.headers.get('etag'));
    replies.set(endpoint.path, () => ({ status: 200 }));
    await program.post(`/webhook-endpoints/${endpoint.id}/recover`, { since: '2020-01-01T00:00:00Z' });
    const recovered = await eventually(async () => {
      const current = await program.get(`/webhook-endpoints/${endpoint.id}`);
      return current.body.data.failingSince === null ? current : undefined;
    });
    expect(recovered.headers.get('etag')).not.toBe(failing.headers.get('etag'));
  });
});

describe('a receiver that never closes an idle connection', () => {
  it('has it closed by the sender 15 s after the last delivery on it', { timeout: 40_000 }, async () => {
    // keepAliveTimeout 0: the receiver keeps every idle connection open for good.
    const holder = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(204).end());
    });
    holder.keepAliveTimeout = 0;
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const open = () =>
      new Promise<number>((resolve, reject) =>
        holder.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      );
    try {
      const program = await startProgram(server);
      const port = (holder.address() as AddressInfo).port;
      const created = await program.post('/webhook-endpoints', {
        url: `http://127.0.0.1:${port}/hold`,
        eventTypes: ['*'],
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const test = await program.post(`/webhook-endpoints/${created.body.data.id}/test`);
      expect(test.body.data.status).toBe('delivered');
      expect(await open()).toBe(1);
      await sleep(10_000);
      // Kept for reuse a while,
      expect(await open()).toBe(1);
      await sleep(7_000);
      // then closed.
      expect(await open()).toBe(0);
    } finally {
      holder.closeAllConnections();
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
