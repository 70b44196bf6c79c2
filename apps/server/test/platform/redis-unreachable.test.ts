import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeyChange, redisKeyChangeChannel } from '../../src/platform/auth/key-changes.ts';
import {
  childDatabase,
  freePort,
  PRINTED_KEY,
  type ServerProcess,
  startServerProcess,
} from '../helpers/child-process.ts';
import { type ApiResponse, call, createKey, createTenant } from '../helpers/http.ts';
import { ADMIN_KEY, entries, type LoggedServer, logged, startLoggedServer } from '../helpers/server.ts';
import { listen, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

// REDIS_URL names a port nobody listens on (or, later, a proxy to the shared Redis): the server
// must start and serve without Redis, and use it once it answers. The shared Redis is never
// stopped or flushed; the keys a test creates there are under a prefix of its own, deleted after.
const SHARED_REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CHANNEL_DOWN = 'key change channel cannot reach Redis';
const CHANNEL_BACK = 'key change channel subscribed to Redis again';

/** How many connections reach `port` within `ms`. */
async function connectionsWithin(port: number, ms: number): Promise<number> {
  let count = 0;
  const server = createServer((socket) => {
    count++;
    socket.destroy();
  });
  await listen(server, port);
  await sleep(ms);
  await new Promise((resolve) => server.close(resolve));
  return count;
}

async function deleteSharedKeys(prefix: string): Promise<void> {
  const redis = new Redis(SHARED_REDIS);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
}

async function publishToSharedRedis(channel: string, change: KeyChange): Promise<void> {
  const redis = new Redis(SHARED_REDIS);
  try {
    await redis.publish(channel, JSON.stringify(change));
  } finally {
    redis.disconnect();
  }
}

function outcome(response: ApiResponse): string {
  return response.status < 300 ? String(response.status) : `${response.status} ${response.body?.code}`;
}

describe('a server whose Redis is unreachable at start', () => {
  let port: number;
  let server: LoggedServer;
  let startedAt: number;
  let closed = false;

  beforeAll(async () => {
    port = await freePort();
    startedAt = Date.now();
    server = await startLoggedServer({ REDIS_URL: `redis://127.0.0.1:${port}` });
  });
  afterAll(async () => {
    if (!closed) await server?.close();
  });

  it('serves /health and API requests, limited in process, and logs the outage once', async () => {
    expect((await call(server, 'GET', '/health')).status).toBe(200);
    // Ready to serve, as requests are limited in process: not a reason to take it out of rotation.
    const ready = await call(server, 'GET', '/ready');
    expect([ready.status, ready.body]).toEqual([200, { status: 'degraded' }]);
    const tenant = await createTenant(server);
    const created = await call(server, 'POST', '/api/v1/api-keys', {
      key: tenant.key,
      body: { name: 'limited', scopes: ['read'], rateLimit: { limit: 3, windowSeconds: 60 } },
    });
    expect(created.status).toBe(201);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await call(server, 'GET', '/api/v1/me', { key: created.body.data.key });
      statuses.push(response.status);
      expect(response.headers.get('x-ratelimit-limit')).toBe('3');
    }
    expect(statuses).toEqual([200, 200, 200, 429]);

    // Three seconds of outage are a dozen reconnect attempts by each Redis client.
    await sleep(Math.max(0, startedAt + 3_000 - Date.now()));
    expect(logged(server, CHANNEL_DOWN)).toHaveLength(1);
    const warnings = entries(server)
      .filter((line) => line.level >= 40)
      .map((line) => line.msg);
    expect(new Set(warnings).size, warnings.join('\n')).toBe(warnings.length);
  });

  it('closes without trying Redis again', async () => {
    closed = true;
    await server.close();
    const warnings = entries(server).filter((line) => line.level >= 40).length;
    // A reconnect loop left running would knock within 2 s (ioredis's longest retry delay).
    expect(await connectionsWithin(port, 2_500)).toBe(0);
    expect(entries(server).filter((line) => line.level >= 40)).toHaveLength(warnings);
  });
});

describe('a server whose Redis accepts connections but never answers', () => {
  let silent: Server;
  let sockets: Socket[] = [];
  let server: LoggedServer | undefined;

  beforeAll(async () => {
    silent = createServer((socket) => void sockets.push(socket));
    const port = await freePort();
    await listen(silent, port);
    server = await startLoggedServer({ REDIS_URL: `redis://127.0.0.1:${port}`, ADMIN_API_KEY: ADMIN_KEY });
  });
  afterAll(async () => {
    await server?.close();
    for (const socket of sockets) socket.destroy();
    sockets = [];
    await new Promise((resolve) => silent.close(resolve));
  });

  // Each call fails after 10 s instead of hanging, whatever the server does.
  const within = () => ({ signal: AbortSignal.timeout(10_000) });

  it('answers /ready, as degraded, instead of waiting for Redis', async () => {
    const ready = await fetch(`${server!.url}/ready`, within());
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'degraded' }]);
  });

  it('answers a key change once it is saved, though Redis cannot send it to other processes', async () => {
    const tenant = await createTenant(server!);
    const key = await createKey(server!, tenant.key, { name: 'before', scopes: ['read'] });
    const renamed = await fetch(`${server!.url}/api/v1/api-keys/${key.id}`, {
      ...within(),
      method: 'PATCH',
      headers: { 'x-api-key': tenant.key, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'after' }),
    });
    expect(renamed.status).toBe(200);
    const revoked = await fetch(`${server!.url}/api/v1/api-keys/${key.id}`, {
      ...within(),
      method: 'DELETE',
      headers: { 'x-api-key': tenant.key },
    });
    expect(revoked.status).toBe(200);
    expect((await call(server!, 'GET', '/api/v1/me', { key: key.key })).body.code).toBe('api_key_revoked');
  });
});

describe('a fail-closed server whose Redis is unreachable', () => {
  it('is not ready: /ready answers 503, as it refuses every limited request', async () => {
    const server = await startLoggedServer({
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      RATE_LIMIT_FAIL_CLOSED: 'true',
    });
    try {
      const ready = await call(server, 'GET', '/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.code).toBe('service_unavailable');
      expect((await call(server, 'GET', '/health')).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('a server whose Redis answers only after it started', () => {
  const prefix = `pl:rl:test-${randomBytes(6).toString('hex')}:`;
  let server: LoggedServer;
  let proxy: TcpProxy | undefined;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    // An hour of caching: only the key-change channel, never expiry, can explain a change seen.
    server = await startLoggedServer({
      REDIS_URL: `redis://127.0.0.1:${port}`,
      RATE_LIMIT_REDIS_PREFIX: prefix,
      KEY_CACHE_TTL_SECONDS: '3600',
    });
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await deleteSharedKeys(prefix);
  });

  const listPartners = (key: string) => call(server, 'GET', '/api/v1/partners?limit=1', { key });
  /** What another process does to a key: the database row, behind this server's back. */
  const revokeInDatabase = (id: string) =>
    server.services.db.updateTable('apiKeys').set({ revokedAt: new Date() }).where('id', '=', id).execute();

  it('subscribes then, forgets what it cached meanwhile, and applies changes from other processes', async () => {
    const tenant = await createTenant(server);
    const early = await createKey(server, tenant.key, { name: 'early', scopes: ['partners:read'] });
    expect(outcome(await listPartners(early.key))).toBe('200');
    // Revoked elsewhere during the outage: the announcement cannot reach this server.
    await revokeInDatabase(early.id);
    expect(outcome(await listPartners(early.key))).toBe('200');

    proxy = await startTcpProxy(port, new URL(SHARED_REDIS), 6379);
    const deadline = Date.now() + 10_000;
    while (logged(server, CHANNEL_BACK).length === 0) {
      if (Date.now() > deadline) throw new Error('the key change channel did not subscribe');
      await sleep(50);
    }
    // Subscribed again: changes sent meanwhile were missed, so the cache was cleared.
    expect(outcome(await listPartners(early.key))).toBe('401 api_key_revoked');

    const late = await createKey(server, tenant.key, { name: 'late', scopes: ['partners:read'] });
    expect(outcome(await listPartners(late.key))).toBe('200');
    await revokeInDatabase(late.id);
    expect(outcome(await listPartners(late.key))).toBe('200');
    // A deployment that shares the Redis under another prefix sends on a channel of its own.
    await publishToSharedRedis(redisKeyChangeChannel('pl:rl:'), { keyId: late.id });
    await sleep(300);
    expect(outcome(await listPartners(late.key))).toBe('200');
    // Another server of this deployment announces it, straight to the shared Redis.
    const sent = Date.now();
    await publishToSharedRedis(redisKeyChangeChannel(prefix), { keyId: late.id });
    while (outcome(await listPartners(late.key)) !== '401 api_key_revoked') {
      expect(Date.now() - sent, 'the change did not arrive within 1 s').toBeLessThan(1_000);
      await sleep(15);
    }
    expect(logged(server, CHANNEL_DOWN)).toHaveLength(1);
    expect(logged(server, CHANNEL_BACK)).toHaveLength(1);
  });
});

describe('the server process, started with Redis unreachable', () => {
  let server: ServerProcess;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const port = await freePort();
    const database = await childDatabase('pl-redis-down');
    cleanup = database.remove;
    server = await startServerProcess({
      ...database.env,
      REDIS_URL: `redis://127.0.0.1:${port}`,
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
    });
  });
  afterAll(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('keeps running, warns once, and exits cleanly on SIGTERM', async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const finished = await server.stop();
    expect(finished.code, finished.stderr).toBe(0);
    const output = finished.stdout + finished.stderr;
    expect(output).not.toMatch(/Connection is closed|Unhandled/);
    expect(output.split(CHANNEL_DOWN)).toHaveLength(2);
  });
});

describe('a fail-closed server process whose Redis is unreachable', () => {
  it('refuses limited requests with 503 and logs no error line per refusal', async () => {
    const database = await childDatabase('pl-redis-closed');
    const server = await startServerProcess({
      ...database.env,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      RATE_LIMIT_FAIL_CLOSED: 'true',
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
    });
    try {
      const key = PRINTED_KEY.exec(server.stdout())?.[0] as string;
      for (let i = 0; i < 3; i++) {
        const refused = await fetch(`${server.url}/api/v1/partners`, { headers: { 'x-api-key': key } });
        expect(refused.status).toBe(503);
      }
      const finished = await server.stop();
      const errors = (finished.stdout + finished.stderr)
        .split('\n')
        .filter((line) => line.includes('"level":50'));
      expect(errors).toEqual([]);
    } finally {
      await server.stop();
      await database.remove();
    }
  });
});
