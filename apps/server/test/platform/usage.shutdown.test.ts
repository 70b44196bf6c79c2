import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { closeServices, createServices } from '../../src/platform/boot.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { type Database, openPglite, openPostgres } from '../../src/platform/db/index.ts';
import { tempDir } from '../helpers/child-process.ts';
import { createTestDatabase, onPostgres } from '../helpers/database.ts';
import { call, createKey, createTenant } from '../helpers/http.ts';
import { ADMIN_KEY, type TestServer } from '../helpers/server.ts';

it('a graceful shutdown writes the usage counts and log lines still in memory', async () => {
  // A database that outlives the server: a PGlite directory, or a PostgreSQL database reopened by URL.
  const dir = await tempDir('partnerline-shutdown');
  const pg = onPostgres ? await createTestDatabase() : undefined;
  const reopen = (): Promise<Database> => (pg?.url ? openPostgres(pg.url) : openPglite(dir.path));
  try {
    const services = await createServices(
      // The usage timer would only fire after a minute: whatever is stored was written by the shutdown.
      loadConfig({ NODE_ENV: 'test', ADMIN_API_KEY: ADMIN_KEY, USAGE_FLUSH_INTERVAL_MS: '60000' }),
      { database: pg?.database ?? (await reopen()) },
    );
    const app = await buildApp(services);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const server = { url, app, services } as unknown as TestServer;
    const tenant = await createTenant(server);
    const key = await createKey(server, tenant.key, { name: 'k', scopes: ['partners:read'] });
    for (let i = 0; i < 3; i++) {
      expect((await call(server, 'GET', '/api/v1/partners', { key: key.key })).status).toBe(200);
    }
    expect(services.requestRecorder.usage.pendingCount).toBeGreaterThan(0);
    await app.close();
    await closeServices(services);

    const database = await reopen();
    try {
      const usage = await sql<{ requests: number }>`
        select coalesce(sum(requests), 0)::int as requests from usage_minute where key_id = ${key.id}
      `.execute(database.db);
      expect(usage.rows[0]?.requests).toBe(3);
      const logs = await sql<{ n: number }>`
        select count(*)::int as n from request_logs where key_id = ${key.id}
      `.execute(database.db);
      expect(logs.rows[0]?.n).toBe(3);
    } finally {
      await database.close();
    }
  } finally {
    await pg?.drop();
    await dir.remove();
  }
});
