import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/child-process.ts';
import { onPostgres } from '../helpers/database.ts';
import { call, createKey, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { type PostgresProxy, startTcpProxy } from '../helpers/tcp-proxy.ts';

// The server reaches PostgreSQL through a proxy that can drop the answer to a COMMIT it passed on;
// PGlite runs inside the process, where no answer gets lost.
describe.skipIf(!onPostgres)('a usage flush whose COMMIT answer is lost', () => {
  let proxy: PostgresProxy;
  let server: TestServer;
  let tenant: TestTenant;

  beforeAll(async () => {
    const port = await freePort();
    proxy = await startTcpProxy(port, new URL(process.env.DATABASE_URL as string), 5432);
    server = await startServer({
      // Flushed by the test alone.
      env: { USAGE_FLUSH_INTERVAL_MS: '60000' },
      databaseVia: (url) => {
        const proxied = new URL(url);
        proxied.hostname = '127.0.0.1';
        proxied.port = String(port);
        return proxied.toString();
      },
    });
    tenant = await createTenant(server);
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
  });

  it('is not counted twice: the next flush finds it stored and drops its copy', async () => {
    const key = await createKey(server, tenant.key, { name: 'counted once', scopes: ['read'] });
    for (let i = 0; i < 10; i++) {
      expect((await call(server, 'GET', '/api/v1/me', { key: key.key })).status).toBe(200);
    }
    proxy.loseNextCommitAnswer('usage_minute');
    const usage = server.services.requestRecorder.usage;
    await usage.flush();
    expect(usage.failures).toBe(1);
    // Stored after all: the next flush looks its id up and writes nothing of it again.
    await usage.flush();
    expect(usage.pendingCount).toBe(0);
    const { rows } = await sql<{ requests: number }>`
      select coalesce(sum(requests), 0)::int as requests from usage_minute where key_id = ${key.id}`.execute(
      server.services.db,
    );
    expect(rows[0]?.requests).toBe(10);
    const answered = await call(server, 'GET', `/api/v1/api-keys/${key.id}/usage`, { key: tenant.key });
    expect(answered.body.totals.requests).toBe(10);
  });
});
