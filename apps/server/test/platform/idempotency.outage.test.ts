import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onPostgres } from '../helpers/database.ts';
import { createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// Row and table locks from connections of the test's own hold the request at the moments that
// matter, and pg_terminate_backend breaks the server's connection at one; PGlite has neither.
describe.skipIf(!onPostgres)('the connection breaks after the write, while its answer is stored', () => {
  let server: TestServer;
  let tenant: TestTenant;
  let admin: pg.Client;

  beforeAll(async () => {
    server = await startServer();
    tenant = await createTenant(server);
    admin = new pg.Client({ connectionString: server.databaseUrl });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await server?.close();
  });

  const post = (idempotencyKey: string, email: string) =>
    fetch(`${server.url}/api/v1/partners`, {
      method: 'POST',
      headers: {
        'x-api-key': tenant.key,
        'idempotency-key': idempotencyKey,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ email }),
    });

  /** Waits until a query of the server waits for a lock and its text starts with `start`. */
  async function waitingStatement(start: string): Promise<number> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const { rows } = await admin.query<{ pid: number }>(
        `select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'
         and query like $1`,
        [`${start}%`],
      );
      if (rows[0]) return rows[0].pid;
      await sleep(20);
    }
    const { rows } = await admin.query(
      `select wait_event_type, left(query, 80) as q from pg_stat_activity where datname = current_database()`,
    );
    throw new Error(`no statement starting with ${start} waits for a lock: ${JSON.stringify(rows)}`);
  }

  it('the client gets its 201, and a retry with the key replays it instead of writing again', async () => {
    const email = 'once@example.com';
    const partners = new pg.Client({ connectionString: server.databaseUrl });
    const claim = new pg.Client({ connectionString: server.databaseUrl });
    await Promise.all([partners.connect(), claim.connect()]);
    try {
      // The partner's insert waits for the table; meanwhile the key's claim is there to lock.
      await partners.query('begin');
      await partners.query('lock table partners in share mode');
      const first = post('outage-1', email);
      await waitingStatement('insert into "partners"');
      await claim.query('begin');
      await claim.query(`select 1 from idempotency_keys where key = 'outage-1' for update`);
      await partners.query('commit');
      // The partner is written; storing its answer waits for the claim's row, and its connection
      // breaks there.
      const storing = await waitingStatement('update "idempotency_keys"');
      await admin.query('select pg_terminate_backend($1)', [storing]);
      await claim.query('commit');
      const answer = await first;
      expect(answer.status).toBe(201);
      const created = (await answer.json()) as { data: { id: string } };
      // Until the answer is stored, the key stays claimed: a retry is told to wait, then replayed.
      let retry = await post('outage-1', email);
      const deadline = Date.now() + 10_000;
      while (retry.status === 409 && Date.now() < deadline) {
        await sleep(100);
        retry = await post('outage-1', email);
      }
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(((await retry.json()) as { data: { id: string } }).data.id).toBe(created.data.id);
      const { rows } = await admin.query('select count(*)::int as n from partners where email = $1', [email]);
      expect(rows[0].n).toBe(1);
    } finally {
      await Promise.all([partners.end(), claim.end()]);
    }
  });
});
