import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailoverRateLimitStore } from '../../src/platform/rate-limit/failover-store.ts';
import { MemoryRateLimitStore } from '../../src/platform/rate-limit/memory-store.ts';
import type { LimitCheck } from '../../src/platform/rate-limit/policy.ts';
import { RedisRateLimitStore } from '../../src/platform/rate-limit/redis-store.ts';
import { freePort, type ServerProcess, startServerProcess } from '../helpers/child-process.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { call, createTenant, type TestTenant } from '../helpers/http.ts';
import { settled } from '../helpers/promises.ts';
import { ADMIN_KEY, type LoggedServer, startLoggedServer, type TestServer } from '../helpers/server.ts';

// Always on Redis: the shared one for two processes (under a prefix of our own, never flushed),
// and a redis-server of our own to stop and start again.
const SHARED_REDIS = 'redis://127.0.0.1:6379';
const POSTGRES = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Removes a test's keys from the shared Redis. */
async function deleteSharedKeys(prefix: string): Promise<void> {
  const redis = new Redis(SHARED_REDIS);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
}

/** Creates a key with its own rate limit through the tenant's admin key. */
async function limitedKey(
  server: { url: string },
  tenant: TestTenant,
  rateLimit: { limit: number; windowSeconds: number },
): Promise<string> {
  const response = await call(server as TestServer, 'POST', '/api/v1/api-keys', {
    key: tenant.key,
    body: { name: 'limited', scopes: ['read'], rateLimit },
  });
  expect(response.status).toBe(201);
  return response.body.data.key;
}

/** Creates a key with a daily quota through the tenant's admin key. */
async function quotedKey(
  server: TestServer,
  tenant: TestTenant,
  limit: number,
): Promise<{ id: string; key: string }> {
  const response = await call(server, 'POST', '/api/v1/api-keys', {
    key: tenant.key,
    body: { name: 'quota', scopes: ['read'], quota: { limit, period: 'day' } },
  });
  expect(response.status).toBe(201);
  return response.body.data;
}

/** Sends `probe` every 200 ms until `server` has logged `recoveries + 1` returns to Redis (15 s at most). */
async function untilBackOnRedis(server: LoggedServer, recoveries: number, probe: () => Promise<unknown>) {
  const deadline = Date.now() + 15_000;
  while (logged(server, 'reachable again').length === recoveries) {
    if (Date.now() > deadline) throw new Error('the server did not go back to Redis');
    await probe();
    await sleep(200);
  }
}

// Both groups start their servers at once: starting processes is most of this file's time.
const pair = startPair();
const outage = startOutageServers();
// Started even if a test is filtered out, so always awaited and stopped.
beforeAll(() => Promise.all([pair, outage]));
afterAll(async () => {
  await Promise.allSettled([pair.then((p) => p.stop()), outage.then((o) => o.stop())]);
});

/** Two server processes on one new PostgreSQL database and the shared Redis, under a prefix of their own. */
async function startPair() {
  const prefix = `pl:rl:test-${randomBytes(6).toString('hex')}:`;
  const database = await createTestDatabase(POSTGRES);
  const env = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: database.url as string,
    REDIS_URL: SHARED_REDIS,
    RATE_LIMIT_REDIS_PREFIX: prefix,
    ADMIN_API_KEY: ADMIN_KEY,
  };
  const started = await Promise.allSettled([startServerProcess(env), startServerProcess(env)]);
  const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await deleteSharedKeys(prefix);
    await database.drop();
  };
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { servers: servers as [ServerProcess, ServerProcess], stop };
}

describe('two server processes on one Redis', () => {
  it('share one limit exactly: 50 of 200 concurrent requests spread over both get through', async () => {
    const [first, second] = (await pair).servers;
    const tenant = await createTenant(first as unknown as TestServer);
    // 50 per 10 minutes: the next request fits 12 s after the burst starts, far more than the
    // burst takes even on a busy machine (50 per minute would refill one every 1.2 s, which a
    // loaded CI box can exceed, letting a 51st in by right).
    const key = await limitedKey(first, tenant, { limit: 50, windowSeconds: 600 });
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        fetch(`${(i % 2 === 0 ? first : second).url}/api/v1/me`, { headers: { 'x-api-key': key } }).then(
          async (response) => {
            await response.arrayBuffer();
            return { status: response.status, remaining: response.headers.get('x-ratelimit-remaining') };
          },
        ),
      ),
    );
    expect(Date.now() - started).toBeLessThan(12_000);
    const allowed = answers.filter((answer) => answer.status === 200);
    expect(allowed).toHaveLength(50);
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(150);
    // Each allowed request saw a different count: 49 left, 48, … 0, whichever process served it.
    const remaining = allowed.map((answer) => Number(answer.remaining)).sort((a, b) => a - b);
    expect(remaining).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

/** A redis-server of our own on `port`, answering PING. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    const up = await probe.connect().then(
      () => probe.ping().then(() => true),
      () => false,
    );
    probe.disconnect();
    if (up) return child;
    if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
    await sleep(50);
  }
}

async function killRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

const logged = (server: LoggedServer, text: string) => server.logs().filter((line) => line.includes(text));

/**
 * A redis-server of our own, and two in-process servers on it: one failing open (the default),
 * one failing closed.
 */
async function startOutageServers() {
  const port = await freePort();
  const state = { redis: await startRedis(port) };
  const env = { REDIS_URL: `redis://127.0.0.1:${port}` };
  const started = await Promise.allSettled([
    startLoggedServer(env),
    startLoggedServer({ ...env, RATE_LIMIT_FAIL_CLOSED: 'true' }),
  ]);
  const stop = async () => {
    await killRedis(state.redis);
    await Promise.all(
      started.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)),
    );
  };
  const [open, closed] = started;
  if (open?.status !== 'fulfilled' || closed?.status !== 'fulfilled') {
    await stop();
    throw open?.status === 'rejected'
      ? open.reason
      : closed?.status === 'rejected'
        ? closed.reason
        : undefined;
  }
  return { port, state, open: open.value, closed: closed.value, stop };
}

describe('calls reaching Redis out of the order of their clocks', () => {
  it("are answered at the bucket's latest time: a bucket's time never goes back", async () => {
    const prefix = `pl:rl:test-${randomBytes(6).toString('hex')}:`;
    const store = new RedisRateLimitStore(new Redis(SHARED_REDIS), prefix, 2_000);
    const check: LimitCheck = {
      bucket: '{key_order}:key',
      policy: { kind: 'rate', name: 'order', limit: 50, windowSeconds: 600 },
    };
    const now = Date.now();
    try {
      // Process A reads its clock 5 ms after process B, but reaches Redis first.
      const [a] = (await store.hit([check], now + 5)).decisions;
      const [b] = (await store.hit([check], now)).decisions;
      expect(a).toMatchObject({ allowed: true, remaining: 49 });
      // At B's own time one request fewer would fit; counted at A's, B sees the next count down.
      expect(b).toMatchObject({ allowed: true, remaining: 48 });
      expect(b?.resetAt).toBe(Math.ceil((now + 5 + 2 * 12_000) / 1000));
    } finally {
      await deleteSharedKeys(prefix);
      await store.close();
    }
  });
});

describe('two processes whose clocks are seconds apart', () => {
  it.each([5, 1_100, 30_000])(
    'share one limit exactly with a clock %i ms behind: 50 of 200 alternating requests',
    async (skew) => {
      const prefix = `pl:rl:test-${randomBytes(6).toString('hex')}:`;
      const [fast, slow] = [0, 1].map(() => new RedisRateLimitStore(new Redis(SHARED_REDIS), prefix, 2_000));
      const check: LimitCheck = {
        bucket: '{key_skew}:key',
        policy: { kind: 'rate', name: 'skew', limit: 50, windowSeconds: 600 },
      };
      const start = Date.now();
      try {
        let allowed = 0;
        for (let i = 0; i < 200; i++) {
          // 10 ms apart in real time; the slow process reads its clock `skew` ms behind.
          const at = start + i * 10;
          const store = i % 2 === 0 ? fast : slow;
          const result = await (store as RedisRateLimitStore).hit([check], i % 2 === 0 ? at : at - skew);
          if (result.allowed) allowed += 1;
        }
        // 2 s at one request per 12 s refills nothing: exactly the limit.
        expect(allowed).toBe(50);
      } finally {
        await deleteSharedKeys(prefix);
        await Promise.all([fast?.close(), slow?.close()]);
      }
    },
  );
});

describe('requests reaching the store in one turn of the event loop', () => {
  it('go to Redis in one call, each taken from all its buckets or none, in the order they came', async () => {
    const prefix = `pl:rl:test-${randomBytes(6).toString('hex')}:`;
    const client = new Redis(SHARED_REDIS);
    const store = new RedisRateLimitStore(client, prefix, 2_000);
    const rate: LimitCheck = {
      bucket: '{key_batch}:key',
      policy: { kind: 'rate', name: 'batch', limit: 5, windowSeconds: 600 },
    };
    const quota: LimitCheck = {
      bucket: '{key_batch}:quota',
      policy: { kind: 'quota', name: 'quota', limit: 2, period: 'day' },
    };
    const now = Date.now();
    const calls: string[] = [];
    const evalsha = client.evalsha.bind(client);
    client.evalsha = ((...args: Parameters<typeof evalsha>) => {
      calls.push('evalsha');
      return evalsha(...args);
    }) as typeof client.evalsha;
    try {
      // Rate and quota: the first two get through; the third is refused by the quota alone and must
      // not take from the rate bucket. Then rate only: three more fit (5 - 2), the last two do not.
      const results = await Promise.all([
        store.hit([rate, quota], now),
        store.hit([rate, quota], now),
        store.hit([rate, quota], now),
        ...Array.from({ length: 5 }, () => store.hit([rate], now)),
      ]);
      expect(calls).toHaveLength(1);
      expect(results.map((result) => result.allowed)).toEqual([
        true,
        true,
        false,
        true,
        true,
        true,
        false,
        false,
      ]);
      expect(results.map((result) => result.decisions[0]?.remaining)).toEqual([4, 3, 3, 2, 1, 0, 0, 0]);
      expect(results.slice(0, 3).map((result) => result.decisions[1]?.remaining)).toEqual([1, 0, 0]);
      // What is stored agrees: the next call, alone in its batch, finds the rate bucket empty.
      const after = await store.hit([rate], now);
      expect(calls).toHaveLength(2);
      expect(after).toMatchObject({ allowed: false, decisions: [{ remaining: 0 }] });
      // Both buckets expire: the rate bucket when it is full again (five requests of 120 s each
      // ahead), the quota counter a minute after its day ends.
      const today = new Date(now);
      const dayEnds = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + 1);
      const ttls = Object.fromEntries(
        await Promise.all(
          (await client.keys(`${prefix}*`)).map(async (key) => [
            key.slice(prefix.length),
            await client.pttl(key),
          ]),
        ),
      );
      expect(Object.keys(ttls).sort()).toEqual([
        `{key_batch}:key:5/600:v3`,
        `{key_batch}:quota:${today.toISOString().slice(0, 10)}`,
      ]);
      expect(ttls['{key_batch}:key:5/600:v3']).toBeGreaterThan(590_000);
      expect(ttls['{key_batch}:key:5/600:v3']).toBeLessThanOrEqual(600_001);
      expect(ttls[`{key_batch}:quota:${today.toISOString().slice(0, 10)}`]).toBeGreaterThan(dayEnds - now);
      expect(ttls[`{key_batch}:quota:${today.toISOString().slice(0, 10)}`]).toBeLessThanOrEqual(
        dayEnds - now + 60_000,
      );
    } finally {
      await deleteSharedKeys(prefix);
      await store.close();
    }
  });
});

describe('Redis stopped mid-test', () => {
  it('fails open on in-process limits (or closed with 503), warns once, counts failures, then uses Redis again', async () => {
    const { port, state, open, closed } = await outage;
    const [openTenant, closedTenant] = await Promise.all([createTenant(open), createTenant(closed)]);
    const key = await limitedKey(open, openTenant, { limit: 5, windowSeconds: 60 });
    const me = (server: TestServer, k: string) => call(server, 'GET', '/api/v1/me', { key: k });
    expect((await me(open, key)).status).toBe(200);
    expect((await me(closed, closedTenant.key)).status).toBe(200);
    // A quota of 4 a day, 3 of them spent while Redis counts, and written to the usage tables.
    const quoted = await quotedKey(open, openTenant, 4);
    for (let i = 0; i < 3; i++) expect((await me(open, quoted.key)).status).toBe(200);
    await open.services.requestRecorder.flush();
    const store = new Redis({ port });
    expect((await store.keys('pl:rl:*')).length).toBeGreaterThan(0);
    store.disconnect();
    expect(open.services.rateLimits.failures).toBe(0);

    await killRedis(state.redis);

    // Fail open: served, and still limited, in process (its buckets start afresh: 5 more).
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await me(open, key)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect(logged(open, 'rate-limit store unreachable')).toHaveLength(1);
    // Quotas go on from what the usage tables hold, not from zero: one request left, then 429.
    expect((await me(open, quoted.key)).status).toBe(200);
    const spent = await me(open, quoted.key);
    expect([spent.status, spent.body.code]).toEqual([429, 'quota_exceeded']);
    const failures = open.services.rateLimits.failures;
    expect(failures).toBeGreaterThan(0);

    // Fail closed: 503 service_unavailable while Redis is away.
    const refused = await me(closed, closedTenant.key);
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe('service_unavailable');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(logged(closed, 'RATE_LIMIT_FAIL_CLOSED')).toHaveLength(1);

    // Redis is tried again about once a second: each try fails and is counted, the warning is not repeated.
    await sleep(1_100);
    expect((await me(open, key)).status).toBe(429);
    expect(open.services.rateLimits.failures).toBeGreaterThan(failures);
    expect(logged(open, 'rate-limit store unreachable')).toHaveLength(1);

    state.redis = await startRedis(port);
    const deadline = Date.now() + 15_000;
    while (logged(open, 'reachable again').length === 0 || logged(closed, 'reachable again').length === 0) {
      if (Date.now() > deadline) throw new Error('the servers did not go back to Redis');
      await Promise.all([me(open, openTenant.key), me(closed, closedTenant.key)]);
      await sleep(200);
    }
    // Back on Redis: a bucket of its own there (the restarted Redis is empty), and 200 again when closed.
    const restarted = new Redis({ port });
    const before = (await restarted.keys('pl:rl:*')).length;
    expect((await me(open, key)).status).toBe(200);
    expect((await restarted.keys('pl:rl:*')).length).toBeGreaterThan(before);
    restarted.disconnect();
    expect((await me(closed, closedTenant.key)).status).toBe(200);
    expect(logged(open, 'rate-limit store unreachable')).toHaveLength(1);
  });
});

describe('Redis hanging mid-test', () => {
  it('counts a call Redis does not answer within 100 ms as failed and answers in process, until Redis answers again', async () => {
    const { state, open, closed } = await outage;
    const [openTenant, closedTenant] = await Promise.all([createTenant(open), createTenant(closed)]);
    const me = (server: TestServer, k: string) => call(server, 'GET', '/api/v1/me', { key: k });
    expect((await me(open, openTenant.key)).status).toBe(200);
    const failures = open.services.rateLimits.failures;
    const warnings = logged(open, 'rate-limit store unreachable').length;
    const recoveries = logged(open, 'reachable again').length;

    // Stopped, not killed: the connection stays open and commands go unanswered.
    state.redis.kill('SIGSTOP');
    try {
      const startedAt = performance.now();
      const served = await me(open, openTenant.key);
      const waited = performance.now() - startedAt;
      expect(served.status).toBe(200);
      expect(served.headers.get('x-ratelimit-remaining')).not.toBeNull();
      expect(waited).toBeGreaterThanOrEqual(100);
      expect(open.services.rateLimits.failures).toBe(failures + 1);
      expect(logged(open, 'rate-limit store unreachable')).toHaveLength(warnings + 1);
      // The next requests skip Redis for a second instead of waiting on it again.
      expect((await me(open, openTenant.key)).status).toBe(200);
      expect(open.services.rateLimits.failures).toBe(failures + 1);
      expect((await me(closed, closedTenant.key)).status).toBe(503);
    } finally {
      state.redis.kill('SIGCONT');
    }

    await untilBackOnRedis(open, recoveries, () => me(open, openTenant.key));
    expect((await me(open, openTenant.key)).status).toBe(200);
  });
});

describe('a quota across a Redis outage that Redis survives', () => {
  it('is spent once: what was counted in process meanwhile is handed to Redis when it answers again', async () => {
    const { state, open } = await outage;
    const tenant = await createTenant(open);
    const me = (k: string) => call(open, 'GET', '/api/v1/me', { key: k });
    const quoted = (await quotedKey(open, tenant, 10)).key;
    for (let i = 0; i < 4; i++) expect((await me(quoted)).status).toBe(200);
    await open.services.requestRecorder.flush();
    const recoveries = logged(open, 'reachable again').length;

    // Stopped, not killed: Redis keeps its count of 4 and answers again afterwards.
    state.redis.kill('SIGSTOP');
    const during: number[] = [];
    try {
      for (let i = 0; i < 8; i++) during.push((await me(quoted)).status);
    } finally {
      state.redis.kill('SIGCONT');
    }
    // Counted in process from the usage tables' 4: six more, then the quota is spent.
    expect(during).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);

    await untilBackOnRedis(open, recoveries, () => me(tenant.key));
    const after = await me(quoted);
    expect([after.status, after.body.code]).toEqual([429, 'quota_exceeded']);
    expect(after.headers.get('x-quota-remaining')).toBe('0');
  });

  it('is not charged for requests a fail-closed server refused with 503 while Redis was away', async () => {
    const { state, closed } = await outage;
    const tenant = await createTenant(closed);
    const me = (k: string) => call(closed, 'GET', '/api/v1/me', { key: k });
    const quoted = await quotedKey(closed, tenant, 10);
    expect((await me(quoted.key)).status).toBe(200);
    state.redis.kill('SIGSTOP');
    try {
      for (let i = 0; i < 3; i++) expect((await me(quoted.key)).status).toBe(503);
    } finally {
      state.redis.kill('SIGCONT');
    }
    await closed.services.requestRecorder.flush();
    // What a process restoring quota counts from the usage tables (after a restart without Redis,
    // or at an outage of its own) takes as spent: the one request that was served.
    const { rows } = await sql<{ requests: number; charged: number }>`
      select sum(requests)::int as requests, sum(requests - uncharged)::int as charged
      from usage_minute where key_id = ${quoted.id}`.execute(closed.services.db);
    expect(rows[0]).toEqual({ requests: 4, charged: 1 });
  });
});

describe('requests while Redis is being brought back', () => {
  it('wait for the hand-back instead of being counted in process, where no hand-back would reach them', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    const client = new Redis({
      port,
      lazyConnect: true,
      enableAutoPipelining: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    client.on('error', () => {});
    await client.connect();
    const store = new FailoverRateLimitStore(
      new RedisRateLimitStore(client, 'pl:rl:', 100),
      new MemoryRateLimitStore(),
      { failClosed: false, log: pino({ level: 'silent' }) },
    );
    let handBack = () => {};
    const handedBack = new Promise<void>((resolve) => {
      handBack = resolve;
    });
    store.onRecovery = () => handedBack;
    const quota: LimitCheck = {
      bucket: '{key_back}:quota',
      policy: { kind: 'quota', name: 'quota', limit: 10, period: 'day' },
    };
    const now = Date.now();
    try {
      expect((await store.hit([quota], now)).allowed).toBe(true);
      await killRedis(redis);
      // Counted in process while Redis is away.
      expect((await store.hit([quota], now)).allowed).toBe(true);
      redis = await startRedis(port);
      const deadline = Date.now() + 10_000;
      while (client.status !== 'ready' && Date.now() < deadline) await sleep(50);
      // The next try of Redis is due a second after the last failed one.
      await sleep(1_100);

      // The first request tries Redis behind the hand-back; five more come while it runs.
      const first = store.hit([quota], now);
      await sleep(0);
      const meanwhile = Array.from({ length: 5 }, () => store.hit([quota], now));
      await sleep(50);
      for (const request of [first, ...meanwhile]) expect(await settled(request)).toBe(false);
      handBack();
      const answers = await Promise.all([first, ...meanwhile]);
      expect(answers.every((answer) => answer.allowed)).toBe(true);
      // All six were counted in Redis (which restarted empty): a seventh leaves three of its ten.
      expect((await store.hit([quota], now)).decisions[0]?.remaining).toBe(3);
    } finally {
      await store.close();
      await killRedis(redis);
    }
  });
});
