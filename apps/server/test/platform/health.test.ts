import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onPostgres } from '../helpers/database.ts';
import { call } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

describe('health', () => {
  it('GET /health answers ok without a key', async () => {
    const response = await call(server, 'GET', '/health');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
    expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-z]{26}$/);
  });

  it('GET /ready checks the database', async () => {
    const response = await call(server, 'GET', '/ready');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });
});

// PGlite answers one statement at a time: a transaction that does not end holds every other one.
describe.skipIf(onPostgres)('GET /ready while the database does not answer', () => {
  it('answers 503 instead of waiting for it', async () => {
    let release: () => void = () => {};
    const held = server.services.db.transaction().execute(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    try {
      const response = await call(server, 'GET', '/ready');
      expect([response.status, response.body.code]).toEqual([503, 'service_unavailable']);
    } finally {
      release();
      await held;
    }
    expect((await call(server, 'GET', '/ready')).status).toBe(200);
  });
});
