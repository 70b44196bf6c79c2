import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openPglite } from '../../src/platform/db/index.ts';
import { asTarget, PRINTED_KEY, startServerProcess, tempDir } from '../helpers/child-process.ts';
import { call } from '../helpers/http.ts';

// The real entry point on PGlite in DATA_DIR, started twice: a process that lives less than an
// hour still prunes what its retention jobs would.
vi.setConfig({ testTimeout: 120_000 });

let dataDir: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  dataDir = await tempDir('partnerline-retention-at-start');
});
afterAll(() => dataDir.remove());

/** Runs `work` on the stopped server's database. */
async function onDatabase<T>(
  work: (db: Awaited<ReturnType<typeof openPglite>>['db']) => Promise<T>,
): Promise<T> {
  const database = await openPglite(dataDir.path);
  try {
    return await work(database.db);
  } finally {
    await database.close();
  }
}

const oldMinutes = (db: Awaited<ReturnType<typeof openPglite>>['db']) =>
  sql<{ n: number }>`select count(*)::int as n from usage_minute where bucket < now() - interval '7 days'`
    .execute(db)
    .then((result) => result.rows[0]?.n);

describe('usage retention', () => {
  it('runs as a server starts, not only an hour later', async () => {
    const first = await startServerProcess({ DATA_DIR: dataDir.path });
    const key = (first.stdout().match(PRINTED_KEY) as RegExpMatchArray)[0];
    expect((await call(asTarget(first), 'GET', '/api/v1/me', { key })).status).toBe(200);
    expect((await first.stop()).code).toBe(0);

    // The minute rows of eight days ago, as an earlier run would have left them.
    await onDatabase(async (db) => {
      await sql`create temporary table aged as select * from usage_minute`.execute(db);
      await sql`update aged set bucket = bucket - interval '8 days'`.execute(db);
      await sql`insert into usage_minute select * from aged`.execute(db);
      expect(await oldMinutes(db)).toBeGreaterThan(0);
    });

    const second = await startServerProcess({ DATA_DIR: dataDir.path });
    expect((await second.stop()).code).toBe(0);
    expect(await onDatabase(oldMinutes)).toBe(0);
  });
});
