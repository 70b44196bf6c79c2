import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, call, createKey, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../helpers/server.ts';

// In process memory: one clock. With Redis a bucket's time never goes back (see the Redis store),
// so that processes whose clocks differ share a limit exactly; rate-limit.redis.test.ts shows that.
const START = Date.parse('2026-06-01T12:00:00.000Z');
const HOUR_MS = 3_600_000;
const clock = new TestClock(new Date(START));
let server: TestServer;
let tenant: TestTenant;

beforeAll(async () => {
  server = await startServer({ clock, env: { REDIS_URL: '' } });
  tenant = await createTenant(server);
});
afterAll(() => server.close());

const me = (key: string) => call(server, 'GET', '/api/v1/me', { key });
const remaining = (response: ApiResponse) => Number(response.headers.get('x-ratelimit-remaining'));

describe('a clock set back (an NTP step, a manual correction), limits in process memory', () => {
  it('keeps what was left of a budget, and refills it from the new time on, instead of refusing for as long', async () => {
    const key = await createKey(server, tenant.key, {
      name: 'stepped',
      scopes: ['read'],
      rateLimit: { limit: 10, windowSeconds: 60 },
    });
    for (let i = 1; i <= 3; i++) expect(remaining(await me(key.key))).toBe(10 - i);

    clock.advance(-HOUR_MS);
    const after = await me(key.key);
    expect(after.status).toBe(200);
    expect(remaining(after)).toBe(6);
    expect(after.headers.get('ratelimit')).toBe('"key";r=6;t=24');

    // A window later on the new clock the budget is full again.
    clock.advance(60_000);
    const refilled = await me(key.key);
    expect(refilled.status).toBe(200);
    expect(remaining(refilled)).toBe(9);
  });

  it('a step of a minute does not lock out a key on its plan budget (600 per minute)', async () => {
    const key = await createKey(server, tenant.key, { name: 'plan', scopes: ['read'] });
    for (let i = 0; i < 5; i++) expect((await me(key.key)).status).toBe(200);
    clock.advance(-60_000);
    const after = await me(key.key);
    expect(after.status).toBe(200);
    expect(remaining(after)).toBe(594);
  });

  it('a spent budget stays spent across the step, and refills in one window', async () => {
    const key = await createKey(server, tenant.key, {
      name: 'spent',
      scopes: ['read'],
      rateLimit: { limit: 2, windowSeconds: 10 },
    });
    expect((await me(key.key)).status).toBe(200);
    expect((await me(key.key)).status).toBe(200);
    clock.advance(-HOUR_MS);
    const refused = await me(key.key);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('5');
    clock.advance(5_000);
    expect((await me(key.key)).status).toBe(200);
  });
});
