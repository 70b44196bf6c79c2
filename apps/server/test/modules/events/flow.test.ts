import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from '../../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../../helpers/server.ts';
import {
  created,
  DAY_MS,
  eventually,
  FAST_APPROVAL,
  listAll,
  type Program,
  payCommissions,
  startProgram,
} from './program.ts';

const clock = new TestClock();
let server: TestServer;

beforeAll(async () => {
  server = await startServer({ clock, env: FAST_APPROVAL });
});
afterAll(() => server.close());

const RULES = {
  saleCommission: { type: 'percentage', basisPoints: 2000 },
  leadCommission: { amounts: [{ amount: '5.00', currency: 'EUR' }] },
  holdbackDays: 14,
};

let orderCounter = 0;
const orderId = () => `order-${++orderCounter}`;

async function commission(program: Program, id: string) {
  return created(await program.get(`/commissions/${id}`), 200);
}

async function transaction(program: Program, id: string) {
  return created(await program.get(`/transactions/${id}`), 200);
}

/** Moves the clock past `days` and waits (bounded) until the approval job has approved `id`. */
async function passHoldback(program: Program, id: string, days: number) {
  clock.advance(days * DAY_MS + 1000);
  const approved = await eventually(
    () => commission(program, id),
    (c) => c.status === 'approved',
  );
  expect(approved.status).toBe('approved');
  return approved;
}

/** A partner's approved sale commission, approved and then paid. */
async function paidSale(program: Program, amount: string) {
  const partner = await program.partner();
  const externalId = orderId();
  const sale = created(
    await program.event({
      type: 'sale',
      partnerId: partner.id,
      customer: { externalId: `crm-${externalId}` },
      amount,
      currency: 'EUR',
      externalId,
    }),
  );
  const [earned] = sale.commissions;
  await passHoldback(program, earned.id, 14);
  await payCommissions(program, partner.id, 'EUR');
  const paid = await commission(program, earned.id);
  expect(paid.status).toBe('paid');
  return { partner, sale, externalId, paid };
}

describe('click → lead → sale → approval → payout', () => {
  it('attributes, earns, freezes the rule, approves after the holdback and pays', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();

    const click = created(
      await program.event({ type: 'click', partnerId: partner.id, metadata: { campaign: 'spring' } }),
    );
    expect(click).toMatchObject({
      type: 'click',
      partnerId: partner.id,
      customerId: null,
      metadata: { campaign: 'spring' },
      commissions: [],
    });
    expect(click.clickId).toMatch(/^clk_[0-7][0-9a-z]{25}$/);

    const lead = created(
      await program.event({
        type: 'lead',
        clickId: click.clickId,
        customer: { externalId: 'crm-1', email: 'Grace@Example.com', name: 'Grace' },
      }),
    );
    expect(lead).toMatchObject({ type: 'lead', partnerId: partner.id, clickId: click.clickId });
    expect(lead.commissions).toEqual([
      {
        id: expect.stringMatching(/^com_/),
        kind: 'lead',
        amount: '5.00',
        currency: 'EUR',
        status: 'pending',
      },
    ]);
    const customer = created(await program.get(`/customers/${lead.customerId}`), 200);
    expect(customer).toMatchObject({
      externalId: 'crm-1',
      email: 'grace@example.com',
      partnerId: partner.id,
      attributedAt: lead.occurredAt,
      lifetime: false,
    });

    // Back-dated by an hour: the holdback counts from when the sale happened, not from now.
    const occurredAt = new Date(clock.now().getTime() - 3_600_000).toISOString();
    const sale = created(
      await program.event({
        type: 'sale',
        customer: { externalId: 'crm-1' },
        amount: '120.00',
        currency: 'EUR',
        externalId: 'order-1001',
        occurredAt,
      }),
    );
    expect(sale).toMatchObject({
      partnerId: partner.id,
      customerId: lead.customerId,
      amount: '120.00',
      currency: 'EUR',
      occurredAt,
    });
    expect(await transaction(program, sale.transactionId)).toMatchObject({
      customerId: lead.customerId,
      partnerId: partner.id,
      externalId: 'order-1001',
      amount: '120.00',
      refundedAmount: '0.00',
      currency: 'EUR',
      status: 'pending',
    });
    expect(sale.commissions).toHaveLength(1);
    const earned = await commission(program, sale.commissions[0].id);
    expect(earned).toMatchObject({
      partnerId: partner.id,
      transactionId: sale.transactionId,
      customerId: lead.customerId,
      eventId: sale.id,
      kind: 'sale',
      amount: '24.00',
      reversedAmount: '0.00',
      currency: 'EUR',
      status: 'pending',
      occurredAt,
      availableAt: new Date(Date.parse(occurredAt) + 14 * DAY_MS).toISOString(),
      approvedAt: null,
      paidAt: null,
      rule: { groupKey: 'default', kind: 'sale', type: 'percentage', basisPoints: 2000, holdbackDays: 14 },
    });

    // A later rule change applies to new sales only.
    await program.rules({ saleCommission: { type: 'percentage', basisPoints: 5000 }, holdbackDays: 3 });
    expect(await commission(program, earned.id)).toEqual(earned);
    const later = created(
      await program.event({
        type: 'sale',
        partnerId: partner.id,
        customer: { externalId: 'crm-2' },
        amount: '120.00',
        currency: 'EUR',
        externalId: 'order-1002',
      }),
    );
    expect((await commission(program, later.commissions[0].id)).rule).toMatchObject({
      basisPoints: 5000,
      holdbackDays: 3,
    });

    // Still inside the holdback: the job leaves it pending.
    clock.advance(13 * DAY_MS);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await commission(program, earned.id)).status).toBe('pending');

    const approved = await passHoldback(program, earned.id, 1);
    expect(approved).toMatchObject({ amount: '24.00', approvedAt: expect.any(String), paidAt: null });

    // The payout gathers everything approved: the lead (5.00), this sale (24.00) and the later one (60.00).
    const payout = await payCommissions(program, partner.id, 'EUR');
    expect(payout).toMatchObject({ status: 'paid', amount: '89.00', commissionCount: 3, currency: 'EUR' });
    const paid = await commission(program, earned.id);
    expect(paid).toMatchObject({
      status: 'paid',
      amount: '24.00',
      payoutId: payout.id,
      paidAt: expect.any(String),
      rule: { basisPoints: 2000 },
    });
    expect((await commission(program, lead.commissions[0].id)).status).toBe('paid');
  });
});

describe('refunds', () => {
  it('shrinks an unpaid commission in proportion, rounding half to even, until it is reversed', async () => {
    const program = await startProgram(server, {
      ...RULES,
      saleCommission: { type: 'percentage', basisPoints: 2500 },
    });
    const partner = await program.partner();
    const sale = created(
      await program.event({
        type: 'sale',
        partnerId: partner.id,
        customer: { externalId: 'crm-r1' },
        amount: '10.00',
        currency: 'EUR',
        externalId: 'order-r1',
      }),
    );
    const commissionId = sale.commissions[0].id;
    expect((await commission(program, commissionId)).amount).toBe('2.50');

    const refund = (body: Record<string, unknown>) =>
      program.event({ type: 'refund', saleExternalId: 'order-r1', ...body });

    // 0.02 of 10.00 → 0.5 cent of commission → rounds to the even 0.
    const first = created(await refund({ amount: '0.02', currency: 'EUR', externalId: 'refund-r1-1' }));
    expect(first).toMatchObject({
      type: 'refund',
      partnerId: partner.id,
      customerId: sale.customerId,
      transactionId: sale.transactionId,
      amount: '0.02',
      currency: 'EUR',
      saleExternalId: 'order-r1',
    });
    expect(await transaction(program, sale.transactionId)).toMatchObject({
      status: 'partially_refunded',
      refundedAmount: '0.02',
    });
    expect(await commission(program, commissionId)).toMatchObject({
      amount: '2.50',
      reversedAmount: '0.00',
      status: 'pending',
    });

    // 0.06 of 10.00 in total → 1.5 cents → rounds to the even 2.
    created(await refund({ amount: '0.04', currency: 'EUR' }));
    expect(await commission(program, commissionId)).toMatchObject({
      amount: '2.48',
      reversedAmount: '0.02',
      status: 'pending',
    });

    // No amount: everything that remains.
    const rest = created(await refund({}));
    expect(rest.amount).toBe('9.94');
    expect(await transaction(program, sale.transactionId)).toMatchObject({
      status: 'refunded',
      refundedAmount: '10.00',
    });
    expect(await commission(program, commissionId)).toMatchObject({
      amount: '0.00',
      reversedAmount: '2.50',
      status: 'reversed',
      statusReason: 'refunded',
    });
    expect(await listAll(program, '/commissions?kind=clawback')).toEqual([]);

    const again = await refund({ amount: '0.01', currency: 'EUR' });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('invalid_state');

    // A reversed commission is not approved when its holdback ends.
    clock.advance(15 * DAY_MS);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await commission(program, commissionId)).status).toBe('reversed');
  });

  it('approves what is left of a partially refunded commission', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const sale = created(
      await program.event({
        type: 'sale',
        partnerId: partner.id,
        customer: { externalId: 'crm-r2' },
        amount: '50.00',
        currency: 'EUR',
        externalId: 'order-r2',
      }),
    );
    created(
      await program.event({ type: 'refund', saleExternalId: 'order-r2', amount: '20.00', currency: 'EUR' }),
    );
    const approved = await passHoldback(program, sale.commissions[0].id, 14);
    expect(approved).toMatchObject({ amount: '6.00', reversedAmount: '4.00' });
  });

  it('claws back a paid commission with a negative commission and leaves the paid one as it was', async () => {
    const program = await startProgram(server, RULES);
    const { partner, sale, externalId, paid } = await paidSale(program, '100.00');
    expect(paid.amount).toBe('20.00');

    const refund = created(
      await program.event({ type: 'refund', saleExternalId: externalId, amount: '25.00', currency: 'EUR' }),
    );
    expect(refund.commissions).toEqual([
      {
        id: expect.stringMatching(/^com_/),
        kind: 'clawback',
        amount: '-5.00',
        currency: 'EUR',
        status: 'approved',
      },
    ]);
    const clawback = await commission(program, refund.commissions[0].id);
    expect(clawback).toMatchObject({
      partnerId: partner.id,
      transactionId: sale.transactionId,
      eventId: refund.id,
      reversesCommissionId: paid.id,
      kind: 'clawback',
      amount: '-5.00',
      status: 'approved',
    });
    expect(await commission(program, paid.id)).toEqual(paid);
    expect(await transaction(program, sale.transactionId)).toMatchObject({
      status: 'partially_refunded',
      refundedAmount: '25.00',
    });

    const rest = created(await program.event({ type: 'refund', saleExternalId: externalId }));
    expect(rest.amount).toBe('75.00');
    expect(rest.commissions).toMatchObject([{ kind: 'clawback', amount: '-15.00' }]);
    expect(await commission(program, paid.id)).toEqual(paid);
    expect((await transaction(program, sale.transactionId)).status).toBe('refunded');
    const clawbacks = await listAll(program, `/commissions?kind=clawback&partnerId=${partner.id}`);
    expect(clawbacks.map((c) => c.amount).sort()).toEqual(['-15.00', '-5.00']);
  });

  it('treats a commission inside a pending payout as paid: untouched, clawed back', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const sale = created(
      await program.event({
        type: 'sale',
        partnerId: partner.id,
        customer: { externalId: 'crm-r5' },
        amount: '100.00',
        currency: 'EUR',
        externalId: 'order-r5',
      }),
    );
    const commissionId = sale.commissions[0].id;
    await passHoldback(program, commissionId, 14);
    const payout = created(await program.post('/payouts', { partnerId: partner.id, currency: 'EUR' }));
    const held = await commission(program, commissionId);
    expect(held).toMatchObject({ status: 'approved', payoutId: payout.id, amount: '20.00' });

    const refund = created(
      await program.event({ type: 'refund', saleExternalId: 'order-r5', amount: '50.00', currency: 'EUR' }),
    );
    expect(refund.commissions).toMatchObject([{ kind: 'clawback', amount: '-10.00', status: 'approved' }]);
    expect(await commission(program, commissionId)).toEqual(held);
  });

  it('claws back only what was not already reversed before payment', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const sale = created(
      await program.event({
        type: 'sale',
        partnerId: partner.id,
        customer: { externalId: 'crm-r4' },
        amount: '100.00',
        currency: 'EUR',
        externalId: 'order-r4',
      }),
    );
    const commissionId = sale.commissions[0].id;
    created(
      await program.event({ type: 'refund', saleExternalId: 'order-r4', amount: '10.00', currency: 'EUR' }),
    );
    await passHoldback(program, commissionId, 14);
    await payCommissions(program, partner.id, 'EUR');
    const paid = await commission(program, commissionId);
    expect(paid).toMatchObject({ status: 'paid', amount: '18.00', reversedAmount: '2.00' });

    const second = created(
      await program.event({ type: 'refund', saleExternalId: 'order-r4', amount: '40.00', currency: 'EUR' }),
    );
    expect(second.commissions).toMatchObject([{ kind: 'clawback', amount: '-8.00' }]);
    const third = created(await program.event({ type: 'refund', saleExternalId: 'order-r4' }));
    expect(third.commissions).toMatchObject([{ kind: 'clawback', amount: '-10.00' }]);
    expect(await commission(program, commissionId)).toEqual(paid);
  });
});

describe('reading events', () => {
  let program: Program;
  let partners: { id: string }[];
  let events: Record<string, any>;

  beforeAll(async () => {
    program = await startProgram(server, RULES);
    partners = [await program.partner(), await program.partner()];
    const [p1, p2] = partners as [{ id: string }, { id: string }];
    const post = async (body: Record<string, unknown>) => created(await program.event(body));
    events = {};
    events.click1 = await post({
      type: 'click',
      partnerId: p1.id,
      externalId: 'visit-1',
      occurredAt: '2026-01-10T12:00:00.000Z',
    });
    events.leadA = await post({
      type: 'lead',
      partnerId: p1.id,
      customer: { externalId: 'crm-a' },
      occurredAt: '2026-01-11T08:00:00.000Z',
    });
    events.saleA = await post({
      type: 'sale',
      customer: { externalId: 'crm-a' },
      amount: '80.00',
      currency: 'EUR',
      externalId: 'order-a',
      occurredAt: '2026-01-12T00:00:00.000Z',
    });
    events.click2 = await post({ type: 'click', partnerId: p2.id, occurredAt: '2026-01-12T23:59:59.999Z' });
    events.saleB = await post({
      type: 'sale',
      clickId: events.click2.clickId,
      customer: { externalId: 'crm-b' },
      amount: '30.00',
      currency: 'EUR',
      externalId: 'order-b',
      occurredAt: '2026-01-13T00:00:00.000Z',
    });
  });

  const ids = async (query: string) => (await listAll(program, `/events?${query}`)).map((e) => e.id);

  it('gets one event with its commissions; unknown and foreign ids are 404', async () => {
    const event = created(await program.get(`/events/${events.saleA.id}`), 200);
    // Back-dated past its holdback, the commission may already be approved by the job.
    expect(event).toEqual({
      ...events.saleA,
      commissions: [
        { ...events.saleA.commissions[0], status: expect.stringMatching(/^(pending|approved)$/) },
      ],
    });
    expect(event.commissions).toMatchObject([{ kind: 'sale', amount: '16.00', currency: 'EUR' }]);

    const other = await createTenant(server);
    const foreign = await program.get(`/events/${events.saleA.id}`, other.key);
    expect(foreign.status).toBe(404);
    expect(foreign.body.code).toBe('not_found');
    expect((await program.get('/events/evt_01jd8x3v4w5y6z7a8b9c0d1e2f')).status).toBe(404);
  });

  it('lists newest first without the commissions', async () => {
    const list = await listAll(program, '/events');
    expect(list.map((e) => e.id)).toEqual(
      [events.saleB, events.click2, events.saleA, events.leadA, events.click1].map((e) => e.id),
    );
    const { commissions: _, ...saleA } = events.saleA;
    expect(list[2]).toEqual(saleA);
  });

  it.each([
    ['type=click', ['click2', 'click1']],
    ['type=sale', ['saleB', 'saleA']],
    ['partnerId=P1', ['saleA', 'leadA', 'click1']],
    ['partnerId=P2', ['saleB', 'click2']],
    ['partnerId=P1&type=sale', ['saleA']],
    ['customerId=A', ['saleA', 'leadA']],
    ['externalId=order-a', ['saleA']],
    ['externalId=visit-1', ['click1']],
    ['from=2026-01-12&to=2026-01-12', ['click2', 'saleA']],
    ['from=2026-01-11T08:00:00.000Z&to=2026-01-12T00:00:00.000Z', ['saleA', 'leadA']],
    ['from=2026-01-13', ['saleB']],
    ['to=2026-01-10', ['click1']],
  ])('filters by %s', async (query, expected) => {
    const resolved = query
      .replace('P1', partners[0]?.id ?? '')
      .replace('P2', partners[1]?.id ?? '')
      .replace('customerId=A', `customerId=${events.leadA.customerId}`);
    expect(await ids(resolved)).toEqual(expected.map((name) => events[name].id));
  });

  it('pages classically and by cursor over the same order', async () => {
    const all = await ids('');
    const first = await program.get('/events?limit=2');
    expect(first.body.pagination).toEqual({
      page: 1,
      limit: 2,
      total: 5,
      pages: 3,
      nextCursor: expect.any(String),
    });
    const third = await program.get('/events?limit=2&page=3');
    expect(third.body.pagination).toEqual({ page: 3, limit: 2, total: 5, pages: 3 });
    expect(third.body.data.map((e: { id: string }) => e.id)).toEqual(all.slice(4));

    const walked: string[] = [];
    let cursor: string | null = first.body.pagination.nextCursor;
    walked.push(...first.body.data.map((e: { id: string }) => e.id));
    while (cursor) {
      const page = await program.get(`/events?limit=2&cursor=${cursor}`);
      expect(page.status).toBe(200);
      expect(page.body.pagination.limit).toBe(2);
      walked.push(...page.body.data.map((e: { id: string }) => e.id));
      cursor = page.body.pagination.nextCursor;
    }
    expect(walked).toEqual(all);

    const filtered = await program.get('/events?type=sale&limit=1');
    const next = await program.get(`/events?type=sale&limit=1&cursor=${filtered.body.pagination.nextCursor}`);
    expect(next.body.data.map((e: { id: string }) => e.id)).toEqual([events.saleA.id]);
    expect(next.body.pagination.nextCursor).toBeNull();
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['type=signup', 'type'],
    ['from=yesterday', 'from'],
    ['partnerId=cus_01jd8x3v4w5y6z7a8b9c0d1e2f', 'partnerId'],
  ])('refuses the query %s: 400 naming the field', async (query, field) => {
    const response = await program.get(`/events?${query}`);
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('refuses a cursor it did not issue', async () => {
    const response = await program.get('/events?cursor=bm9wZQ');
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('invalid_cursor');
  });
});
