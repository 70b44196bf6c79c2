import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendKeyChange } from '../../src/platform/auth/key-changes.ts';
import { asTarget, childDatabase, freePort, startServerProcess } from '../helpers/child-process.ts';
import { onPostgres } from '../helpers/database.ts';
import { call, createKey, createTenant, expectProblem } from '../helpers/http.ts';
import { ADMIN_KEY, type LoggedServer, logged, startLoggedServer } from '../helpers/server.ts';
import { startBlackHole, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

// The server reaches its PostgreSQL through a proxy the test closes and opens again: a database
// outage without stopping the shared PostgreSQL. PGlite runs inside the process and cannot go away.
const KEYS_DOWN = 'key change listener cannot reach PostgreSQL';
const KEYS_BACK = 'key change listener is listening to PostgreSQL again';
const OUTBOX_DOWN = 'webhook outbox listener cannot reach PostgreSQL';
const OUTBOX_BACK = 'webhook outbox listener is listening to PostgreSQL again';
const POLLING_DOWN = 'webhook dispatcher: polling failed';
const POLLING_BACK = 'webhook dispatcher: polling again';
const USAGE_DOWN = 'could not record API key usage; keeping it';
const USAGE_BACK = 'recording API key usage again';

describe.skipIf(!onPostgres)('a server whose PostgreSQL goes away and comes back', () => {
  const target = new URL(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/test');
  let port: number;
  let proxy: TcpProxy | undefined;
  let server: LoggedServer;

  beforeAll(async () => {
    port = await freePort();
    proxy = await startTcpProxy(port, target, 5432);
    server = await startLoggedServer(
      // Key changes travel by PostgreSQL, not Redis; an hour of caching: only the channel, never
      // expiry, can explain a change seen.
      { REDIS_URL: '', RATE_LIMIT_REDIS_PREFIX: '', KEY_CACHE_TTL_SECONDS: '3600' },
      {
        databaseVia: (url) => {
          const proxied = new URL(url);
          proxied.hostname = '127.0.0.1';
          proxied.port = String(port);
          return proxied.toString();
        },
      },
    );
    await server.services.webhookDispatcher.start();
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
  });

  const listPartners = (key: string) => call(server, 'GET', '/api/v1/partners?limit=1', { key });

  async function until(text: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (logged(server, text).length === 0) {
      if (Date.now() > deadline) throw new Error(`not logged within 10 s: ${text}`);
      await sleep(50);
    }
  }

  it('answers 503 with Retry-After meanwhile, warns once per listener, then serves and listens again', {
    timeout: 60_000,
  }, async () => {
    const tenant = await createTenant(server);
    const key = await createKey(server, tenant.key, { name: 'reader', scopes: ['partners:read'] });
    expect((await listPartners(key.key)).status).toBe(200);

    await proxy?.close();
    proxy = undefined;
    // The key is cached, so the request reaches the handler, whose query cannot be sent.
    const refused = await listPartners(key.key);
    expectProblem(refused, 503, 'service_unavailable');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.detail).toBe(
      'The database cannot be reached right now; send the request again shortly',
    );
    expect(JSON.stringify(refused.body)).not.toMatch(/ECONNREFUSED|select|127\.0\.0\.1/i);
    const ready = await call(server, 'GET', '/ready');
    expectProblem(ready, 503, 'service_unavailable');
    expect(ready.headers.get('retry-after')).toBe('1');
    // The scrape goes on without the one figure it reads from the database.
    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('partnerline_request_log_pending ');
    expect(text).not.toContain('partnerline_webhook_queue_depth');

    // Three seconds are several reconnect attempts by each listener.
    await sleep(3_000);
    expect(logged(server, KEYS_DOWN)).toHaveLength(1);
    expect(logged(server, OUTBOX_DOWN)).toHaveLength(1);

    // A database that accepts connections and never answers (a network partition) fails a
    // request after the pool's 10 s connect timeout, not when TCP gives up.
    const hole = await startBlackHole(port);
    const hung = await listPartners(key.key);
    expectProblem(hung, 503, 'service_unavailable');
    expect(hung.headers.get('retry-after')).toBe('1');
    await hole.close();

    proxy = await startTcpProxy(port, target, 5432);
    await until(KEYS_BACK);
    await until(OUTBOX_BACK);
    expect((await listPartners(key.key)).status).toBe(200);
    // The key's request count, written every 2 s, lost none of the four requests: the flushes
    // that failed meanwhile kept their counts for the next one.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const record = await call(server, 'GET', `/api/v1/api-keys/${key.id}`, { key: tenant.key });
      if (record.body.data.requestCount === 4) break;
      expect(record.body.data.requestCount).toBeLessThan(4);
      expect(Date.now(), `requestCount is ${record.body.data.requestCount}`).toBeLessThan(deadline);
      await sleep(100);
    }

    // The channel works again: a revocation by another process, announced through PostgreSQL
    // (as the CLI does), reaches this server's cache within a second.
    await server.services.db
      .updateTable('apiKeys')
      .set({ revokedAt: new Date() })
      .where('id', '=', key.id)
      .execute();
    expect((await listPartners(key.key)).status).toBe(200);
    const sent = Date.now();
    await sendKeyChange(server.config, server.services.database, { keyId: key.id });
    for (;;) {
      const response = await listPartners(key.key);
      if (response.status === 401) {
        expect(response.body.code).toBe('api_key_revoked');
        break;
      }
      expect(Date.now() - sent, 'the change did not arrive within 1 s').toBeLessThan(1_000);
      await sleep(15);
    }

    await until(POLLING_BACK);
    for (const text of [
      KEYS_DOWN,
      KEYS_BACK,
      OUTBOX_DOWN,
      OUTBOX_BACK,
      POLLING_DOWN,
      POLLING_BACK,
      USAGE_DOWN,
      USAGE_BACK,
    ]) {
      expect(logged(server, text), text).toHaveLength(1);
    }
  });
});

describe.skipIf(!onPostgres)('a server process stopped while its PostgreSQL is away', () => {
  it('exits 1 and says what it could not write, instead of 0', { timeout: 90_000 }, async () => {
    const database = await childDatabase('outage-stop');
    const port = await freePort();
    const target = new URL(database.env.DATABASE_URL as string);
    let proxy: TcpProxy | undefined = await startTcpProxy(port, target, Number(target.port || 5432));
    const proxied = new URL(target);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(port);
    const server = await startServerProcess({
      DATABASE_URL: proxied.toString(),
      ADMIN_API_KEY: ADMIN_KEY,
      REDIS_URL: '',
      LOG_LEVEL: 'warn',
    });
    try {
      const listed = await call(asTarget(server), 'GET', '/api/t/default/v1/partners', { key: ADMIN_KEY });
      expect(listed.status).toBe(200);
      await proxy.close();
      proxy = undefined;
      const exit = await server.stop();
      expect(exit.code).toBe(1);
      const line = exit.stdout.split('\n').find((text) => text.includes('they are lost'));
      expect(line, exit.stdout).toBeDefined();
      expect(JSON.parse(line as string)).toMatchObject({
        level: 50,
        requestLogRows: 1,
        usageCounts: 1,
      });
    } finally {
      await proxy?.close();
      await database.remove();
    }
  });
});

describe.skipIf(!onPostgres)('a server whose database stops accepting connections', () => {
  it('answers 503, not 500, and logs one line for many refusals (SQLSTATE 55000)', {
    timeout: 90_000,
  }, async () => {
    const database = await childDatabase('not-accepting');
    const url = database.env.DATABASE_URL as string;
    const server = await startServerProcess({
      DATABASE_URL: url,
      ADMIN_API_KEY: ADMIN_KEY,
      REDIS_URL: '',
      LOG_LEVEL: 'warn',
    });
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    const name = new URL(url).pathname.slice(1);
    const allow = (value: boolean) =>
      admin.query(`alter database ${pg.escapeIdentifier(name)} allow_connections ${value}`);
    const list = () => call(asTarget(server), 'GET', '/api/t/default/v1/partners', { key: ADMIN_KEY });
    try {
      expect((await list()).status).toBe(200);
      await allow(false);
      // Every open connection goes: the pool must open new ones, which PostgreSQL refuses.
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [name]);
      expectProblem(await list(), 503, 'service_unavailable');
      for (let i = 0; i < 20; i++) expect((await list()).status).toBe(503);
      await allow(true);
      expect((await list()).status).toBe(200);
      const exit = await server.stop();
      // One line for the 21 refusals, not one (with a stack) each.
      const failed = exit.stdout.split('\n').filter((line) => line.includes('request failed'));
      expect(failed, exit.stdout).toHaveLength(1);
      expect(failed[0]).toContain('the database cannot be reached');
    } finally {
      await allow(true);
      await admin.end();
      await server.stop();
      await database.remove();
    }
  });
});
