import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateKey } from '../../src/platform/auth/key-format.ts';
import { newId } from '../../src/platform/ids.ts';
import { PRINTED_KEY, type ServerProcess, startServerProcess, tempDir } from '../helpers/child-process.ts';
import { type ApiResponse, call, createTenant, type TestTenant } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, type TestServer } from '../helpers/server.ts';

// The server-log test runs the real `npm start` entry point, on PGlite in both test modes.
vi.setConfig({ testTimeout: 120_000 });

/** Every character of `text` percent-encoded, as a client may send a path. */
const encodeAll = (text: string) =>
  [...text].map((char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`).join('');

/** The secret part of a key: what must never be written out again. */
const secretOf = (key: string) => key.slice(-36);

/**
 * A key of the same shape with a prefix this server does not issue: one issued before KEY_PREFIX
 * changed, or by another deployment. Still a secret, wherever it shows up.
 */
const foreignKey = (prefix: string, environment: 'live' | 'test') =>
  generateKey(prefix, environment, newId('key').slice(4));

let server: TestServer;
let tenant: TestTenant;
beforeAll(async () => {
  server = await startServer();
  tenant = await createTenant(server);
});
afterAll(() => server.close());

/** The request-log row stored for the request that got `response`. */
async function loggedRow(response: ApiResponse): Promise<{ path: string; userAgent: string | null }> {
  await server.services.requestRecorder.flush();
  const requestId = response.headers.get('x-request-id');
  const logged = await call(server, 'GET', `/api/v1/request-logs?requestId=${requestId}`, {
    key: tenant.key,
  });
  expect(logged.body.data).toHaveLength(1);
  return logged.body.data[0];
}

/** The path the request log stored for the request that got `response`. */
async function loggedPath(response: ApiResponse): Promise<string> {
  return (await loggedRow(response)).path;
}

describe('a key the caller put into the request', () => {
  it.each([
    ['a path segment', (key: string) => `/api/v1/partners/${key}`],
    ['a percent-encoded path segment', (key: string) => `/api/v1/partners/${encodeAll(key)}`],
    ['an unknown route', (key: string) => `/api/v1/${key}/partners`],
  ])('in %s is hidden in the problem document', async (_, path) => {
    const response = await call(server, 'GET', path(tenant.key), { key: tenant.key });
    expect(response.status).toBe(404);
    expect(JSON.stringify(response.body)).not.toContain(secretOf(tenant.key));
  });

  it('is named as hidden where the problem quotes it', async () => {
    const response = await call(server, 'GET', `/api/v1/${tenant.key}/partners`, { key: tenant.key });
    expect(response.body.detail).toBe('No route GET /api/v1/[redacted-key]/partners');
  });

  it('the admin key in a path is hidden too', async () => {
    const response = await call(server, 'GET', `/api/v1/partners/${ADMIN_KEY}/x`, { key: tenant.key });
    expect(response.status).toBe(404);
    expect(JSON.stringify(response.body)).not.toContain(ADMIN_KEY);
  });

  it('percent-encoded in the path is hidden in the request log', async () => {
    const response = await call(server, 'GET', `/api/v1/partners/${encodeAll(tenant.key)}`, {
      key: tenant.key,
    });
    expect(await loggedPath(response)).toBe('/api/v1/partners/[redacted-key]');
  });

  it.each([
    ['a tenant key', () => tenant.key],
    ['the admin key', () => ADMIN_KEY],
  ])('%s with only some of its characters percent-encoded is hidden whole', async (_, secret) => {
    // Every third character escaped, the others as they are.
    const sent = [...secret()].map((char, at) => (at % 3 === 1 ? encodeAll(char) : char)).join('');
    const response = await call(server, 'GET', `/api/v1/${sent}/partners`, { key: tenant.key });
    expect(response.status).toBe(404);
    expect(response.body.detail).toBe('No route GET /api/v1/[redacted-key]/partners');
    expect(await loggedPath(response)).toBe('/api/v1/[redacted-key]/partners');
  });

  it.each([
    ['another prefix', () => foreignKey('xyz', 'live')],
    ['a prefix of digits after its letter', () => foreignKey('a1b2c3', 'test')],
    ['the longest prefix', () => foreignKey('abcdefghijkl', 'live')],
  ])('a key with %s is hidden in the path and the User-Agent of the request log', async (_, make) => {
    const key = make();
    expect(key.startsWith('plk_')).toBe(false);
    for (const path of [`/api/v1/partners/${key}`, `/api/v1/partners/${encodeAll(key)}`]) {
      const response = await call(server, 'GET', path, {
        key: tenant.key,
        headers: { 'user-agent': `crm-sync/1.4 (${key})` },
      });
      expect(response.status).toBe(404);
      expect(JSON.stringify(response.body)).not.toContain(secretOf(key));
      const row = await loggedRow(response);
      expect(row.path).toBe('/api/v1/partners/[redacted-key]');
      expect(row.userAgent).toBe('crm-sync/1.4 ([redacted-key])');
    }
  });

  it('an ordinary percent-encoded path is logged as it was sent', async () => {
    const response = await call(server, 'GET', '/api/v1/partners/prt%5Fnot%20a%20key', { key: tenant.key });
    expect(await loggedPath(response)).toBe('/api/v1/partners/prt%5Fnot%20a%20key');
  });
});

/** GET `path` with this Host header and key; the answer's request id. */
function requestWithHost(base: string, path: string, host: string, key: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sent = httpRequest(new URL(path, base), { headers: { host, 'x-api-key': key } }, (response) => {
      response.resume();
      response.on('end', () => resolve(String(response.headers['x-request-id'] ?? '')));
    });
    sent.on('error', reject);
    sent.end();
  });
}

describe('the server log', () => {
  let dataDir: Awaited<ReturnType<typeof tempDir>>;
  let running: ServerProcess | undefined;
  beforeAll(async () => {
    dataDir = await tempDir('partnerline-secret-log');
  });
  afterAll(async () => {
    if (running) await running.stop();
    await dataDir.remove();
  });

  it('never holds a key a caller put into a URL (plain or percent-encoded) or the Host, nor the admin key', async () => {
    const adminKey = 'log-admin-key-0123456789abcdefghijklmnopq';
    running = await startServerProcess({ DATA_DIR: dataDir.path, ADMIN_API_KEY: adminKey });
    const printed = running.stdout().match(PRINTED_KEY);
    expect(printed).not.toBeNull();
    const key = (printed as RegExpMatchArray)[0];
    const target = { url: running.url } as TestServer;
    const before = running.stdout().length;
    const requestIds: string[] = [];
    // Issued under another KEY_PREFIX: no longer valid here, and as secret as ever.
    const foreign = foreignKey('old', 'live');
    for (const path of [
      `/api/v1/partners?apiKey=${key}`,
      `/api/v1/partners/${key}`,
      `/api/v1/partners/${encodeAll(key)}`,
      `/api/t/default/v1/partners/${adminKey}`,
      `/api/t/default/v1/partners/${encodeAll(adminKey)}`,
      `/api/v1/partners/${foreign}`,
      `/api/v1/partners?apiKey=${encodeAll(foreign)}`,
    ]) {
      const response = await call(target, 'GET', path, {
        key,
        headers: { 'user-agent': `crm-sync/1.4 (${foreign})` },
      });
      expect(response.status).toBeLessThan(500);
      requestIds.push(response.headers.get('x-request-id') ?? '');
    }
    // A key (or the admin key) sent as the Host: fetch cannot send that, Node's client can.
    for (const host of [key, adminKey, `${key}.example.com`]) {
      requestIds.push(await requestWithHost(running.url, '/api/v1/me', host, key));
    }
    const stopped = running;
    running = undefined;
    await stopped.stop();
    // Only what the requests made the server write: the key printed at first start comes before.
    const lines = stopped.stdout().slice(before) + stopped.stderr();
    expect(lines).toContain('incoming request');
    // Each request's lines carry its id, as its X-Request-Id answered it.
    for (const requestId of requestIds) {
      const own = lines.split('\n').filter((line) => line.includes(`"reqId":"${requestId}"`));
      expect(own.map((line) => JSON.parse(line).msg)).toEqual(['incoming request', 'request completed']);
    }
    expect(lines).toContain('[redacted-key]');
    expect(lines).not.toContain(secretOf(key));
    expect(lines).not.toContain(adminKey);
    expect(lines).not.toContain(secretOf(foreign));
  });
});
