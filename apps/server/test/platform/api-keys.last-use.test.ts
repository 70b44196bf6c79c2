import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createKey, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../helpers/server.ts';

const clock = new TestClock(new Date('2026-05-01T12:00:00.000Z'));
let server: TestServer;
let tenant: TestTenant;

beforeAll(async () => {
  // TRUST_PROXY lets each request come from an address of its own, through X-Forwarded-For.
  server = await startServer({ clock, env: { TRUST_PROXY: 'true' } });
  // Usage is written only when a test flushes, so no timer races the assertions on the stored key.
  await server.services.keyUsage.stop();
  tenant = await createTenant(server);
});
afterAll(() => server.close());

const flush = () => server.services.keyUsage.flush();

/** A request made with `key` from the client address `from`, at the clock's time. */
async function useKey(key: string, from: string): Promise<void> {
  const response = await call(server, 'GET', '/api/v1/partners', {
    key,
    headers: { 'x-forwarded-for': from },
  });
  expect(response.status).toBe(200);
}

interface KeyUsage {
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  requestCount: number;
}

/** The key's usage as `GET /api-keys/{id}` shows it. */
async function usage(id: string): Promise<KeyUsage> {
  const response = await call(server, 'GET', `/api/v1/api-keys/${id}`, { key: tenant.key });
  expect(response.status).toBe(200);
  const { lastUsedAt, lastUsedIp, requestCount } = response.body.data;
  return { lastUsedAt, lastUsedIp, requestCount };
}

const newKey = (name: string) => createKey(server, tenant.key, { name, scopes: ['read'] });

describe('lastUsedAt and lastUsedIp', () => {
  it('the last use of a burst is written once its minute has passed, with no request after it', async () => {
    const key = await newKey('burst');
    const t0 = clock.now().toISOString();
    await useKey(key.key, '198.51.100.1');
    await flush();
    expect(await usage(key.id)).toEqual({ lastUsedAt: t0, lastUsedIp: '198.51.100.1', requestCount: 1 });

    clock.advance(5_000);
    await useKey(key.key, '198.51.100.2');
    await flush();
    clock.advance(3_000);
    const last = clock.now().toISOString();
    await useKey(key.key, '198.51.100.3');
    await flush();
    // Within the minute the count moves on, the last use waits.
    expect(await usage(key.id)).toEqual({ lastUsedAt: t0, lastUsedIp: '198.51.100.1', requestCount: 3 });

    clock.advance(51_999);
    await flush();
    expect((await usage(key.id)).lastUsedAt).toBe(t0);

    clock.advance(1);
    await flush();
    const written = { lastUsedAt: last, lastUsedIp: '198.51.100.3', requestCount: 3 };
    expect(await usage(key.id)).toEqual(written);
    // Written once: later flushes leave the key as it is, and its count exact.
    clock.advance(120_000);
    await flush();
    expect(await usage(key.id)).toEqual(written);
    const list = await call(server, 'GET', '/api/v1/api-keys?limit=100', { key: tenant.key });
    expect(list.body.data.find((k: { id: string }) => k.id === key.id)).toMatchObject(written);
  });

  it('a key in steady use has its last use written once a minute, and every request counted', async () => {
    const key = await newKey('steady');
    const writes: string[] = [];
    let stored: string | null = null;
    // A request every 10 s for three minutes, flushed after each one as the timer would.
    for (let i = 0; i <= 18; i++) {
      await useKey(key.key, `203.0.113.${i + 1}`);
      await flush();
      const now = await usage(key.id);
      if (now.lastUsedAt !== stored) writes.push(`${now.lastUsedAt} ${now.lastUsedIp}`);
      stored = now.lastUsedAt;
      if (i < 18) clock.advance(10_000);
    }
    const at = (seconds: number) => new Date(clock.now().getTime() - (180 - seconds) * 1000).toISOString();
    expect(writes).toEqual([
      `${at(0)} 203.0.113.1`,
      `${at(60)} 203.0.113.7`,
      `${at(120)} 203.0.113.13`,
      `${at(180)} 203.0.113.19`,
    ]);
    expect((await usage(key.id)).requestCount).toBe(19);
  });

  it('a key with nothing left to write is forgotten a minute on, and its next use is written at once', async () => {
    const { keyUsage } = server.services;
    const keys = await Promise.all(Array.from({ length: 20 }, (_, i) => newKey(`idle ${i}`)));
    for (const key of keys) await useKey(key.key, '203.0.113.9');
    await flush();
    const held = keyUsage.heldCount;
    expect(held).toBeGreaterThanOrEqual(keys.length);
    clock.advance(61_000);
    keyUsage.forgetIdle();
    // Every one of them is gone from memory, its use kept in the database.
    expect(keyUsage.heldCount).toBeLessThanOrEqual(held - keys.length);
    const [first] = keys;
    if (!first) throw new Error('no key');
    expect((await usage(first.id)).requestCount).toBe(1);
    const again = clock.now().toISOString();
    await useKey(first.key, '203.0.113.10');
    await flush();
    expect(await usage(first.id)).toEqual({ lastUsedAt: again, lastUsedIp: '203.0.113.10', requestCount: 2 });
  });

  it('stopping writes the last use that was not due yet', async () => {
    const key = await newKey('stopped');
    await useKey(key.key, '192.0.2.1');
    await flush();
    clock.advance(10_000);
    const last = clock.now().toISOString();
    await useKey(key.key, '192.0.2.2');
    await flush();
    expect((await usage(key.id)).lastUsedIp).toBe('192.0.2.1');
    // A graceful shutdown stops the recorder like this; no later flush would write the use.
    await server.services.keyUsage.stop();
    expect(await usage(key.id)).toEqual({ lastUsedAt: last, lastUsedIp: '192.0.2.2', requestCount: 2 });
  });
});
