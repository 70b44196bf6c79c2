import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusedAddressReason } from '../../../src/platform/webhooks/address-policy.ts';
import {
  type LoggedServer,
  logged,
  startLoggedServer,
  startServer,
  type TestServer,
} from '../../helpers/server.ts';
import { WebhookReceiver } from '../../helpers/webhook-receiver.ts';
import { type Program, startProgram } from '../../modules/events/program.ts';

describe.each([
  ['127.0.0.1', 'loopback'],
  ['127.255.0.9', 'loopback'],
  ['10.0.0.1', 'private'],
  ['172.16.5.4', 'private'],
  ['192.168.1.1', 'private'],
  ['169.254.169.254', 'link-local (cloud metadata)'],
  ['100.64.0.1', 'shared CGNAT'],
  ['100.100.100.200', 'shared CGNAT'],
  ['0.0.0.0', 'unspecified ("this network")'],
  ['224.0.0.251', 'multicast'],
  ['255.255.255.255', 'broadcast'],
  ['168.63.129.16', 'cloud metadata (Azure)'],
  ['::1', 'loopback'],
  ['::', 'unspecified'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:a9fe:a9fe', 'link-local (cloud metadata)'],
  ['::ffff:10.1.2.3', 'private'],
  ['64:ff9b::7f00:1', 'loopback'],
  ['2002:c0a8:101::1', 'private'],
  ['::ffff:0:7f00:1', 'loopback'],
  ['::ffff:0:a00:1', 'private'],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'reserved (IETF protocol assignment)'],
  ['2001:1ff:ffff::1', 'reserved (IETF protocol assignment)'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['fc00::1', 'private (unique local)'],
  ['fd00:ec2::254', 'private (unique local)'],
  ['ff02::1', 'multicast'],
])('the address %s', (address, reason) => {
  it(`is refused as ${reason}`, () => {
    expect(refusedAddressReason(address)).toBe(reason);
  });
});

describe.each([
  '93.184.216.34',
  '1.1.1.1',
  '2606:4700:4700::1111',
  '::ffff:8.8.8.8',
  '::ffff:0:808:808',
  '2a00:1450:4001::200e',
  '2001:200::1',
])('the public address %s', (address) => {
  it('is allowed', () => {
    expect(refusedAddressReason(address)).toBeUndefined();
  });
});

/**
 * Creates a valid endpoint, then stores `url` for it behind the API's back (as if it had been set
 * under other settings, or DNS had changed), and sends a test message: the attempt it answers with.
 */
async function testSendTo(server: TestServer, program: Program, url: string) {
  const created = await program.post('/webhook-endpoints', {
    url: 'https://hooks.example.com/x',
    eventTypes: ['*'],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.data.id as string;
  await server.services.db.updateTable('webhookEndpoints').set({ url }).where('id', '=', id).execute();
  const test = await program.post(`/webhook-endpoints/${id}/test`);
  expect(test.status).toBe(200);
  return test.body.data;
}

describe('without WEBHOOK_ALLOW_PRIVATE_TARGETS', () => {
  let server: LoggedServer;
  let receiver: WebhookReceiver;
  let program: Program;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    server = await startLoggedServer({ WEBHOOK_POLL_INTERVAL_MS: '50', WEBHOOK_ALLOW_HTTP: 'false' });
    program = await startProgram(server);
  });

  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  it.each([
    'https://127.0.0.1/hook',
    'https://[::1]/hook',
    'https://10.0.0.7/hook',
    'https://169.254.169.254/latest/meta-data/',
    'https://[::ffff:127.0.0.1]/hook',
    'https://[::ffff:a9fe:a9fe]/hook',
    'https://[::ffff:0:7f00:1]/hook',
    'https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook',
    'https://0x7f.1/hook',
    'https://2130706433/hook',
    'https://0/hook',
    'https://localhost:8443/hook',
    'https://api.localhost/hook',
    'https://100.64.1.1/hook',
    'https://[fe80::1]/hook',
    'https://[fd00:ec2::254]/hook',
    'https://224.0.0.1/hook',
  ])('refuses to create an endpoint for %s (400)', async (url) => {
    const response = await program.post('/webhook-endpoints', { url, eventTypes: ['*'] });
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors[0]).toMatchObject({ field: 'url', code: 'forbidden_target' });
  });

  it('requires https when plain http is not allowed', async () => {
    const response = await program.post('/webhook-endpoints', {
      url: 'http://hooks.example.com/x',
      eventTypes: ['*'],
    });
    expect(response.status).toBe(400);
    expect(response.body.errors[0]).toMatchObject({ field: 'url', code: 'https_required' });
  });

  it('does not send to a plain http endpoint stored while http was allowed', async () => {
    const attempt = await testSendTo(server, program, `${receiver.url}/plain`);
    expect(attempt).toMatchObject({ status: 'failed', responseStatus: null });
    expect(attempt.error).toMatch(/^refused: plain http:\/\/ endpoints are not allowed/);
    expect(receiver.received).toHaveLength(0);
  });

  it('refuses at delivery time a host that now resolves to loopback, and records why', async () => {
    // As if DNS had been rebound: the stored URL now points at the loopback receiver.
    const attempt = await testSendTo(server, program, `${receiver.url.replace(/^http:/, 'https:')}/stolen`);
    expect(attempt).toMatchObject({ status: 'failed', responseStatus: null, responseBody: null });
    expect(attempt.error).toMatch(/^refused: 127\.0\.0\.1 is a loopback address/);
    const attempts = await program.get(`/webhook-messages/${attempt.messageId}/attempts`);
    expect(attempts.body.data[0].error).toBe(attempt.error);
    expect(receiver.received).toHaveLength(0);
  });

  it('does not tell the tenant which non-public address a host name resolves to; the server log does', async (ctx) => {
    // The machine's own name resolves to a loopback or private address wherever the suite runs;
    // `localhost` is refused by its name alone, before it is resolved.
    const name = hostname().toLowerCase();
    const addresses = (await lookup(name, { all: true }).catch(() => [])).map((a) => a.address);
    ctx.skip(
      addresses.length === 0 || addresses.some((address) => refusedAddressReason(address) === undefined),
      `${name} does not resolve to non-public addresses only`,
    );
    const port = new URL(receiver.url).port;
    const attempt = await testSendTo(server, program, `https://hook:pw-in-url@${name}:${port}/internal`);
    expect(attempt).toMatchObject({ status: 'failed', responseStatus: null });
    expect(attempt.error).toBe(
      `refused: ${name} does not resolve to a public address; webhooks may only reach public addresses (WEBHOOK_ALLOW_PRIVATE_TARGETS)`,
    );
    const attempts = await program.get(`/webhook-messages/${attempt.messageId}/attempts`);
    for (const address of addresses) expect(JSON.stringify(attempts.body)).not.toContain(address);
    // The dispatcher's retries of the message, if any came yet, are logged alike.
    const line = (logged(server, 'webhook delivery refused') as unknown as Record<string, unknown>[]).find(
      (entry) => entry.endpointId === attempt.endpointId,
    );
    expect(line).toMatchObject({
      level: 40,
      tenantId: program.tenant.id,
      endpointId: attempt.endpointId,
      hostname: name,
      address: expect.any(String),
      category: refusedAddressReason(String(line?.address)),
    });
    expect(addresses).toContain(line?.address);
    expect(JSON.stringify(line)).not.toContain('pw-in-url');
    expect(receiver.received).toHaveLength(0);
  });

  it('tells the tenant the same of a host name that does not resolve at all; the server log says why', async () => {
    // `.invalid` never resolves (RFC 6761): were its answer different from that of a name that
    // resolves to a refused address, a tenant could probe which internal names exist.
    const name = 'no-such-host.partnerline.invalid';
    const attempt = await testSendTo(server, program, `https://${name}/hook`);
    expect(attempt).toMatchObject({ status: 'failed', responseStatus: null, responseBody: null });
    expect(attempt.error).toBe(
      `refused: ${name} does not resolve to a public address; webhooks may only reach public addresses (WEBHOOK_ALLOW_PRIVATE_TARGETS)`,
    );
    const line = (logged(server, 'webhook delivery refused') as unknown as Record<string, unknown>[]).find(
      (entry) => entry.endpointId === attempt.endpointId,
    );
    expect(line).toMatchObject({ level: 40, tenantId: program.tenant.id, hostname: name, address: null });
    expect(line?.category).toMatch(/^did not resolve \([A-Z_]+\)$/);
  });
});

describe('a user name or password in the URL that is not valid percent-encoding', () => {
  let server: TestServer;
  let program: Program;
  const url = 'https://us%E0er:pw@93.184.215.14/hook';

  beforeAll(async () => {
    server = await startServer();
    program = await startProgram(server);
  });
  afterAll(() => server?.close());

  it('is refused when the endpoint is created (400)', async () => {
    const response = await program.post('/webhook-endpoints', { url, eventTypes: ['*'] });
    expect(response.status).toBe(400);
    expect(response.body.errors[0]).toMatchObject({ field: 'url', code: 'invalid_format' });
  });

  it('stored earlier, fails each attempt with its reason instead of crashing the delivery', async () => {
    expect(await testSendTo(server, program, url)).toMatchObject({
      status: 'failed',
      error: 'invalid URL: its user name or password is not valid percent-encoding',
    });
  });
});

describe('with WEBHOOK_ALLOW_PRIVATE_TARGETS', () => {
  let server: TestServer;
  let program: Program;

  beforeAll(async () => {
    server = await startServer({
      env: { WEBHOOK_POLL_INTERVAL_MS: '50', WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' },
    });
    program = await startProgram(server);
  });
  afterAll(() => server?.close());

  it('tells the tenant that a host name did not resolve, since every address may be reached', async () => {
    const attempt = await testSendTo(server, program, 'https://no-such-host.partnerline.invalid/hook');
    expect(attempt.status).toBe('failed');
    expect(attempt.error).toMatch(/^dns: no-such-host\.partnerline\.invalid did not resolve \([A-Z_]+\)$/);
  });
});
