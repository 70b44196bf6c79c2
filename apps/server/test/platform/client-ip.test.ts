import { type AddressInfo, connect, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { childDatabase, PRINTED_KEY, startServerProcess } from '../helpers/child-process.ts';
import { type ApiResponse, call, createTenant, type TestTenant } from '../helpers/http.ts';
import {
  type LoggedServer,
  logged,
  startLoggedServer,
  startServer,
  TestClock,
  type TestServer,
} from '../helpers/server.ts';

// The server-log test runs the real `npm start` entry point.
vi.setConfig({ testTimeout: 120_000 });

/** Whether this machine has dual-stack sockets: a listener on `::` that IPv4 clients reach. */
async function hasDualStack(): Promise<boolean> {
  const listener = createServer((socket) => socket.destroy());
  const listening = await new Promise<boolean>((resolve) => {
    listener.once('error', () => resolve(false));
    listener.listen(0, '::', () => resolve(true));
  });
  if (!listening) return false;
  const { port } = listener.address() as AddressInfo;
  const reached = await new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  await new Promise((resolve) => listener.close(resolve));
  return reached;
}

const DUAL_STACK = await hasDualStack();

/** Where the server says one request came from: its audit entries, request log and key. */
async function recorded(server: TestServer, tenant: TestTenant, headers: Record<string, string> = {}) {
  const created = await call(server, 'POST', '/api/v1/api-keys', {
    key: tenant.key,
    headers,
    body: { name: 'located', scopes: ['read'] },
  });
  expect(created.status).toBe(201);
  const { id, key } = created.body.data;
  const audit = await call(server, 'GET', `/api/v1/audit-log?resourceId=${id}`, { key: tenant.key });
  const used = await call(server, 'GET', '/api/v1/partners', { key, headers });
  expect(used.status).toBe(200);
  await server.services.requestRecorder.flush();
  await server.services.keyUsage.flush();
  const logged = await call(server, 'GET', `/api/v1/request-logs?requestId=${requestId(used)}`, {
    key: tenant.key,
  });
  const record = await call(server, 'GET', `/api/v1/api-keys/${id}`, { key: tenant.key });
  return {
    auditIps: audit.body.data.map((entry: { ip: string }) => entry.ip),
    requestLogIps: logged.body.data.map((entry: { ip: string }) => entry.ip),
    lastUsedIp: record.body.data.lastUsedIp,
  };
}

const requestId = (response: ApiResponse) => response.headers.get('x-request-id') ?? '';

describe.skipIf(!DUAL_STACK)('listening on :: (HOST=::), a client of 127.0.0.1', () => {
  const clock = new TestClock(new Date('2026-05-01T12:00:00.000Z'));
  let server: LoggedServer;
  let tenant: TestTenant;
  beforeAll(async () => {
    server = await startLoggedServer({ AUTH_FAILURE_LIMIT: '2' }, { clock, host: '::' });
    tenant = await createTenant(server);
  });
  afterAll(() => server.close());

  it('is 127.0.0.1 in the audit log, the request log and the key’s lastUsedIp', async () => {
    expect(await recorded(server, tenant)).toEqual({
      auditIps: ['127.0.0.1'],
      requestLogIps: ['127.0.0.1'],
      lastUsedIp: '127.0.0.1',
    });
  });

  it('is 127.0.0.1 to a key’s allow-list and in its refusal', async () => {
    const allowed = await call(server, 'POST', '/api/v1/api-keys', {
      key: tenant.key,
      body: { name: 'loopback only', scopes: ['read'], allowedIps: ['127.0.0.1'] },
    });
    expect((await call(server, 'GET', '/api/v1/me', { key: allowed.body.data.key })).status).toBe(200);
    const elsewhere = await call(server, 'POST', '/api/v1/api-keys', {
      key: tenant.key,
      body: { name: 'office only', scopes: ['read'], allowedIps: ['10.0.0.0/8'] },
    });
    const refused = await call(server, 'GET', '/api/v1/me', { key: elsewhere.body.data.key });
    expect(refused.body.code).toBe('ip_not_allowed');
    expect(refused.body.detail).toBe('This API key may not be used from 127.0.0.1');
  });

  it('is 127.0.0.1 where failed authentications are counted and logged', async () => {
    const unknownKey = `${tenant.key.slice(0, -6)}AAAAAA`;
    for (let i = 0; i < 2; i++) {
      expect((await call(server, 'GET', '/api/v1/me', { key: unknownKey })).status).toBe(401);
    }
    const [line] = logged(server, 'too many failed authentications');
    expect(line).toMatchObject({ ip: '127.0.0.1', failures: 2 });
    // The window ends for the tests after this one.
    clock.advance(60_000);
  });
});

describe('behind a trusted proxy that forwards ::ffff:198.51.100.7', () => {
  let server: TestServer;
  let tenant: TestTenant;
  beforeAll(async () => {
    server = await startServer({ env: { TRUST_PROXY: 'true' } });
    tenant = await createTenant(server);
  });
  afterAll(() => server.close());

  it('is 198.51.100.7 in the audit log, the request log and the key’s lastUsedIp', async () => {
    expect(await recorded(server, tenant, { 'x-forwarded-for': '::ffff:198.51.100.7' })).toEqual({
      auditIps: ['198.51.100.7'],
      requestLogIps: ['198.51.100.7'],
      lastUsedIp: '198.51.100.7',
    });
  });
});

describe.skipIf(!DUAL_STACK)('the server log of `npm start` with HOST=::', () => {
  let database: Awaited<ReturnType<typeof childDatabase>>;
  beforeAll(async () => {
    database = await childDatabase('partnerline-client-ip');
  });
  afterAll(() => database.remove());

  it('names the client 127.0.0.1', async () => {
    const running = await startServerProcess({ ...database.env, HOST: '::' });
    const key = running.stdout().match(PRINTED_KEY)?.[0];
    expect(key).toBeDefined();
    const before = running.stdout().length;
    const response = await call({ url: running.url } as TestServer, 'GET', '/api/v1/partners', { key });
    expect(response.status).toBe(200);
    const stopped = await running.stop();
    expect(stopped.code).toBe(0);
    const lines = running
      .stdout()
      .slice(before)
      .split('\n')
      .filter((line) => line.includes(`"reqId":"${requestId(response)}"`))
      .map((line) => JSON.parse(line));
    const incoming = lines.find((line) => line.msg === 'incoming request');
    expect(incoming?.req.remoteAddress).toBe('127.0.0.1');
  });
});
