import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, call, createTenant, expectProblem, type TestTenant } from '../helpers/http.ts';
import { ADMIN_KEY, startServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let tenant: TestTenant;
beforeAll(async () => {
  server = await startServer();
  tenant = await createTenant(server);
});
afterAll(() => server.close());

const SLUG_RULE = 'must be 3-40 characters of a-z, 0-9 and -, not starting or ending with -';
const GROUP_KEY_RULE = 'must be 1-64 characters of a-z, 0-9, _ and -, starting with a letter or digit';
const DATE_RULE =
  'must be YYYY-MM-DD or an ISO 8601 timestamp with a time zone, such as 2026-05-01T12:00:00Z';

describe('a value that does not match its pattern', () => {
  it.each([
    ['a tenant slug', 'POST', '/api/admin/tenants', { slug: 'Acme_2', name: 'x' }, 'slug', SLUG_RULE],
    [
      'a referral code',
      'POST',
      '/api/v1/partners',
      { email: 'pattern-rc@example.com', referralCode: 'a b' },
      'referralCode',
      'must be 3-40 characters of A-Z, a-z, 0-9, _ and -',
    ],
    [
      "a partner's group key",
      'POST',
      '/api/v1/partners',
      { email: 'pattern-gk@example.com', groupKey: 'Bad Key!' },
      'groupKey',
      GROUP_KEY_RULE,
    ],
    [
      'a group key',
      'POST',
      '/api/v1/partner-groups',
      { key: 'Bad Key!', name: 'Bad' },
      'key',
      GROUP_KEY_RULE,
    ],
    [
      'an amount',
      'POST',
      '/api/v1/partner-groups',
      { key: 'amounts', name: 'Amounts', leadCommission: { amounts: [{ amount: '5,00', currency: 'EUR' }] } },
      'leadCommission.amounts.0.amount',
      'must be a decimal number written as a string, such as "12.00": an optional -, 1-15 digits, then at most 4 decimals after a point',
    ],
    ['a date filter', 'GET', '/api/v1/partners?createdFrom=garbage', undefined, 'createdFrom', DATE_RULE],
    [
      'an id filter',
      'GET',
      '/api/v1/customers?partnerId=prt_nope',
      undefined,
      'partnerId',
      'must be an id of the form prt_ then 26 characters of 0-9 and a-z but i, l, o and u, the first 0-7',
    ],
    [
      'a payout period',
      'GET',
      '/api/v1/payouts?period=2026-13',
      undefined,
      'period',
      'must be a month written YYYY-MM, such as 2026-05',
    ],
    [
      'a currency',
      'GET',
      '/api/v1/payouts?currency=eur',
      undefined,
      'currency',
      'must be an ISO 4217 code of three capital letters, such as EUR',
    ],
  ])('%s: 400 that says what the field takes', async (_, method, path, body, field, rule) => {
    const key = path.startsWith('/api/admin/') ? ADMIN_KEY : tenant.key;
    const response = await call(server, method, path, { key, ...(body === undefined ? {} : { body }) });
    expectFieldError(response, field, 'invalid_format', `${field} ${rule}`);
  });

  it('a date filter that matches the pattern but names no day gets the same words', async () => {
    const response = await call(server, 'GET', '/api/v1/partners?createdFrom=2026-13-01', {
      key: tenant.key,
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([
      { field: 'createdFrom', code: 'invalid_format', message: `createdFrom ${DATE_RULE}` },
    ]);
  });

  it('every pattern a request can be refused by comes with its words in the OpenAPI document', async () => {
    const doc = (await call(server, 'GET', '/api/doc.json')).body;
    const unexplained: string[] = [];
    let explained = 0;
    const walk = (node: unknown, path: string) => {
      if (typeof node !== 'object' || node === null) return;
      const schema = node as Record<string, unknown>;
      if (typeof schema.pattern === 'string') {
        if (typeof schema['x-pattern-rule'] === 'string') explained++;
        else unexplained.push(path);
      }
      for (const [key, child] of Object.entries(schema)) walk(child, `${path}/${key}`);
    };
    for (const [route, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(item)) {
        walk(operation.requestBody, `${method} ${route} body`);
        // Idempotency-Key, a header, included.
        walk(operation.parameters, `${method} ${route} parameters`);
      }
    }
    walk(doc.components?.schemas, 'components/schemas');
    expect(unexplained).toEqual([]);
    expect(explained).toBeGreaterThan(20);
  });
});

describe('one error per field', () => {
  it('a slug too short for its pattern too: only the first, its length', async () => {
    const response = await call(server, 'POST', '/api/admin/tenants', {
      key: ADMIN_KEY,
      body: { slug: 'ab', name: 'Short' },
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([
      { field: 'slug', code: 'too_short', message: 'slug must be at least 3 characters' },
    ]);
  });

  it('other fields keep their own errors', async () => {
    const response = await call(server, 'POST', '/api/admin/tenants', {
      key: ADMIN_KEY,
      body: { slug: 'A', name: '' },
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toEqual(['slug', 'name']);
  });
});

describe('names and values from the request, quoted in errors', () => {
  const long = 'k'.repeat(200_000);
  const shown = `${'k'.repeat(64)}…`;

  it('a metadata name of 200,000 characters: a small 400 quoting its first 64', async () => {
    const response = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      body: { email: 'long-name@example.com', metadata: { [long]: 'v' } },
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([
      {
        field: `metadata.${shown}`,
        code: 'invalid_format',
        message: `metadata.${shown} is not an allowed name (1-40 characters of A-Z a-z 0-9 _ . -)`,
      },
    ]);
    expect(JSON.stringify(response.body).length).toBeLessThan(1_000);
  });

  it('an unknown body field of 200,000 characters: the same', async () => {
    const response = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      body: { email: 'long-field@example.com', [long]: 1 },
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([
      { field: shown, code: 'unknown_field', message: `${shown} is not a known field` },
    ]);
    expect(JSON.stringify(response.body).length).toBeLessThan(1_000);
  });

  it('an unknown query parameter with a long name: the same', async () => {
    const name = 'q'.repeat(4_000);
    const response = await call(server, 'GET', `/api/v1/partners?${name}=1`, { key: tenant.key });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors[0].field).toBe(`${'q'.repeat(64)}…`);
    expect(JSON.stringify(response.body).length).toBeLessThan(1_000);
  });

  it('a value under a long metadata name: the name is quoted in its field', async () => {
    const name = 'n'.repeat(100);
    const response = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      body: { email: 'long-value@example.com', metadata: { [name]: 5 } },
    });
    expectProblem(response, 400, 'validation_error');
    for (const error of response.body.errors) {
      expect(error.field).toBe(`metadata.${'n'.repeat(64)}…`);
      expect(error.message).not.toContain('n'.repeat(65));
    }
  });

  it('an empty metadata name: the message says so', async () => {
    const response = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      body: { email: 'empty-name@example.com', metadata: { '': 'v' } },
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([
      {
        field: 'metadata',
        code: 'invalid_format',
        message: 'metadata must not have an empty name: names are 1-40 characters of A-Z a-z 0-9 _ . -',
      },
    ]);
  });
});

describe('a query parameter given more than once', () => {
  it.each([
    ['an integer', 'limit=50&limit=60', 'limit'],
    ['an enum', 'status=active&status=revoked', 'status'],
    ['a date filter', 'createdFrom=2026-01-01&createdFrom=2026-02-01', 'createdFrom'],
    ['the same value twice', 'limit=50&limit=50', 'limit'],
  ])('%s: 400 duplicate_parameter', async (_, query, field) => {
    const response = await call(server, 'GET', `/api/v1/partners?${query}`, { key: tenant.key });
    expectFieldError(response, field, 'duplicate_parameter', `${field} is given more than once`);
  });

  it('beside other errors, each field once', async () => {
    const response = await call(server, 'GET', '/api/v1/partners?limit=1&limit=2&status=nope', {
      key: tenant.key,
    });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([
      { field: 'limit', code: 'duplicate_parameter', message: 'limit is given more than once' },
      { field: 'status', code: 'invalid_value', message: expect.stringContaining('status must be one of') },
    ]);
  });

  it('given once, it is taken as before', async () => {
    const response = await call(server, 'GET', '/api/v1/partners?limit=60&status=active', {
      key: tenant.key,
    });
    expect(response.status).toBe(200);
    expect(response.body.pagination.limit).toBe(60);
  });
});

/** A 400 whose one error is `field`'s, with `code` and `message`, which is also its detail. */
function expectFieldError(response: ApiResponse, field: string, code: string, message: string): void {
  expectProblem(response, 400, 'validation_error');
  expect(response.body.errors).toEqual([{ field, code, message }]);
  expect(response.body.detail).toBe(message);
}

describe('a query string that is not valid percent-encoding of UTF-8', () => {
  it.each([
    ['/api/v1/partners?q=%C3%28', 'q'],
    ['/api/v1/partners?limit=10&q=%FF', 'q'],
    ['/api/v1/partners?q=%zz', 'q'],
    ['/api/v1/partners?q=ok&status=%E2%82', 'status'],
    ['/api/v1/partners?%FF=1', 'query'],
    ['/api/v1/me?x=%', 'x'],
  ])('GET %s: 400 naming %s', async (path, field) => {
    const response = await call(server, 'GET', path, { key: tenant.key });
    expectProblem(response, 400, 'validation_error');
    expect(response.body.errors).toEqual([
      {
        field,
        code: 'invalid_format',
        message: `${field} is not valid percent-encoding of UTF-8 (write a literal % as %25)`,
      },
    ]);
  });

  it('the literal text, encoded, is searched for', async () => {
    const created = await call(server, 'POST', '/api/v1/partners', {
      key: tenant.key,
      body: { email: 'percent@example.com', name: 'Sale 100%C3%28 off' },
    });
    expect(created.status).toBe(201);
    const found = await call(server, 'GET', '/api/v1/partners?q=%25C3%2528', { key: tenant.key });
    expect(found.status).toBe(200);
    expect(found.body.data.map((partner: { id: string }) => partner.id)).toEqual([created.body.data.id]);
    const plusAndSpace = await call(server, 'GET', '/api/v1/partners?q=Sale+100%25', { key: tenant.key });
    expect(plusAndSpace.body.data.map((partner: { id: string }) => partner.id)).toEqual([
      created.body.data.id,
    ]);
  });
});
