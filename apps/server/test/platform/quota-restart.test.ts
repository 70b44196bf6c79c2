import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  asTarget,
  PRINTED_KEY,
  type ServerProcess,
  startServerProcess,
  tempDir,
} from '../helpers/child-process.ts';
import { call } from '../helpers/http.ts';

// The real `npm start` entry point without REDIS_URL, on PGlite in DATA_DIR in both test modes:
// the single-process setup, where quota counters live in the process's memory.
vi.setConfig({ testTimeout: 120_000 });

let dataDir: Awaited<ReturnType<typeof tempDir>>;
let server: ServerProcess | undefined;

beforeAll(async () => {
  dataDir = await tempDir('partnerline-quota-restart');
});
afterAll(async () => {
  if (server) await server.stop();
  await dataDir.remove();
});

async function restart(): Promise<ServerProcess> {
  if (server) expect((await server.stop()).code).toBe(0);
  server = await startServerProcess({ DATA_DIR: dataDir.path });
  return server;
}

describe('quotas kept in memory (no Redis)', () => {
  let adminKey: string;
  let monthly: string;
  let daily: string;

  it('are spent in one run', async () => {
    const first = await restart();
    adminKey = (first.stdout().match(PRINTED_KEY) as RegExpMatchArray)[0];
    const create = async (name: string, quota: object) => {
      const created = await call(asTarget(first), 'POST', '/api/v1/api-keys', {
        key: adminKey,
        body: { name, scopes: ['read'], quota },
      });
      expect(created.status).toBe(201);
      return created.body.data.key as string;
    };
    monthly = await create('monthly', { limit: 3, period: 'month' });
    daily = await create('daily', { limit: 5, period: 'day' });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await call(asTarget(first), 'GET', '/api/v1/me', { key: monthly })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    // An allowed request that fails later still took from the quota; a 404 is one.
    expect((await call(asTarget(first), 'GET', '/api/v1/me', { key: daily })).status).toBe(200);
    expect((await call(asTarget(first), 'GET', '/api/v1/partners/prt_missing', { key: daily })).status).toBe(
      404,
    );
  });

  it('stay spent after a restart: counted again from the usage the last run stored', async () => {
    const second = await restart();
    const spent = await call(asTarget(second), 'GET', '/api/v1/me', { key: monthly });
    expect(spent.status).toBe(429);
    expect(spent.body.code).toBe('quota_exceeded');
    expect(spent.headers.get('x-quota-remaining')).toBe('0');
    // Two of five taken before the restart: three left, the last one shown as 0 remaining.
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await call(asTarget(second), 'GET', '/api/v1/me', { key: daily });
      remaining.push(
        response.status === 200 ? response.headers.get('x-quota-remaining') : String(response.status),
      );
    }
    expect(remaining).toEqual(['2', '1', '0', '429']);
  });

  it('a key whose quota was never used starts at its full limit', async () => {
    const third = await restart();
    const fresh = await call(asTarget(third), 'POST', '/api/v1/api-keys', {
      key: adminKey,
      body: { name: 'fresh', scopes: ['read'], quota: { limit: 2, period: 'day' } },
    });
    const response = await call(asTarget(third), 'GET', '/api/v1/me', { key: fresh.body.data.key });
    expect(response.headers.get('x-quota-remaining')).toBe('1');
  });

  it('counts after a restart only the requests that took from the quota, not those refused before it', async () => {
    let current = await restart();
    const created = await call(asTarget(current), 'POST', '/api/v1/api-keys', {
      key: adminKey,
      body: {
        name: 'elsewhere',
        scopes: ['read'],
        quota: { limit: 10, period: 'day' },
        allowedIps: ['10.1.2.3'],
      },
    });
    const { id, key } = created.body.data;
    for (let i = 0; i < 3; i++) {
      const refused = await call(asTarget(current), 'GET', '/api/v1/me', { key });
      expect(refused.body.code).toBe('ip_not_allowed');
    }
    const patched = await call(asTarget(current), 'PATCH', `/api/v1/api-keys/${id}`, {
      key: adminKey,
      body: { allowedIps: null },
    });
    expect(patched.status).toBe(200);
    const remaining = [];
    for (let i = 0; i < 2; i++) {
      const response = await call(asTarget(current), 'GET', '/api/v1/me', { key });
      remaining.push(response.headers.get('x-quota-remaining'));
    }
    expect(remaining).toEqual(['9', '8']);
    current = await restart();
    const after = await call(asTarget(current), 'GET', '/api/v1/me', { key });
    expect(after.headers.get('x-quota-remaining')).toBe('7');
  });
});
