import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { created, listAll, type Program, startProgram } from './program.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const RULES = {
  saleCommission: { type: 'percentage', basisPoints: 2000 },
  leadCommission: { amounts: [{ amount: '5.00', currency: 'EUR' }] },
};

async function counts(program: Program) {
  const [events, customers, transactions, commissions] = await Promise.all(
    ['/events', '/customers', '/transactions', '/commissions'].map((path) => listAll(program, path)),
  );
  return {
    events: events?.length,
    customers: customers?.length,
    transactions: transactions?.length,
    commissions: commissions?.length,
  };
}

describe('an externalId seen before', () => {
  it('answers a repeated sale with the first event (200), without a second transaction or commission', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const body = {
      type: 'sale',
      partnerId: partner.id,
      customer: { externalId: 'crm-1' },
      amount: '50.00',
      currency: 'EUR',
      externalId: 'order-1',
    };
    const first = created(await program.event(body));
    const repeat = await program.event(body);
    expect(repeat.status).toBe(200);
    expect(repeat.body.data).toEqual(first);

    // Even a repeat with other content is the first event, not a new one.
    const changed = await program.event({ ...body, amount: '99.00', customer: { externalId: 'crm-2' } });
    expect(changed.status).toBe(200);
    expect(changed.body.data).toEqual(first);
    for (const change of [{ partnerId: 'prt_01h455vb4pex5vsknk084sn02q' }, { amount: '1.234' }]) {
      const invalid = await program.event({ ...body, ...change });
      expect(invalid.status).toBe(200);
      expect(invalid.body.data).toEqual(first);
    }
    expect(await counts(program)).toEqual({ events: 1, customers: 1, transactions: 1, commissions: 1 });
  });

  it('is not processed twice for clicks, leads and refunds either', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const twice = async (body: Record<string, unknown>) => {
      const first = created(await program.event(body));
      const repeat = await program.event(body);
      expect(repeat.status).toBe(200);
      expect(repeat.body.data).toEqual(first);
      return first;
    };
    const click = await twice({ type: 'click', partnerId: partner.id, externalId: 'visit-1' });
    expect(click.clickId).toMatch(/^clk_/);
    const lead = await twice({
      type: 'lead',
      clickId: click.clickId,
      customer: { externalId: 'crm-1' },
      externalId: 'signup-1',
    });
    expect(lead.commissions).toHaveLength(1);
    const sale = created(
      await program.event({
        type: 'sale',
        customer: { externalId: 'crm-1' },
        amount: '10.00',
        currency: 'EUR',
        externalId: 'order-1',
      }),
    );
    await twice({
      type: 'refund',
      saleExternalId: 'order-1',
      amount: '4.00',
      currency: 'EUR',
      externalId: 'rf-1',
    });
    const txn = created(await program.get(`/transactions/${sale.transactionId}`), 200);
    expect(txn).toMatchObject({ status: 'partially_refunded', refundedAmount: '4.00' });
    const commission = created(await program.get(`/commissions/${sale.commissions[0].id}`), 200);
    expect(commission).toMatchObject({ amount: '1.20', reversedAmount: '0.80' });
    expect(await counts(program)).toEqual({ events: 4, customers: 1, transactions: 1, commissions: 2 });
  });

  it('is a new event for another type, and for another tenant', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const lead = created(
      await program.event({
        type: 'lead',
        partnerId: partner.id,
        customer: { externalId: 'c' },
        externalId: 'x-1',
      }),
    );
    const sale = created(
      await program.event({
        type: 'sale',
        customer: { externalId: 'c' },
        amount: '10.00',
        currency: 'EUR',
        externalId: 'x-1',
      }),
    );
    expect(sale.id).not.toBe(lead.id);
    const click = created(await program.event({ type: 'click', partnerId: partner.id, externalId: 'x-1' }));
    expect(click.id).not.toBe(sale.id);

    const other = await startProgram(server, RULES);
    const otherPartner = await other.partner();
    const foreign = created(
      await other.event({ type: 'click', partnerId: otherPartner.id, externalId: 'x-1' }),
    );
    expect(foreign.id).not.toBe(click.id);
    expect(await counts(program)).toMatchObject({ events: 3, transactions: 1 });
  });

  it('events without externalId are all recorded', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const body = { type: 'click', partnerId: partner.id };
    const [a, b] = [created(await program.event(body)), created(await program.event(body))];
    expect(a.id).not.toBe(b.id);
    expect(a.clickId).not.toBe(b.clickId);
  });
});

describe('concurrent delivery', () => {
  it('20 identical sales at once: one 201, nineteen 200 with the same id, one transaction and commission', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const body = {
      type: 'sale',
      partnerId: partner.id,
      customer: { externalId: 'crm-race' },
      amount: '75.00',
      currency: 'EUR',
      externalId: 'order-race',
    };
    const responses = await Promise.all(Array.from({ length: 20 }, () => program.event(body)));
    const statuses = responses.map((r) => r.status).sort((a, b) => a - b);
    const failure = responses.find((r) => r.status >= 300)?.body;
    expect(statuses, JSON.stringify(failure)).toEqual([...Array(19).fill(200), 201]);
    const ids = new Set(responses.map((r) => r.body.data.id));
    expect(ids.size).toBe(1);
    const first = responses.find((r) => r.status === 201)?.body.data;
    for (const response of responses) expect(response.body.data).toEqual(first);
    expect(first.commissions).toMatchObject([{ kind: 'sale', amount: '15.00' }]);
    expect(await counts(program)).toEqual({ events: 1, customers: 1, transactions: 1, commissions: 1 });
  });

  it('10 deliveries of one sale naming different new customers at once: one 201, and no customer for the repeats', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const sale = (customer: string) =>
      program.event({
        type: 'sale',
        partnerId: partner.id,
        customer: { externalId: customer },
        amount: '20.00',
        currency: 'EUR',
        externalId: 'order-resent',
      });
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => sale(`crm-resent-${i}`)));
    const statuses = responses.map((r) => r.status).sort((a, b) => a - b);
    expect(statuses, JSON.stringify(responses.find((r) => r.status >= 300)?.body)).toEqual([
      ...Array(9).fill(200),
      201,
    ]);
    const first = responses.find((r) => r.status === 201)?.body.data;
    for (const response of responses) expect(response.body.data).toEqual(first);
    expect((await sale('crm-resent-late')).body.data).toEqual(first);
    expect(await counts(program)).toEqual({ events: 1, customers: 1, transactions: 1, commissions: 1 });
  });

  it('10 different sales of one new customer at once: ten transactions, one customer, one first-sale commission', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        program.event({
          type: 'sale',
          partnerId: partner.id,
          customer: { externalId: 'crm-busy' },
          amount: '10.00',
          currency: 'EUR',
          externalId: `order-${i}`,
        }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(201));
    expect(new Set(responses.map((r) => r.body.data.customerId)).size).toBe(1);
    expect(await counts(program)).toEqual({ events: 10, customers: 1, transactions: 10, commissions: 1 });
  });

  it('leads naming two partners for one new customer at once: one partner wins, one lead commission', async () => {
    const program = await startProgram(server, RULES);
    const partners = [await program.partner(), await program.partner()];
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        program.event({
          type: 'lead',
          partnerId: partners[i % 2]?.id,
          customer: { externalId: 'crm-contested' },
          externalId: `signup-${i}`,
        }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(201));
    const commissions = await listAll(program, '/commissions');
    expect(commissions).toHaveLength(1);
    const [customer] = await listAll(program, '/customers');
    expect(customer.partnerId).toBe(commissions[0].partnerId);
    for (const response of responses) expect(response.body.data.partnerId).toBe(customer.partnerId);
  });

  it("a fresh tenant's first events at once all find its default group", async () => {
    const program = await startProgram(server);
    const partner = await program.partner();
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        program.event({
          type: 'sale',
          partnerId: partner.id,
          customer: { externalId: `crm-${i}` },
          amount: '10.00',
          currency: 'EUR',
          externalId: `order-${i}`,
        }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(8).fill(201));
    expect((await listAll(program, '/partner-groups')).filter((g) => g.isDefault)).toHaveLength(1);
  });

  it('parallel partial refunds never refund more than the sale', async () => {
    const program = await startProgram(server, RULES);
    const partner = await program.partner();
    const sale = created(
      await program.event({
        type: 'sale',
        partnerId: partner.id,
        customer: { externalId: 'crm-1' },
        amount: '10.00',
        currency: 'EUR',
        externalId: 'order-1',
      }),
    );
    // Four refunds of 3.00 against 10.00: three fit, the fourth finds only 1.00 left.
    const responses = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        program.event({
          type: 'refund',
          saleExternalId: 'order-1',
          amount: '3.00',
          currency: 'EUR',
          externalId: `rf-${i}`,
        }),
      ),
    );
    const statuses = responses.map((r) => r.status).sort((a, b) => a - b);
    expect(statuses).toEqual([201, 201, 201, 409]);
    expect(responses.find((r) => r.status === 409)?.body.code).toBe('refund_exceeds_sale');
    expect(created(await program.get(`/transactions/${sale.transactionId}`), 200)).toMatchObject({
      status: 'partially_refunded',
      refundedAmount: '9.00',
    });
    expect(created(await program.get(`/commissions/${sale.commissions[0].id}`), 200)).toMatchObject({
      amount: '0.20',
      reversedAmount: '1.80',
      status: 'pending',
    });
    expect(await listAll(program, '/events?type=refund')).toHaveLength(3);
  });
});
