import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, call, createTenant, expectProblem, type TestTenant } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// Dates are taken from 0001-01-01 through 9999-12-31 (UTC): both PostgreSQL and JavaScript write
// those years with four digits. Outside the range is a 400; at its edges every filter still works.

let server: TestServer;
let tenant: TestTenant;
let partnerId: string;
beforeAll(async () => {
  server = await startServer();
  tenant = await createTenant(server);
  const partner = await call(server, 'POST', '/api/v1/partners', {
    key: tenant.key,
    body: { email: 'dated@example.com' },
  });
  partnerId = partner.body.data.id;
});
afterAll(() => server.close());

const RANGE = '0001-01-01 through 9999-12-31 (UTC)';

function expectOutOfRange(response: ApiResponse, field: string): void {
  expectProblem(response, 400, 'validation_error');
  expect(response.body.errors).toEqual([
    { field, code: 'out_of_range', message: `${field} must be from ${RANGE}` },
  ]);
}

/** Neither `+010000-…` nor `-000001-…` nor year 0000 in an answer. */
function expectFourDigitYears(response: ApiResponse): void {
  expect(JSON.stringify(response.body)).not.toMatch(/"[+-]\d{6}-|"0000-/);
}

describe('a date filter outside the supported range: 400 naming the field and the range', () => {
  it.each([
    ['/api/v1/partners?createdFrom=0000-01-01', 'createdFrom'],
    ['/api/v1/partners?createdTo=0000-01-01', 'createdTo'],
    ['/api/v1/partners?createdFrom=0000-01-01T00:00:00Z', 'createdFrom'],
    ['/api/v1/partners?createdFrom=0001-01-01T00:00:00%2B01:00', 'createdFrom'],
    ['/api/v1/partners?createdTo=9999-12-31T23:00:00-05:00', 'createdTo'],
    ['/api/v1/customers?createdFrom=0000-01-01', 'createdFrom'],
    ['/api/v1/customers?createdTo=0000-12-31', 'createdTo'],
    ['/api/v1/request-logs?from=0000-01-01', 'from'],
    ['/api/v1/usage?from=0000-01-01', 'from'],
    ['/api/v1/usage?to=0000-12-31', 'to'],
    ['/api/v1/transactions?from=0000-01-01', 'from'],
    ['/api/v1/commissions?to=0000-01-01', 'to'],
    ['/api/v1/events?from=0000-01-01', 'from'],
    ['/api/v1/payouts?from=0000-01-01', 'from'],
    ['/api/v1/audit-log?from=0000-01-01', 'from'],
  ])('GET %s', async (path, field) => {
    expectOutOfRange(await call(server, 'GET', path, { key: tenant.key }), field);
  });

  it('GET /api-keys/{id}/usage?to=0000-12-31', async () => {
    const response = await call(server, 'GET', `/api/v1/api-keys/${tenant.keyId}/usage?to=0000-12-31`, {
      key: tenant.key,
    });
    expectOutOfRange(response, 'to');
  });
});

describe('the edges of the supported range', () => {
  it.each([
    '/api/v1/partners?createdFrom=0001-01-01&createdTo=9999-12-31',
    '/api/v1/partners?createdFrom=0001-01-01T00:00:00Z&createdTo=9999-12-31T23:59:59.999Z',
    '/api/v1/customers?createdFrom=0001-01-01&createdTo=9999-12-31',
  ])('GET %s: 200', async (path) => {
    const response = await call(server, 'GET', path, { key: tenant.key });
    expect(response.status).toBe(200);
    if (path.startsWith('/api/v1/partners')) {
      expect(response.body.data.map((p: { id: string }) => p.id)).toEqual([partnerId]);
    }
  });

  it.each(['/api/v1/request-logs?to=9999-12-31', '/api/v1/request-logs?from=0001-01-01&to=9999-12-31'])(
    'GET %s: 200',
    async (path) => {
      const response = await call(server, 'GET', path, { key: tenant.key });
      expect(response.status).toBe(200);
      expectFourDigitYears(response);
    },
  );

  it.each([
    '/api/v1/partners?createdFrom=9999-12-31T23:59:59.9999Z',
    '/api/v1/partners?createdFrom=9999-12-31T23:59:59.999001Z&createdTo=9999-12-31',
    '/api/v1/request-logs?from=9999-12-31T23:59:59.9999Z',
    '/api/v1/audit-log?from=9999-12-31T23:59:59.9999Z',
    '/api/v1/events?from=9999-12-31T23:59:59.9999Z',
  ])('GET %s, a part of the last millisecond: 200, nothing after it', async (path) => {
    const response = await call(server, 'GET', path, { key: tenant.key });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual([]);
  });

  it.each(['minute', 'hour', 'day', 'week', 'month'])(
    'GET /usage?to=9999-12-31&granularity=%s: 200, the last bucket ending at the last instant',
    async (granularity) => {
      const response = await call(server, 'GET', `/api/v1/usage?to=9999-12-31&granularity=${granularity}`, {
        key: tenant.key,
      });
      expect(response.status).toBe(200);
      expect(response.body.meta.to).toBe('9999-12-31T23:59:59.999Z');
      expectFourDigitYears(response);
    },
  );

  it('GET /api-keys/{id}/usage?to=9999-12-31: 200', async () => {
    const response = await call(server, 'GET', `/api/v1/api-keys/${tenant.keyId}/usage?to=9999-12-31`, {
      key: tenant.key,
    });
    expect(response.status).toBe(200);
    expectFourDigitYears(response);
  });

  it.each([
    ['month', '0001-01-01T00:00:00.000Z', '0002-01-01T00:00:00.000Z'],
    ['week', '0001-01-01T00:00:00.000Z', '0002-01-07T00:00:00.000Z'],
    ['day', '0001-01-01T00:00:00.000Z', '0002-01-01T00:00:00.000Z'],
  ])('GET /usage from 0001-01-01 by %s: buckets of year 1, not 1901', async (granularity, from, to) => {
    const response = await call(
      server,
      'GET',
      `/api/v1/usage?from=0001-01-01&to=0001-12-31&granularity=${granularity}`,
      { key: tenant.key },
    );
    expect(response.status).toBe(200);
    expect(response.body.meta).toMatchObject({ from, to });
  });

  it('GET /usage with no from just after 0001-01-01: starts at the first instant', async () => {
    const response = await call(server, 'GET', '/api/v1/usage?to=0001-01-02', { key: tenant.key });
    expect(response.status).toBe(200);
    expect(response.body.meta).toMatchObject({
      from: '0001-01-01T00:00:00.000Z',
      to: '0001-01-03T00:00:00.000Z',
    });
  });
});

describe('a timestamp in a body outside the supported range: 400, nothing written', () => {
  it.each([
    ['past the last instant', '9999-12-31T23:59:59-05:00'],
    ['in year 0000', '0000-06-01T00:00:00Z'],
    ['a leap second JavaScript cannot read', '2030-12-31T23:59:60Z'],
  ])('POST /api-keys with expiresAt %s', async (_, expiresAt) => {
    const before = await call(server, 'GET', '/api/v1/api-keys', { key: tenant.key });
    const response = await call(server, 'POST', '/api/v1/api-keys', {
      key: tenant.key,
      body: { name: 'edge', scopes: ['read'], expiresAt },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(response.body.errors).toEqual([
      {
        field: 'expiresAt',
        code: 'invalid_format',
        message: `expiresAt must be an ISO 8601 timestamp from ${RANGE}`,
      },
    ]);
    const after = await call(server, 'GET', '/api/v1/api-keys', { key: tenant.key });
    expect(after.body.data).toEqual(before.body.data);
  });

  it('POST /events with occurredAt in year 0000', async () => {
    const before = await call(server, 'GET', '/api/v1/events', { key: tenant.key });
    const response = await call(server, 'POST', '/api/v1/events', {
      key: tenant.key,
      body: { type: 'lead', occurredAt: '0000-01-01T00:00:00Z', customer: { externalId: 'edge-1' } },
    });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toEqual(['occurredAt']);
    const after = await call(server, 'GET', '/api/v1/events', { key: tenant.key });
    expect(after.body.data).toEqual(before.body.data);
  });
});

describe('a stored date of the years 0001 to 0099 reads back as written', () => {
  it.each(['0001-01-01T00:00:00.000Z', '0049-06-30T12:00:00.000Z', '0099-12-31T23:59:59.999Z'])(
    'a sale that occurred at %s',
    async (occurredAt) => {
      const sale = await call(server, 'POST', '/api/v1/events', {
        key: tenant.key,
        body: {
          type: 'sale',
          partnerId,
          customer: { externalId: `ancient-${occurredAt}` },
          amount: '10.00',
          currency: 'EUR',
          occurredAt,
        },
      });
      expect(sale.status).toBe(201);
      expect(sale.body.data.occurredAt).toBe(occurredAt);
      const stored = await call(server, 'GET', `/api/v1/events/${sale.body.data.id}`, { key: tenant.key });
      expect(stored.body.data.occurredAt).toBe(occurredAt);
      const [transaction] = (
        await call(server, 'GET', `/api/v1/transactions?to=${occurredAt}&from=${occurredAt}`, {
          key: tenant.key,
        })
      ).body.data;
      expect(transaction.occurredAt).toBe(occurredAt);
    },
  );
});

describe('a timestamp means the same as a date filter and in a body', () => {
  // RFC 3339 forms a body's date-time takes: each is a filter bound too, at the same instant.
  it.each([
    '2026-03-01t10:00:00z',
    '2026-03-01 10:00:00Z',
    '2026-03-01T10:00:00.1234567Z',
    '2026-03-01T10:00:00.123456789Z',
    '2026-03-01T11:00:00+0100',
  ])('%s', async (at) => {
    const posted = await call(server, 'POST', '/api/v1/events', {
      key: tenant.key,
      body: { type: 'click', partnerId, occurredAt: at },
    });
    expect(posted.status).toBe(201);
    const upTo = await call(
      server,
      'GET',
      `/api/v1/events?from=2026-03-01&to=${encodeURIComponent(at)}&limit=100`,
      { key: tenant.key },
    );
    expect(upTo.status).toBe(200);
    expect(upTo.body.data.map((event: { id: string }) => event.id)).toContain(posted.body.data.id);
  });

  it('hour 24 is refused in both', async () => {
    const posted = await call(server, 'POST', '/api/v1/events', {
      key: tenant.key,
      body: { type: 'click', partnerId, occurredAt: '2026-03-01T24:00:00Z' },
    });
    expectProblem(posted, 400, 'validation_error');
    expect(posted.body.errors[0].field).toBe('occurredAt');
    const filtered = await call(server, 'GET', '/api/v1/events?from=2026-03-01T24:00:00Z', {
      key: tenant.key,
    });
    expectProblem(filtered, 400, 'validation_error');
    expect(filtered.body.errors[0].field).toBe('from');
  });
});
