import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onPostgres } from '../helpers/database.ts';
import { call, createKey, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

/** Sends `raw` bytes as they are and resolves with everything the server answers until it closes. */
function sendRaw(raw: string, target = server): Promise<string> {
  const { hostname, port } = new URL(target.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(raw));
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
    });
    socket.once('error', reject);
    socket.once('close', () => resolve(answer));
  });
}

/** The status, headers (lower-case names) and parsed body of a raw HTTP/1.1 answer. */
function parse(answer: string) {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [
      line.slice(0, line.indexOf(':')).toLowerCase(),
      line.slice(line.indexOf(':') + 1).trim(),
    ]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) };
}

describe("requests Node's HTTP parser refuses", () => {
  it.each([
    ['a header line without a colon', 'GET /api/v1/partners HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n'],
    [
      'a Content-Length that is not a number',
      'POST /api/v1/partners HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
    ],
    [
      'a control character in a header value',
      'GET /api/v1/partners HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x01b\r\n\r\n',
    ],
  ])('%s: a 400 validation_error problem with a request id', async (_, raw) => {
    const { status, headers, body } = parse(await sendRaw(raw));
    expect(status).toBe(400);
    expect(headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(headers['x-request-id']).toMatch(/^req_[0-9a-z]{26}$/);
    expect(headers.connection).toBe('close');
    expect(body).toMatchObject({
      type: 'https://partnerline.dev/problems/validation_error',
      status: 400,
      code: 'validation_error',
      detail: expect.stringContaining('HTTP/1.1'),
      requestId: headers['x-request-id'],
    });
  });

  it('headers over the size limit: a 431 headers_too_large problem with a request id', async () => {
    const raw = `GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-API-Key: ${'k'.repeat(20_000)}\r\n\r\n`;
    const { status, headers, body } = parse(await sendRaw(raw));
    expect(status).toBe(431);
    expect(headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(body).toMatchObject({
      type: 'https://partnerline.dev/problems/headers_too_large',
      title: 'Request headers too large',
      status: 431,
      code: 'headers_too_large',
      requestId: headers['x-request-id'],
    });
    expect(Number(headers['content-length'])).toBe(Buffer.byteLength(JSON.stringify(body)));
  });

  it('the server goes on answering afterwards', async () => {
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
  });
});

describe('an HTTP/1.1 request without a Host header', () => {
  it('is a 400 problem naming Host, with a request id', async () => {
    const answer = await sendRaw(
      'GET /api/v1/me HTTP/1.1\r\nX-API-Key: plk_live_x\r\nConnection: close\r\n\r\n',
    );
    const { status, headers, body } = parse(answer);
    expect(status).toBe(400);
    expect(headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(headers['x-request-id']).toMatch(/^req_[0-9a-z]{26}$/);
    expect(body).toMatchObject({
      code: 'validation_error',
      errors: [{ field: 'Host', code: 'required', message: 'Host is required' }],
      requestId: headers['x-request-id'],
    });
  });

  it('HTTP/1.0 needs none', async () => {
    const { status } = parse(await sendRaw('GET /health HTTP/1.0\r\n\r\n'));
    expect(status).toBe(200);
  });
});

describe('a fragment (#) in the request target', () => {
  it.each(['/api/v1/me#x', '/api/v1/partners#limit=1', '/api/v1/partners?limit=1#x', '/health#'])(
    'GET %s: 400 naming the url, not read as a query string',
    async (target) => {
      const { status, body } = parse(
        await sendRaw(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      );
      expect(status).toBe(400);
      expect(body).toMatchObject({
        code: 'validation_error',
        errors: [{ field: 'url', code: 'invalid_format', message: 'url must not contain #' }],
      });
    },
  );
});

describe('Expect', () => {
  it.each(['200-bogus', 'something-else', ''])(
    'an expectation the server cannot meet (%j): a 417 expectation_failed problem with a request id',
    async (expectation) => {
      const answer = await sendRaw(
        `GET /health HTTP/1.1\r\nHost: x\r\nExpect: ${expectation}\r\nConnection: close\r\n\r\n`,
      );
      const { status, headers, body } = parse(answer);
      expect(status).toBe(417);
      expect(headers['content-type']).toBe('application/problem+json; charset=utf-8');
      expect(headers['x-request-id']).toMatch(/^req_[0-9a-z]{26}$/);
      expect(body).toMatchObject({
        type: 'https://partnerline.dev/problems/expectation_failed',
        status: 417,
        code: 'expectation_failed',
        detail: expect.stringContaining('100-continue'),
        requestId: headers['x-request-id'],
      });
    },
  );

  it.each(['100-continue, something-else', 'something-else, 100-continue'])(
    'a list naming 100-continue among others (%j): 417 before any 100 Continue',
    async (expectation) => {
      const answer = await sendRaw(
        `POST /api/t/some-tenant/v1/partners HTTP/1.1\r\nHost: x\r\nExpect: ${expectation}\r\n` +
          'Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
      );
      expect(answer.startsWith('HTTP/1.1 417 ')).toBe(true);
      expect(parse(answer).body.code).toBe('expectation_failed');
    },
  );

  it('100-continue is met: the interim 100, then the answer', async () => {
    const answer = await sendRaw(
      'POST /api/t/some-tenant/v1/partners HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\n' +
        'Content-Length: 2\r\nConnection: close\r\n\r\n{}',
    );
    expect(answer.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true);
    const { status, body } = parse(answer.slice('HTTP/1.1 100 Continue\r\n\r\n'.length));
    // No key: the request got past Expect to the gate.
    expect(status).toBe(401);
    expect(body.code).toBe('api_key_missing');
  });
});

describe('a request that arrives too slowly (REQUEST_TIMEOUT_SECONDS=1)', () => {
  let slow: TestServer;
  let tenant: TestTenant;
  beforeAll(async () => {
    slow = await startServer({ env: { REQUEST_TIMEOUT_SECONDS: '1' } });
    tenant = await createTenant(slow);
  });
  afterAll(() => slow.close());

  it('a body that stops short of its Content-Length: a 408 problem, and the connection is closed', async () => {
    // Without a request timeout, this waits for an answer that never comes, until the test's own.
    const answer = await sendRaw(
      `POST /api/v1/partners HTTP/1.1\r\nHost: x\r\nX-API-Key: ${tenant.key}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":',
      slow,
    );
    const { status, headers, body } = parse(answer);
    expect(status).toBe(408);
    expect(headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(body).toMatchObject({ code: 'request_timeout', requestId: headers['x-request-id'] });
  });

  it('is counted, metered and logged for its key under the id its 408 carried', async () => {
    const key = await createKey(slow, tenant.key, { name: 'slow upload', scopes: ['partners:write'] });
    const answer = await sendRaw(
      `POST /api/v1/partners HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key.key}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":',
      slow,
    );
    const requestId = parse(answer).headers['x-request-id'];
    await slow.services.requestRecorder.flush();
    const lines = await call(slow, 'GET', `/api/v1/request-logs?keyId=${key.id}`, { key: tenant.key });
    expect(lines.body.data).toEqual([
      expect.objectContaining({ id: requestId, method: 'POST', status: 408, errorCode: 'request_timeout' }),
    ]);
    const usage = await call(slow, 'GET', `/api/v1/api-keys/${key.id}/usage`, { key: tenant.key });
    expect(usage.body.totals).toMatchObject({ requests: 1, clientErrors: 1 });
  });
});

describe('a request whose client goes away before the answer', () => {
  let tenant: TestTenant;
  beforeAll(async () => {
    tenant = await createTenant(server);
  });

  /** The key's request-log lines, once the recorder has written them. */
  async function loggedLines(keyId: string): Promise<any[]> {
    const deadline = Date.now() + 5_000;
    let logged: any[] = [];
    while (logged.length === 0 && Date.now() < deadline) {
      await server.services.requestRecorder.flush();
      logged = (await call(server, 'GET', `/api/v1/request-logs?keyId=${keyId}`, { key: tenant.key })).body
        .data;
    }
    return logged;
  }

  it('an upload cut off mid-body: counted, metered and logged once', async () => {
    const key = await createKey(server, tenant.key, { name: 'cut off', scopes: ['partners:write'] });
    const { hostname, port } = new URL(server.url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write(
          `POST /api/v1/partners HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key.key}\r\n` +
            'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":',
        );
        // Time for the server to take the request and start reading its body.
        setTimeout(() => socket.destroy(), 200);
      });
      socket.once('error', reject);
      socket.once('close', () => resolve());
    });
    // The server may still write its 400 for the incomplete body before it sees the connection
    // gone; either way the request is there once.
    const logged = await loggedLines(key.id);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ method: 'POST', path: '/api/v1/partners' });
    expect([400, 499]).toContain(logged[0].status);
    const usage = await call(server, 'GET', `/api/v1/api-keys/${key.id}/usage`, { key: tenant.key });
    expect(usage.body.totals).toMatchObject({ requests: 1, clientErrors: 1 });
  });

  /**
   * Sends each GET (path and key) on a connection of its own while a table is locked, closes the
   * connections while their requests wait on the lock, then lets them go on.
   */
  async function abandonWhileLocked(table: string, requests: [path: string, key: string][]): Promise<void> {
    const locker = new pg.Client({ connectionString: server.databaseUrl });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query(`lock table ${table} in access exclusive mode`);
      const { hostname, port } = new URL(server.url);
      const sockets = requests.map(([path, key]) => {
        const socket = connect(Number(port), hostname, () =>
          socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${key}\r\n\r\n`),
        );
        socket.on('error', () => {});
        return socket;
      });
      await sleep(300);
      for (const socket of sockets) socket.destroy();
      await sleep(100);
      await locker.query('commit');
    } finally {
      await locker.end();
    }
  }

  /** The key's one request is logged as 499 and counted once in its usage. */
  async function expectRecordedAs499(keyId: string, where: string): Promise<void> {
    expect(await loggedLines(keyId), where).toEqual([
      expect.objectContaining({
        method: 'GET',
        status: 499,
        errorCode: 'client_closed_request',
        responseBytes: null,
      }),
    ]);
    const usage = await call(server, 'GET', `/api/v1/api-keys/${keyId}/usage`, { key: tenant.key });
    expect(usage.body.totals, where).toMatchObject({ requests: 1, clientErrors: 1 });
  }

  // A lock on the keys table holds the gate's first look-up of a key back; PGlite has one connection.
  it.skipIf(!onPostgres)(
    'gone while the gate looks up its key: recorded for the key once the gate is done',
    async () => {
      const paths = ['/api/v1/customers', '/api/v1/partners/%zz'];
      const keys = await Promise.all(
        paths.map((_, i) => createKey(server, tenant.key, { name: `not cached ${i}`, scopes: ['read'] })),
      );
      await abandonWhileLocked(
        'api_keys',
        paths.map((path, i) => [path, keys[i]?.key ?? '']),
      );
      for (const [i, key] of keys.entries()) await expectRecordedAs499(key.id, paths[i] ?? '');
    },
  );

  // A lock on the table the route reads holds its answer back.
  it.skipIf(!onPostgres)(
    'gone while its answer is prepared: logged as 499 client_closed_request',
    async () => {
      const key = await createKey(server, tenant.key, { name: 'impatient', scopes: ['read'] });
      await abandonWhileLocked('customers', [['/api/v1/customers', key.key]]);
      await expectRecordedAs499(key.id, '/api/v1/customers');
    },
  );
});

describe('/metrics counts what the HTTP parser answered', () => {
  it('a malformed request: one more 400 under method OTHER and route unmatched', async () => {
    const count = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const line = text
        .split('\n')
        .find(
          (row) =>
            row.startsWith('partnerline_http_requests_total{') &&
            row.includes('route="unmatched"') &&
            row.includes('method="OTHER"') &&
            row.includes('status="400"'),
        );
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    const before = await count();
    await sendRaw('GET /api/v1/partners HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n');
    expect(await count()).toBe(before + 1);
  });
});
