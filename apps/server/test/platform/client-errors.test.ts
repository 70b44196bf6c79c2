import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, type TestTenant } from '../helpers/http.ts';
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
});
