import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenantTurns } from '../../src/platform/http/tenant-turns.ts';
import { onPostgres } from '../helpers/database.ts';
import { type ApiResponse, call, createTenant, type TestTenant } from '../helpers/http.ts';
import { settled } from '../helpers/promises.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

describe('TenantTurns', () => {
  it('runs at most the allowed number per tenant, the waiting ones in the order they came', async () => {
    const turns = new TenantTurns(2);
    const order: string[] = [];
    const gates = new Map<string, () => void>();
    const work = (name: string) => () =>
      new Promise<string>((resolve) => {
        order.push(name);
        gates.set(name, () => resolve(name));
      });
    const a1 = turns.run('ten_a', work('a1'));
    const a2 = turns.run('ten_a', work('a2'));
    const a3 = turns.run('ten_a', work('a3'));
    const a4 = turns.run('ten_a', work('a4'));
    const b1 = turns.run('ten_b', work('b1'));
    await sleep(0);
    expect(order).toEqual(['a1', 'a2', 'b1']);
    gates.get('a2')?.();
    expect(await a2).toBe('a2');
    await sleep(0);
    expect(order).toEqual(['a1', 'a2', 'b1', 'a3']);
    gates.get('a1')?.();
    gates.get('b1')?.();
    await Promise.all([a1, b1]);
    await sleep(0);
    expect(order).toEqual(['a1', 'a2', 'b1', 'a3', 'a4']);
    expect(turns.size).toBe(1);
    gates.get('a3')?.();
    gates.get('a4')?.();
    await Promise.all([a3, a4]);
    expect(turns.size).toBe(0);
  });

  it('a failing request hands its turn on', async () => {
    const turns = new TenantTurns(1);
    const failing = turns.run('ten_a', async () => {
      await sleep(5);
      throw new Error('query failed');
    });
    const next = turns.run('ten_a', () => 'ran');
    await expect(failing).rejects.toThrow('query failed');
    expect(await next).toBe('ran');
    expect(turns.size).toBe(0);
  });
});

// Holding a table lock from a connection of the test's own makes a tenant's list wait in the
// database for as long as the test wants; PGlite has one connection, which the lock would hold.
describe.skipIf(!onPostgres)('one tenant’s slow lists (TENANT_LIST_CONCURRENCY=1)', () => {
  let server: TestServer;
  let busy: TestTenant;
  let other: TestTenant;
  let locker: pg.Client;
  let monitor: pg.Client;

  beforeAll(async () => {
    server = await startServer({ env: { TENANT_LIST_CONCURRENCY: '1' } });
    busy = await createTenant(server);
    other = await createTenant(server);
    locker = new pg.Client({ connectionString: server.databaseUrl });
    monitor = new pg.Client({ connectionString: server.databaseUrl });
    await Promise.all([locker.connect(), monitor.connect()]);
  });
  afterAll(async () => {
    await Promise.all([locker?.end(), monitor?.end()]);
    await server?.close();
  });

  /** The server's queries waiting for the test's lock. */
  async function waitingForLock(): Promise<number> {
    // Not on the locker's connection: inside its transaction pg_stat_activity is a snapshot.
    const { rows } = await monitor.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
       where datname = current_database() and state = 'active' and wait_event_type = 'Lock'`,
    );
    return rows[0]?.n ?? 0;
  }

  it('hold one turn of that tenant; the other tenants’ requests do not wait for them', async () => {
    await locker.query('begin');
    await locker.query('lock table customers in access exclusive mode');
    let answers: Promise<ApiResponse>[] = [];
    try {
      // Two classic pages of customers: each runs its rows and its count at once.
      const slowLists = [1, 2].map(() => call(server, 'GET', '/api/v1/customers', { key: busy.key }));
      const deadline = Date.now() + 10_000;
      while ((await waitingForLock()) < 2 && Date.now() < deadline) await sleep(20);
      await sleep(300);
      // The first page's two queries wait in the database; the second page waits for its turn.
      expect(await waitingForLock()).toBe(2);

      // Any list of the same tenant, under either base URL, waits for its turn too …
      const sameTenant = [
        call(server, 'GET', '/api/v1/partners?limit=1', { key: busy.key }),
        call(server, 'GET', `/api/t/${busy.slug}/v1/usage`, { key: busy.key }),
      ];
      // … while another tenant's lists and reports are answered at once.
      const elsewhere = await Promise.all([
        call(server, 'GET', '/api/v1/partners?limit=1', { key: other.key }),
        call(server, 'GET', '/api/v1/usage', { key: other.key }),
      ]);
      expect(elsewhere.map((response) => response.status)).toEqual([200, 200]);
      // A read of one resource takes no turn.
      const me = await call(server, 'GET', '/api/v1/me', { key: busy.key });
      expect(me.status).toBe(200);
      await sleep(200);
      answers = [...slowLists, ...sameTenant];
      for (const answer of answers) expect(await settled(answer)).toBe(false);
    } finally {
      await locker.query('commit');
    }
    const statuses = (await Promise.all(answers)).map((response) => response.status);
    expect(statuses).toEqual([200, 200, 200, 200]);
  });

  it('a list whose client left while it waited reads nothing when its turn comes', async () => {
    // Two lockers: customers hold the turn, partners would hold any list that ran after it.
    const partnersLocker = new pg.Client({ connectionString: server.databaseUrl });
    await partnersLocker.connect();
    try {
      await partnersLocker.query('begin');
      await partnersLocker.query('lock table partners in access exclusive mode');
      await locker.query('begin');
      await locker.query('lock table customers in access exclusive mode');
      let holder: Promise<ApiResponse>;
      try {
        holder = call(server, 'GET', '/api/v1/customers', { key: busy.key });
        const deadline = Date.now() + 10_000;
        while ((await waitingForLock()) < 2 && Date.now() < deadline) await sleep(20);
        // Two lists of partners wait for the turn; their clients give up.
        const { hostname, port } = new URL(server.url);
        const sockets = [1, 2].map(() => {
          const socket = connect(Number(port), hostname, () =>
            socket.write(`GET /api/v1/partners HTTP/1.1\r\nHost: x\r\nX-API-Key: ${busy.key}\r\n\r\n`),
          );
          socket.on('error', () => {});
          return socket;
        });
        await sleep(300);
        for (const socket of sockets) socket.destroy();
        await sleep(100);
      } finally {
        await locker.query('commit');
      }
      expect((await holder).status).toBe(200);
      // Had the abandoned lists run, their queries would now wait for the partners lock.
      await sleep(300);
      expect(await waitingForLock()).toBe(0);
      // The turn is free: a list that stays is let in and reaches the lock.
      const staying = call(server, 'GET', '/api/v1/partners', { key: busy.key });
      const deadline = Date.now() + 10_000;
      while ((await waitingForLock()) < 2 && Date.now() < deadline) await sleep(20);
      expect(await waitingForLock()).toBe(2);
      await partnersLocker.query('commit');
      expect((await staying).status).toBe(200);
    } finally {
      await partnersLocker.end();
    }
  });
});
