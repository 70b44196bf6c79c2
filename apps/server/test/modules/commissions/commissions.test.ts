import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, createTenant } from '../../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../../helpers/server.ts';
import {
  created,
  eventually,
  FAST_APPROVAL,
  listAll,
  type Program,
  payCommissions,
  startProgram,
} from '../events/program.ts';

// A frozen clock: nothing becomes due unless it was earned more than a year ago.
const clock = new TestClock();
let server: TestServer;

beforeAll(async () => {
  server = await startServer({ clock, env: FAST_APPROVAL });
});
afterAll(() => server.close());

const RULES = {
  saleCommission: { type: 'percentage', basisPoints: 2000 },
  leadCommission: { amounts: [{ amount: '5.00', currency: 'EUR' }] },
  holdbackDays: 365,
};

async function commission(program: Program, id: string) {
  return created(await program.get(`/commissions/${id}`), 200);
}

async function waitForStatus(program: Program, id: string, status: string) {
  const found = await eventually(
    () => commission(program, id),
    (c) => c.status === status,
  );
  expect(found.status).toBe(status);
  return found;
}

let orders = 0;
function sale(partnerId: string, amount: string, currency: string, occurredAt: string) {
  orders += 1;
  return {
    type: 'sale',
    partnerId,
    customer: { externalId: `crm-${orders}` },
    amount,
    currency,
    occurredAt,
    externalId: `order-${orders}`,
  };
}

describe('listing commissions', () => {
  let program: Program;
  let p1: string;
  let p2: string;
  /** The eight commissions by name, as GET /commissions/{id} shows them. */
  const c: Record<string, any> = {};

  beforeAll(async () => {
    program = await startProgram(server, RULES);
    p1 = (await program.partner()).id;
    p2 = (await program.partner()).id;
    const earn = async (body: Record<string, unknown>) => {
      const event = created(await program.event(body));
      return { event, id: event.commissions[0].id as string };
    };

    const lead = await earn({
      type: 'lead',
      partnerId: p1,
      customer: { externalId: 'crm-lead' },
      occurredAt: '2026-02-01T10:00:00.000Z',
    });
    const eur = await earn(sale(p1, '100.00', 'EUR', '2026-02-02T10:00:00.000Z'));
    const jpy = await earn(sale(p2, '10000', 'JPY', '2026-02-03T10:00:00.000Z'));
    const rejected = await earn(sale(p2, '50.00', 'EUR', '2026-02-04T10:00:00.000Z'));
    created(await program.post(`/transactions/${rejected.event.transactionId}/reject`, {}), 200);
    const reversed = await earn(sale(p1, '30.00', 'EUR', '2026-02-05T10:00:00.000Z'));
    created(await program.event({ type: 'refund', saleExternalId: `order-${orders}` }));

    // Earned long ago, so past the holdback: the job approves it, then it is paid.
    const paid = await earn(sale(p2, '40.00', 'EUR', '2025-01-10T10:00:00.000Z'));
    const paidOrder = `order-${orders}`;
    await waitForStatus(program, paid.id, 'approved');
    await payCommissions(program, p2, 'EUR');
    const approved = await earn(sale(p2, '25.00', 'EUR', '2025-01-11T10:00:00.000Z'));
    await waitForStatus(program, approved.id, 'approved');
    const refund = created(
      await program.event({ type: 'refund', saleExternalId: paidOrder, amount: '20.00', currency: 'EUR' }),
    );
    const clawback = { id: refund.commissions[0].id as string };

    const named = { lead, eur, jpy, rejected, reversed, paid, approved, clawback };
    for (const [name, { id }] of Object.entries(named)) c[name] = await commission(program, id);
  });

  const names = (rows: { id: string }[]) =>
    rows.map((row) => Object.keys(c).find((name) => c[name].id === row.id) ?? row.id);

  it('has every commission in the state the flow left it', () => {
    expect(c.lead).toMatchObject({ kind: 'lead', amount: '5.00', status: 'pending', transactionId: null });
    expect(c.eur).toMatchObject({ kind: 'sale', amount: '20.00', currency: 'EUR', status: 'pending' });
    expect(c.jpy).toMatchObject({ kind: 'sale', amount: '2000', currency: 'JPY', status: 'pending' });
    expect(c.rejected).toMatchObject({ amount: '10.00', status: 'rejected' });
    expect(c.reversed).toMatchObject({ amount: '0.00', reversedAmount: '6.00', status: 'reversed' });
    expect(c.paid).toMatchObject({ amount: '8.00', status: 'paid' });
    expect(c.approved).toMatchObject({ amount: '5.00', status: 'approved' });
    expect(c.clawback).toMatchObject({
      kind: 'clawback',
      amount: '-4.00',
      status: 'approved',
      reversesCommissionId: c.paid.id,
    });
  });

  it('lists newest first, each as GET shows it', async () => {
    const all = await listAll(program, '/commissions');
    expect(names(all)).toEqual([
      'clawback',
      'approved',
      'paid',
      'reversed',
      'rejected',
      'jpy',
      'eur',
      'lead',
    ]);
    expect(all[0]).toEqual(c.clawback);
  });

  it.each([
    ['status=pending', ['jpy', 'eur', 'lead']],
    ['status=approved', ['clawback', 'approved']],
    ['status=paid', ['paid']],
    ['status=rejected', ['rejected']],
    ['status=reversed', ['reversed']],
    ['kind=lead', ['lead']],
    ['kind=clawback', ['clawback']],
    ['kind=sale&currency=EUR', ['approved', 'paid', 'reversed', 'rejected', 'eur']],
    ['currency=JPY', ['jpy']],
    ['currency=USD', []],
    ['partnerId=P1', ['reversed', 'eur', 'lead']],
    ['partnerId=P2&status=approved', ['clawback', 'approved']],
    ['from=2026-02-02&to=2026-02-04', ['rejected', 'jpy', 'eur']],
    ['from=2026-02-02T10:00:00.001Z&to=2026-02-04T10:00:00.000Z', ['rejected', 'jpy']],
    ['to=2025-12-31', ['approved', 'paid']],
    ['from=2026-02-05', ['clawback', 'reversed']],
  ])('filters by %s', async (query, expected) => {
    const resolved = query.replace('P1', p1).replace('P2', p2);
    expect(names(await listAll(program, `/commissions?${resolved}`))).toEqual(expected);
  });

  it("lists one partner's commissions with the same filters", async () => {
    expect(names(await listAll(program, `/partners/${p1}/commissions`))).toEqual(['reversed', 'eur', 'lead']);
    expect(names(await listAll(program, `/partners/${p2}/commissions?status=approved`))).toEqual([
      'clawback',
      'approved',
    ]);
    expect(names(await listAll(program, `/partners/${p2}/commissions?kind=sale&currency=JPY`))).toEqual([
      'jpy',
    ]);
    const unknown = await program.get('/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f/commissions');
    expect(unknown.status).toBe(404);
    // partnerId is the path's; the query does not take another one.
    expect((await program.get(`/partners/${p1}/commissions?partnerId=${p2}`)).status).toBe(400);
  });

  it('pages classically and by cursor over the same order', async () => {
    const all = (await listAll(program, '/commissions')).map((row) => row.id);
    const first = await program.get('/commissions?limit=3');
    expect(first.body.pagination).toEqual({
      page: 1,
      limit: 3,
      total: 8,
      pages: 3,
      nextCursor: expect.any(String),
    });
    const last = await program.get('/commissions?limit=3&page=3');
    expect(last.body.pagination).toEqual({ page: 3, limit: 3, total: 8, pages: 3 });
    expect(last.body.data.map((row: { id: string }) => row.id)).toEqual(all.slice(6));

    const walked = first.body.data.map((row: { id: string }) => row.id);
    let cursor: string | null = first.body.pagination.nextCursor;
    while (cursor) {
      const page = await program.get(`/commissions?limit=3&cursor=${cursor}`);
      // Cursor mode never counts: no page, total or pages.
      expect(Object.keys(page.body.pagination).sort()).toEqual(['limit', 'nextCursor']);
      walked.push(...page.body.data.map((row: { id: string }) => row.id));
      cursor = page.body.pagination.nextCursor;
    }
    expect(walked).toEqual(all);

    const filtered = await program.get(
      `/partners/${p1}/commissions?limit=2&cursor=${first.body.pagination.nextCursor}`,
    );
    expect(filtered.status).toBe(200);
    expect((await program.get('/commissions?page=2&cursor=abc')).status).toBe(400);
    expect((await program.get('/commissions?limit=101')).status).toBe(400);
  });

  it.each([
    ['status=paying', 'status'],
    ['kind=bonus', 'kind'],
    ['currency=eur', 'currency'],
    ['from=2026-13-01', 'from'],
    ['partnerId=nope', 'partnerId'],
  ])('refuses %s: 400 naming the field', async (query, field) => {
    const response = await program.get(`/commissions?${query}`);
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('gets one; unknown, malformed and foreign ids are 404', async () => {
    expect(await commission(program, c.eur.id)).toEqual(c.eur);
    const other = await createTenant(server);
    for (const [id, key] of [
      [c.eur.id, other.key],
      ['com_01jd8x3v4w5y6z7a8b9c0d1e2f', program.tenant.key],
      ['not-an-id', program.tenant.key],
    ] as const) {
      const response = await program.get(`/commissions/${id}`, key);
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
    const foreignPartner = await program.get(`/partners/${p1}/commissions`, other.key);
    expect(foreignPartner.status).toBe(404);
    expect(
      await listAll({ ...program, get: (path) => program.get(path, other.key) }, '/commissions'),
    ).toEqual([]);
  });
});

describe('scopes', () => {
  it('commissions:read reads commissions; events:write posts events and reads nothing', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const reader = await createKey(server, program.tenant.key, {
      name: 'reporting',
      scopes: ['commissions:read'],
    });
    const writer = await createKey(server, program.tenant.key, { name: 'shop', scopes: ['events:write'] });

    const event = created(
      await program.event(sale(partner.id, '10.00', 'EUR', clock.now().toISOString()), writer.key),
    );
    const id = event.commissions[0].id;

    for (const path of ['/commissions', `/commissions/${id}`, `/partners/${partner.id}/commissions`]) {
      expect((await program.get(path, reader.key)).status).toBe(200);
      const refused = await program.get(path, writer.key);
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ code: 'insufficient_scope', requiredScope: 'commissions:read' });
    }
    for (const path of ['/events', `/events/${event.id}`]) {
      const refused = await program.get(path, writer.key);
      expect(refused.status).toBe(403);
      expect(refused.body.requiredScope).toBe('events:read');
    }
    const posted = await program.event({ type: 'click', partnerId: partner.id }, reader.key);
    expect(posted.status).toBe(403);
    expect(posted.body.requiredScope).toBe('events:write');
    const decided = await program.post(`/transactions/${event.transactionId}/reject`, {}, reader.key);
    expect(decided.status).toBe(403);
    expect(decided.body.requiredScope).toBe('transactions:write');
  });
});

describe('approving and rejecting transactions', () => {
  async function withSale(occurredAt = clock.now().toISOString()) {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const event = created(await program.event(sale(partner.id, '100.00', 'EUR', occurredAt)));
    return { program, partner, event, commissionId: event.commissions[0].id as string };
  }

  it('approves a pending sale once; its commission still waits for the holdback', async () => {
    const { program, event, commissionId } = await withSale();
    const approved = created(await program.post(`/transactions/${event.transactionId}/approve`), 200);
    expect(approved).toMatchObject({ id: event.transactionId, status: 'approved', statusReason: null });
    expect((await commission(program, commissionId)).status).toBe('pending');
    const again = await program.post(`/transactions/${event.transactionId}/approve`, {});
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('invalid_state');

    // An approved sale can still be rejected, and takes its unpaid commission with it.
    const rejected = created(
      await program.post(`/transactions/${event.transactionId}/reject`, { reason: 'chargeback' }),
      200,
    );
    expect(rejected).toMatchObject({ status: 'rejected', statusReason: 'chargeback' });
    expect(await commission(program, commissionId)).toMatchObject({
      status: 'rejected',
      statusReason: 'chargeback',
    });
  });

  it('rejects a pending sale with its commission; a rejected sale cannot be approved or rejected again', async () => {
    const { program, event, commissionId } = await withSale();
    const rejected = created(await program.post(`/transactions/${event.transactionId}/reject`, {}), 200);
    expect(rejected.status).toBe('rejected');
    expect((await commission(program, commissionId)).status).toBe('rejected');
    for (const action of ['approve', 'reject']) {
      const response = await program.post(`/transactions/${event.transactionId}/${action}`, {});
      expect(response.status).toBe(409);
      expect(response.body.code).toBe('invalid_state');
    }
    const txns = await listAll(program, '/transactions?status=rejected');
    expect(txns.map((t) => t.id)).toEqual([event.transactionId]);
  });

  it('rejects an approved commission; a paid one stays and is clawed back', async () => {
    const longAgo = '2025-03-01T00:00:00.000Z';
    const approvedSale = await withSale(longAgo);
    await waitForStatus(approvedSale.program, approvedSale.commissionId, 'approved');
    created(await approvedSale.program.post(`/transactions/${approvedSale.event.transactionId}/reject`), 200);
    expect((await commission(approvedSale.program, approvedSale.commissionId)).status).toBe('rejected');

    const paidSale = await withSale(longAgo);
    await waitForStatus(paidSale.program, paidSale.commissionId, 'approved');
    await payCommissions(paidSale.program, paidSale.partner.id, 'EUR');
    const paid = await commission(paidSale.program, paidSale.commissionId);
    expect(paid.status).toBe('paid');
    const rejected = created(
      await paidSale.program.post(`/transactions/${paidSale.event.transactionId}/reject`, {
        reason: 'late fraud',
      }),
      200,
    );
    expect(rejected.status).toBe('rejected');
    expect(await commission(paidSale.program, paidSale.commissionId)).toEqual(paid);
    const clawbacks = await listAll(
      paidSale.program,
      `/commissions?kind=clawback&partnerId=${paidSale.partner.id}`,
    );
    expect(clawbacks).toMatchObject([
      {
        reversesCommissionId: paid.id,
        amount: `-${paid.amount}`,
        status: 'approved',
        statusReason: 'transaction rejected after payment',
      },
    ]);

    // Inside a payout not yet paid, a commission is no longer the tenant's to reject: clawed back too.
    const heldSale = await withSale(longAgo);
    await waitForStatus(heldSale.program, heldSale.commissionId, 'approved');
    const payout = created(
      await heldSale.program.post('/payouts', { partnerId: heldSale.partner.id, currency: 'EUR' }),
    );
    const held = await commission(heldSale.program, heldSale.commissionId);
    expect(held.payoutId).toBe(payout.id);
    created(await heldSale.program.post(`/transactions/${heldSale.event.transactionId}/reject`), 200);
    expect(await commission(heldSale.program, heldSale.commissionId)).toEqual(held);
    const heldClawbacks = await listAll(
      heldSale.program,
      `/commissions?kind=clawback&partnerId=${heldSale.partner.id}`,
    );
    expect(heldClawbacks).toMatchObject([{ reversesCommissionId: held.id, amount: `-${held.amount}` }]);
  });

  it('a paid sale refunded in part, then rejected: its clawbacks add up to the whole commission', async () => {
    const paidSale = await withSale('2025-03-01T00:00:00.000Z');
    const { program, partner, event } = paidSale;
    await waitForStatus(program, paidSale.commissionId, 'approved');
    await payCommissions(program, partner.id, 'EUR');
    const txn = (await program.get(`/transactions/${event.transactionId}`)).body.data;
    created(
      await program.event({
        type: 'refund',
        saleExternalId: txn.externalId,
        amount: '25.00',
        currency: 'EUR',
      }),
    );
    created(await program.post(`/transactions/${event.transactionId}/reject`, { reason: 'fraud' }), 200);

    const clawbacks = await listAll(program, `/commissions?kind=clawback&partnerId=${partner.id}`);
    expect(clawbacks.map((c) => [c.amount, c.status]).sort()).toEqual([
      ['-15.00', 'approved'],
      ['-5.00', 'approved'],
    ]);
    const stats = (await program.get(`/partners/${partner.id}/stats`)).body.data;
    expect(stats.currencies[0].commissions).toMatchObject({
      paid: '20.00',
      approved: '-20.00',
      total: '0.00',
    });
  });

  it('404 for unknown and foreign transactions; 400 for an unknown body field', async () => {
    const { program, event } = await withSale();
    const other = await createTenant(server);
    for (const [id, key] of [
      [event.transactionId, other.key],
      ['txn_01jd8x3v4w5y6z7a8b9c0d1e2f', program.tenant.key],
    ] as const) {
      const response = await program.post(`/transactions/${id}/approve`, {}, key);
      expect(response.status).toBe(404);
    }
    const response = await program.post(`/transactions/${event.transactionId}/reject`, { why: 'x' });
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain('why');
    expect((await program.get(`/transactions/${event.transactionId}`)).body.data.status).toBe('pending');
  });
});
