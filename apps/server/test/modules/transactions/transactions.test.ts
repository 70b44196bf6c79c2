import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createKey, createTenant, type TestTenant } from '../../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../../helpers/server.ts';

const TXN_ID = /^txn_[0-7][0-9a-hjkmnp-tv-z]{25}$/;

// After every sale below, so all of them are back-dated, never in the future.
const clock = new TestClock(new Date('2026-06-10T12:00:00.000Z'));
let server: TestServer;

const api = (tenant: TestTenant, method: string, path: string, body?: unknown, key = tenant.key) =>
  call(server, method, `/api/v1${path}`, { key, body });

interface Program {
  tenant: TestTenant;
  partnerA: string;
  partnerB: string;
}

/** A tenant whose default group pays 20 % per sale, held back long enough to stay pending. */
async function program(): Promise<Program> {
  const tenant = await createTenant(server);
  const group = await api(tenant, 'PATCH', '/partner-groups/default', {
    saleCommission: { type: 'percentage', basisPoints: 2000 },
    holdbackDays: 365,
  });
  if (group.status !== 200) throw new Error(JSON.stringify(group.body));
  const partner = async (email: string) => (await api(tenant, 'POST', '/partners', { email })).body.data.id;
  return { tenant, partnerA: await partner('a@example.com'), partnerB: await partner('b@example.com') };
}

let counter = 0;
interface Sale {
  amount: string;
  currency: string;
  occurredAt: string;
  partnerId?: string;
  customer?: string;
}

/** Posts a sale event and returns its transaction. */
async function sell(p: Program, sale: Sale) {
  const n = ++counter;
  const event = await api(p.tenant, 'POST', '/events', {
    type: 'sale',
    ...(sale.partnerId ? { partnerId: sale.partnerId } : {}),
    customer: { externalId: sale.customer ?? `customer-${n}` },
    amount: sale.amount,
    currency: sale.currency,
    externalId: `order-${n}`,
    occurredAt: sale.occurredAt,
  });
  if (event.status !== 201) throw new Error(JSON.stringify(event.body));
  const transaction = await api(p.tenant, 'GET', `/transactions/${event.body.data.transactionId}`);
  return { ...transaction.body.data, commissions: event.body.data.commissions };
}

beforeAll(async () => {
  server = await startServer({ clock });
});
afterAll(() => server.close());

describe('transactions from sale events', () => {
  let p: Program;
  beforeAll(async () => {
    p = await program();
  });

  it('a sale becomes a pending transaction with a 20 % commission for its partner', async () => {
    const txn = await sell(p, {
      amount: '12',
      currency: 'EUR',
      occurredAt: '2026-05-03T10:00:00.000Z',
      partnerId: p.partnerA,
      customer: 'first-buyer',
    });
    expect(txn).toMatchObject({
      id: expect.stringMatching(TXN_ID),
      customerId: expect.stringMatching(/^cus_/),
      partnerId: p.partnerA,
      eventId: expect.stringMatching(/^evt_/),
      externalId: expect.stringMatching(/^order-/),
      amount: '12.00',
      refundedAmount: '0.00',
      currency: 'EUR',
      status: 'pending',
      statusReason: null,
      occurredAt: '2026-05-03T10:00:00.000Z',
      createdAt: '2026-06-10T12:00:00.000Z',
    });
    expect(txn.commissions).toEqual([
      {
        id: expect.stringMatching(/^com_/),
        kind: 'sale',
        amount: '2.40',
        currency: 'EUR',
        status: 'pending',
      },
    ]);
  });

  it.each([
    ['EUR', '12', '12.00', '0.00', '2.40'],
    ['EUR', '0.05', '0.05', '0.00', '0.01'],
    ['JPY', '1200', '1200', '0', '240'],
    ['BHD', '1.25', '1.250', '0.000', '0.250'],
    ['KWD', '0.001', '0.001', '0.000', undefined],
  ])(
    'renders %s %s as "%s" (refunded "%s", commission %s)',
    async (currency, amount, shown, refunded, commission) => {
      const txn = await sell(p, {
        amount,
        currency,
        occurredAt: '2026-05-04T00:00:00.000Z',
        partnerId: p.partnerB,
      });
      expect(txn.amount).toBe(shown);
      expect(txn.refundedAmount).toBe(refunded);
      expect(txn.commissions.map((c: { amount: string }) => c.amount)).toEqual(
        commission ? [commission] : [],
      );
      const listed = await api(p.tenant, 'GET', `/transactions?currency=${currency}&limit=100`);
      expect(listed.body.data.find((t: { id: string }) => t.id === txn.id)?.amount).toBe(shown);
    },
  );

  it('a sale without a partner is a transaction without commission', async () => {
    const txn = await sell(p, { amount: '50.00', currency: 'EUR', occurredAt: '2026-05-05T00:00:00.000Z' });
    expect(txn).toMatchObject({ partnerId: null, status: 'pending', amount: '50.00' });
    expect(txn.commissions).toEqual([]);
  });
});

describe('GET /transactions filters', () => {
  let p: Program;
  const t: Record<string, { id: string; customerId: string }> = {};
  const ids = async (query: string) => {
    const response = await api(p.tenant, 'GET', `/transactions?${query}`);
    expect(response.status).toBe(200);
    const byId = new Map(Object.entries(t).map(([name, txn]) => [txn.id, name]));
    return response.body.data.map((txn: { id: string }) => byId.get(txn.id));
  };

  beforeAll(async () => {
    p = await program();
    const sales: [string, Sale][] = [
      [
        'apr30',
        { amount: '10.00', currency: 'EUR', occurredAt: '2026-04-30T23:59:59.999Z', partnerId: p.partnerA },
      ],
      [
        'may1',
        { amount: '20.00', currency: 'EUR', occurredAt: '2026-05-01T00:00:00.000Z', partnerId: p.partnerA },
      ],
      [
        'may15',
        { amount: '3000', currency: 'JPY', occurredAt: '2026-05-15T08:30:00.000Z', partnerId: p.partnerB },
      ],
      [
        'may31',
        { amount: '40.00', currency: 'EUR', occurredAt: '2026-05-31T23:59:59.999Z', partnerId: p.partnerB },
      ],
      [
        'jun1',
        { amount: '50.00', currency: 'USD', occurredAt: '2026-06-01T00:00:00.000Z', partnerId: p.partnerA },
      ],
      ['may20', { amount: '60.00', currency: 'EUR', occurredAt: '2026-05-20T12:00:00.000Z' }],
    ];
    for (const [name, sale] of sales) t[name] = await sell(p, sale);
    for (const name of ['apr30', 'may1', 'may15', 'jun1']) {
      const approved = await api(p.tenant, 'POST', `/transactions/${t[name]?.id}/approve`, {});
      expect(approved.status).toBe(200);
    }
    const rejected = await api(p.tenant, 'POST', `/transactions/${t.may31?.id}/reject`, { reason: 'fraud' });
    expect(rejected.status).toBe(200);
  });

  it('?from=2026-05-01&to=2026-05-31&status=approved: whole UTC days, inclusive', async () => {
    expect(await ids('from=2026-05-01&to=2026-05-31&status=approved')).toEqual(['may15', 'may1']);
  });

  it('from/to as days bound occurredAt, not createdAt', async () => {
    expect(await ids('from=2026-05-01&to=2026-05-31')).toEqual(['may20', 'may31', 'may15', 'may1']);
    expect(await ids('to=2026-04-30')).toEqual(['apr30']);
    expect(await ids('from=2026-06-01')).toEqual(['jun1']);
    expect(await ids('from=2026-05-31&to=2026-05-31')).toEqual(['may31']);
  });

  it('from/to as full timestamps, inclusive at both ends', async () => {
    expect(await ids('from=2026-04-30T23:59:59.999Z&to=2026-05-01T00:00:00.000Z')).toEqual(['may1', 'apr30']);
    expect(await ids('from=2026-05-31T23:59:59.999Z&to=2026-06-01T00:00:00Z')).toEqual(['jun1', 'may31']);
    expect(await ids(`from=${encodeURIComponent('2026-06-01T02:00:00+02:00')}`)).toEqual(['jun1']);
  });

  it('filters by status', async () => {
    expect(await ids('status=pending')).toEqual(['may20']);
    expect(await ids('status=rejected')).toEqual(['may31']);
    expect(await ids('status=refunded')).toEqual([]);
  });

  it('filters by partnerId, customerId and currency', async () => {
    expect(await ids(`partnerId=${p.partnerA}`)).toEqual(['jun1', 'may1', 'apr30']);
    expect(await ids(`partnerId=${p.partnerB}&currency=EUR`)).toEqual(['may31']);
    expect(await ids(`customerId=${t.may15?.customerId}`)).toEqual(['may15']);
    expect(await ids('currency=JPY')).toEqual(['may15']);
    expect(await ids('currency=GBP')).toEqual([]);
  });

  it.each([
    'from=2026-05-32',
    'from=May',
    'to=2026-05-01T25:00:00Z',
    'status=paid',
    'currency=eur',
    'partnerId=prt_1',
    'customerId=abc',
    'limit=101',
    'sort=amount',
  ])('refuses ?%s: 400', async (query) => {
    const response = await api(p.tenant, 'GET', `/transactions?${query}`);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
  });

  it('classic pagination counts the filtered rows', async () => {
    const response = await api(p.tenant, 'GET', '/transactions?currency=EUR&limit=2&page=2');
    expect(response.body.pagination).toEqual({ page: 2, limit: 2, total: 4, pages: 2 });
    expect(response.body.data).toHaveLength(2);
  });
});

describe('approve and reject', () => {
  let p: Program;
  beforeAll(async () => {
    p = await program();
  });
  const sale = () =>
    sell(p, {
      amount: '100.00',
      currency: 'EUR',
      occurredAt: '2026-05-10T00:00:00.000Z',
      partnerId: p.partnerA,
    });
  const commissionsOf = async (transactionId: string) => {
    const response = await api(p.tenant, 'GET', `/commissions?partnerId=${p.partnerA}&limit=100`);
    return response.body.data.filter((c: { transactionId: string }) => c.transactionId === transactionId);
  };

  it('approves a pending transaction with a reason', async () => {
    const txn = await sale();
    clock.advance(1000);
    const response = await api(p.tenant, 'POST', `/transactions/${txn.id}/approve`, {
      reason: 'paid by card',
    });
    expect(response.status).toBe(200);
    expect(response.body.data).toMatchObject({
      id: txn.id,
      status: 'approved',
      statusReason: 'paid by card',
      updatedAt: clock.now().toISOString(),
    });
    expect((await api(p.tenant, 'GET', `/transactions/${txn.id}`)).body.data.status).toBe('approved');
    // Approval confirms the sale; its commission still waits for its holdback.
    expect((await commissionsOf(txn.id)).map((c: { status: string }) => c.status)).toEqual(['pending']);
  });

  it('rejects with a reason: the unpaid commissions are rejected with it', async () => {
    const txn = await sale();
    const response = await api(p.tenant, 'POST', `/transactions/${txn.id}/reject`, { reason: 'chargeback' });
    expect(response.status).toBe(200);
    expect(response.body.data).toMatchObject({ status: 'rejected', statusReason: 'chargeback' });
    const commissions = await commissionsOf(txn.id);
    expect(commissions).toHaveLength(1);
    expect(commissions[0]).toMatchObject({ status: 'rejected', statusReason: 'chargeback', amount: '20.00' });
    const rejected = await api(p.tenant, 'GET', `/commissions?status=rejected&partnerId=${p.partnerA}`);
    expect(rejected.body.data.map((c: { transactionId: string }) => c.transactionId)).toContain(txn.id);
  });

  it('rejects an approved transaction too', async () => {
    const txn = await sale();
    expect((await api(p.tenant, 'POST', `/transactions/${txn.id}/approve`, {})).status).toBe(200);
    const response = await api(p.tenant, 'POST', `/transactions/${txn.id}/reject`, { reason: 'returned' });
    expect(response.status).toBe(200);
    expect(response.body.data.status).toBe('rejected');
    expect((await commissionsOf(txn.id))[0].status).toBe('rejected');
  });

  it('an action POST with no body at all works, and the reason stays null', async () => {
    const txn = await sale();
    const response = await call(server, 'POST', `/api/v1/transactions/${txn.id}/approve`, {
      key: p.tenant.key,
    });
    expect(response.status).toBe(200);
    expect(response.body.data).toMatchObject({ status: 'approved', statusReason: null });
    const other = await sale();
    const rejected = await call(server, 'POST', `/api/v1/transactions/${other.id}/reject`, {
      key: p.tenant.key,
    });
    expect(rejected.status).toBe(200);
    expect(rejected.body.data.status).toBe('rejected');
    expect((await commissionsOf(other.id))[0]).toMatchObject({
      status: 'rejected',
      statusReason: 'transaction rejected',
    });
  });

  it.each([
    ['approve', 'rejected'],
    ['reject', 'rejected'],
    ['approve', 'approved'],
  ])('refuses to %s a %s transaction: 409 invalid_state, nothing changes', async (action, state) => {
    const txn = await sale();
    const first = state === 'approved' ? 'approve' : 'reject';
    expect(
      (await api(p.tenant, 'POST', `/transactions/${txn.id}/${first}`, { reason: 'first' })).status,
    ).toBe(200);
    const response = await api(p.tenant, 'POST', `/transactions/${txn.id}/${action}`, { reason: 'second' });
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('invalid_state');
    expect((await api(p.tenant, 'GET', `/transactions/${txn.id}`)).body.data).toMatchObject({
      status: state,
      statusReason: 'first',
    });
  });

  it.each([
    ['an unknown id', 'txn_01jd8x3v4w5y6z7a8b9c0d1e2f'],
    ['a malformed id', 'txn_123'],
    ['an id of another type', 'cus_01jd8x3v4w5y6z7a8b9c0d1e2f'],
    ['a word', 'latest'],
  ])('answers 404 for %s', async (_, id) => {
    for (const action of ['approve', 'reject']) {
      const response = await api(p.tenant, 'POST', `/transactions/${id}/${action}`, {});
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
    expect((await api(p.tenant, 'GET', `/transactions/${id}`)).status).toBe(404);
  });

  it.each([
    ['an empty reason', { reason: '' }],
    ['a reason over 500 characters', { reason: 'r'.repeat(501) }],
    ['a reason that is not a string', { reason: 42 }],
    ['an unknown field', { status: 'approved' }],
  ])('refuses %s: 400', async (_, body) => {
    const txn = await sale();
    const response = await api(p.tenant, 'POST', `/transactions/${txn.id}/reject`, body);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect((await api(p.tenant, 'GET', `/transactions/${txn.id}`)).body.data.status).toBe('pending');
  });

  it('writes the decision to the audit log', async () => {
    const txn = await sale();
    const response = await api(p.tenant, 'POST', `/transactions/${txn.id}/reject`, { reason: 'audit me' });
    const rows = await server.services.db
      .selectFrom('auditLog')
      .selectAll()
      .where('tenantId', '=', p.tenant.id)
      .where('resourceId', '=', txn.id)
      .execute();
    expect(rows).toHaveLength(1);
    const changes = typeof rows[0]?.changes === 'string' ? JSON.parse(rows[0].changes) : rows[0]?.changes;
    expect(rows[0]).toMatchObject({
      action: 'transaction.rejected',
      requestId: response.headers.get('x-request-id'),
    });
    expect(changes).toMatchObject({ status: { before: 'pending', after: 'rejected' } });
  });
});

describe('cursor pagination', () => {
  it('stays stable while new transactions arrive', async () => {
    const p = await program();
    const initial: string[] = [];
    for (let i = 0; i < 5; i++) {
      initial.push(
        (await sell(p, { amount: `${i + 1}.00`, currency: 'EUR', occurredAt: '2026-05-01T10:00:00Z' })).id,
      );
    }
    const newestFirst = [...initial].reverse();
    const first = await api(p.tenant, 'GET', '/transactions?limit=2');
    expect(first.body.data.map((x: { id: string }) => x.id)).toEqual(newestFirst.slice(0, 2));
    let cursor = first.body.pagination.nextCursor;
    expect(cursor).toEqual(expect.any(String));

    const added: string[] = [];
    for (let i = 0; i < 3; i++) {
      added.push((await sell(p, { amount: '9.00', currency: 'EUR', occurredAt: '2026-05-01T11:00:00Z' })).id);
    }
    const seen = [...first.body.data.map((x: { id: string }) => x.id)];
    while (cursor) {
      const page = await api(p.tenant, 'GET', `/transactions?limit=2&cursor=${encodeURIComponent(cursor)}`);
      expect(page.status).toBe(200);
      expect(page.body.pagination).toEqual({ limit: 2, nextCursor: page.body.pagination.nextCursor });
      seen.push(...page.body.data.map((x: { id: string }) => x.id));
      cursor = page.body.pagination.nextCursor;
    }
    expect(seen).toEqual(newestFirst);
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of added) expect(seen).not.toContain(id);
    // A fresh first page shows the new ones on top.
    const fresh = await api(p.tenant, 'GET', '/transactions?limit=3');
    expect(fresh.body.data.map((x: { id: string }) => x.id)).toEqual([...added].reverse());
  });

  it('refuses a cursor of another resource type', async () => {
    const p = await program();
    const foreign = Buffer.from('v1:cus_01jd8x3v4w5y6z7a8b9c0d1e2f').toString('base64url');
    const response = await api(p.tenant, 'GET', `/transactions?cursor=${foreign}`);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('invalid_cursor');
  });
});

describe('tenant isolation', () => {
  let mine: Program;
  let theirs: Program;
  let txn: { id: string; customerId: string };
  beforeAll(async () => {
    mine = await program();
    theirs = await program();
    txn = await sell(mine, {
      amount: '10.00',
      currency: 'EUR',
      occurredAt: '2026-05-02T00:00:00Z',
      partnerId: mine.partnerA,
    });
  });

  it('another tenant’s transaction is a plain 404 for GET, approve and reject', async () => {
    for (const [method, path] of [
      ['GET', `/transactions/${txn.id}`],
      ['POST', `/transactions/${txn.id}/approve`],
      ['POST', `/transactions/${txn.id}/reject`],
    ] as const) {
      const response = await api(theirs.tenant, method, path, method === 'POST' ? {} : undefined);
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
    expect((await api(mine.tenant, 'GET', `/transactions/${txn.id}`)).body.data.status).toBe('pending');
  });

  it('lists never show another tenant’s transactions, whatever the filter', async () => {
    for (const query of ['', `partnerId=${mine.partnerA}`, `customerId=${txn.customerId}`, 'currency=EUR']) {
      const response = await api(theirs.tenant, 'GET', `/transactions?${query}`);
      expect(response.body.data.map((x: { id: string }) => x.id)).not.toContain(txn.id);
    }
  });
});

describe('scopes', () => {
  let p: Program;
  let txnId: string;
  beforeAll(async () => {
    p = await program();
    txnId = (await sell(p, { amount: '10.00', currency: 'EUR', occurredAt: '2026-05-02T00:00:00Z' })).id;
  });

  it('transactions:read lists and reads but cannot decide', async () => {
    const reader = (await createKey(server, p.tenant.key, { name: 'r', scopes: ['transactions:read'] })).key;
    expect((await api(p.tenant, 'GET', '/transactions', undefined, reader)).status).toBe(200);
    expect((await api(p.tenant, 'GET', `/transactions/${txnId}`, undefined, reader)).status).toBe(200);
    for (const action of ['approve', 'reject']) {
      const response = await api(p.tenant, 'POST', `/transactions/${txnId}/${action}`, {}, reader);
      expect(response.status).toBe(403);
      expect(response.body).toMatchObject({
        code: 'insufficient_scope',
        requiredScope: 'transactions:write',
      });
    }
  });

  it('without transactions:read nothing is listed', async () => {
    const other = (await createKey(server, p.tenant.key, { name: 'c', scopes: ['commissions:read'] })).key;
    const response = await api(p.tenant, 'GET', '/transactions', undefined, other);
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ code: 'insufficient_scope', requiredScope: 'transactions:read' });
  });

  it('transactions:write decides', async () => {
    const writer = (await createKey(server, p.tenant.key, { name: 'w', scopes: ['transactions:write'] })).key;
    const response = await api(p.tenant, 'POST', `/transactions/${txnId}/approve`, {}, writer);
    expect(response.status).toBe(200);
  });
});
