import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  asTarget,
  childDatabase,
  PRINTED_KEY,
  type ServerProcess,
  startServerProcess,
} from '../helpers/child-process.ts';
import { call } from '../helpers/http.ts';

// The real `npm start` entry point, on PGlite in DATA_DIR (or on PostgreSQL when the suite runs
// there), killed without warning: what it answered with a 2xx before must be there after a restart.
vi.setConfig({ testTimeout: 120_000 });

let database: Awaited<ReturnType<typeof childDatabase>>;
let server: ServerProcess | undefined;

beforeAll(async () => {
  database = await childDatabase('partnerline-durability');
});
afterAll(async () => {
  if (server) await server.stop();
  await database.remove();
});

describe('a server killed without warning (SIGKILL)', () => {
  it('keeps every write it answered with a 2xx, and starts again on the same data', async () => {
    server = await startServerProcess(database.env);
    const target = asTarget(server);
    const adminKey = (server.stdout().match(PRINTED_KEY) as RegExpMatchArray)[0];

    const doomed = await call(target, 'POST', '/api/v1/api-keys', {
      key: adminKey,
      body: { name: 'doomed', scopes: ['read'] },
    });
    expect(doomed.status).toBe(201);
    // Forty partners, eight at a time, then a revocation and a change: the kill follows the
    // last answer at once, with no shutdown and no time for anything to be written later.
    const created: string[] = [];
    for (let batch = 0; batch < 5; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          call(target, 'POST', '/api/v1/partners', {
            key: adminKey,
            body: { email: `p${batch}-${i}@example.com`, name: `Partner ${batch}-${i}` },
          }),
        ),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(201);
        created.push(answer.body.data.id);
      }
    }
    const revoked = await call(target, 'DELETE', `/api/v1/api-keys/${doomed.body.data.id}`, {
      key: adminKey,
    });
    expect(revoked.status).toBe(200);
    const renamed = await call(target, 'PATCH', `/api/v1/partners/${created[0]}`, {
      key: adminKey,
      body: { name: 'Renamed last' },
    });
    expect(renamed.status).toBe(200);
    server.child.kill('SIGKILL');
    expect((await server.finished).signal).toBe('SIGKILL');

    server = await startServerProcess(database.env);
    const again = asTarget(server);
    // The first start's key works; no second first-start key is printed.
    expect(server.stdout()).not.toMatch(PRINTED_KEY);
    const listed = await call(again, 'GET', '/api/v1/partners?limit=100', { key: adminKey });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((partner: { id: string }) => partner.id).sort()).toEqual([...created].sort());
    const first = await call(again, 'GET', `/api/v1/partners/${created[0]}`, { key: adminKey });
    expect(first.body.data.name).toBe('Renamed last');
    const refused = await call(again, 'GET', '/api/v1/me', { key: doomed.body.data.key });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('api_key_revoked');
  });
});
