import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/platform/config.ts';
import { call, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

describe('TRUST_PROXY values', () => {
  it.each([
    [undefined, false],
    ['false', false],
    ['0', false],
    ['true', true],
    ['1', 1],
    ['2', 2],
    ['10.0.0.1', '10.0.0.1'],
    ['10.0.0.0/8, 192.168.0.0/16', '10.0.0.0/8,192.168.0.0/16'],
    ['loopback,fd00::/8', 'loopback,fd00::/8'],
  ])('%s is %j', (raw, expected) => {
    const env = raw === undefined ? {} : { TRUST_PROXY: raw };
    expect(loadConfig(env).trustProxy).toEqual(expected);
  });

  it.each(['yes', '-1', '999', '10.0.0.1/33', '10.0.0.300', 'fd00::/129', 'proxy.internal', '10.0.0.1,'])(
    '%s stops the start with a line naming TRUST_PROXY',
    (raw) => {
      expect(() => loadConfig({ TRUST_PROXY: raw })).toThrow(ConfigError);
      expect(() => loadConfig({ TRUST_PROXY: raw })).toThrow(/^TRUST_PROXY must be/);
    },
  );
});

/**
 * A key that may only be used from 203.0.113.7, called through proxies that append to
 * X-Forwarded-For: the address the client wrote into the header itself must not count.
 */
describe.each([
  ['1', 'one hop'],
  ['127.0.0.1', 'the proxy address'],
])('TRUST_PROXY=%s (%s)', (trust) => {
  let server: TestServer;
  let tenant: TestTenant;
  let limited: string;

  beforeAll(async () => {
    server = await startServer({ env: { TRUST_PROXY: trust } });
    tenant = await createTenant(server);
    const created = await call(server, 'POST', '/api/v1/api-keys', {
      key: tenant.key,
      body: { name: 'office only', scopes: ['read'], allowedIps: ['203.0.113.7'] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    limited = created.body.data.key;
  });
  afterAll(() => server.close());

  const me = (forwardedFor: string) =>
    call(server, 'GET', '/api/v1/me', { key: limited, headers: { 'x-forwarded-for': forwardedFor } });

  it('takes the address the proxy saw', async () => {
    expect((await me('203.0.113.7')).status).toBe(200);
    // The client claimed another address; the proxy appended the real one.
    expect((await me('198.51.100.1, 203.0.113.7')).status).toBe(200);
  });

  it('takes a forwarded value that is not an address as the peer’s own address', async () => {
    for (const forwarded of ['garbage', `<script>${'x'.repeat(6000)}`, '203.0.113.7:443']) {
      const response = await me(forwarded);
      expect(response.status).toBe(403);
      expect(response.body.detail).toContain('127.0.0.1');
      expect(response.body.detail).not.toContain('garbage');
    }
  });

  it('ignores an address the client wrote into X-Forwarded-For', async () => {
    const response = await me('203.0.113.7, 198.51.100.1');
    expect(response.status).toBe(403);
    expect(response.body.code).toBe('ip_not_allowed');
    expect(response.body.detail).toContain('198.51.100.1');
  });
});
