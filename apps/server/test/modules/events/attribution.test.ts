import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { created, DAY_MS, expectFieldError, listAll, type Program, startProgram } from './program.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const PERCENT_20 = {
  saleCommission: { type: 'percentage', basisPoints: 2000 },
  leadCommission: { amounts: [{ amount: '5.00', currency: 'EUR' }] },
};

/** An ISO timestamp `days` before now. */
const daysAgo = (days: number) => new Date(Date.now() - days * DAY_MS).toISOString();

let counter = 0;
function sale(customer: string, extra: Record<string, unknown> = {}) {
  counter += 1;
  return {
    type: 'sale',
    customer: { externalId: customer },
    amount: '100.00',
    currency: 'EUR',
    externalId: `order-${counter}`,
    ...extra,
  };
}

async function customer(program: Program, id: string) {
  return created(await program.get(`/customers/${id}`), 200);
}

describe('first touch', () => {
  it('keeps the first partner: a later event naming another partner moves nothing and earns it nothing', async () => {
    const program = await startProgram(server, PERCENT_20);
    const first = await program.partner({ referralCode: 'FIRST-1' });
    const second = await program.partner();

    const lead = created(
      await program.event({ type: 'lead', referralCode: 'FIRST-1', customer: { externalId: 'crm-1' } }),
    );
    expect(lead.partnerId).toBe(first.id);
    expect(lead.commissions).toMatchObject([{ kind: 'lead', amount: '5.00' }]);

    const secondLead = created(
      await program.event({ type: 'lead', partnerId: second.id, customer: { externalId: 'crm-1' } }),
    );
    expect(secondLead).toMatchObject({ partnerId: first.id, customerId: lead.customerId, commissions: [] });

    const click = created(await program.event({ type: 'click', partnerId: second.id }));
    const bought = created(await program.event(sale('crm-1', { clickId: click.clickId })));
    expect(bought.partnerId).toBe(first.id);
    expect(bought.commissions).toMatchObject([{ kind: 'sale', amount: '20.00' }]);
    const [earned] = await listAll(program, `/commissions?kind=sale`);
    expect(earned.partnerId).toBe(first.id);
    expect(await listAll(program, `/commissions?partnerId=${second.id}`)).toEqual([]);
    expect((await customer(program, lead.customerId)).partnerId).toBe(first.id);
  });

  it('attributes a customer first seen without a partner to the first partner that names them', async () => {
    const program = await startProgram(server, PERCENT_20);
    const partner = await program.partner();
    const anonymous = created(await program.event(sale('crm-2')));
    expect(anonymous).toMatchObject({ partnerId: null, commissions: [] });
    expect((await customer(program, anonymous.customerId)).partnerId).toBeNull();

    const lead = created(
      await program.event({ type: 'lead', partnerId: partner.id, customer: { externalId: 'crm-2' } }),
    );
    expect(lead).toMatchObject({ partnerId: partner.id, customerId: anonymous.customerId });
    expect((await customer(program, lead.customerId)).partnerId).toBe(partner.id);
  });

  it('names the partner by partnerId, referralCode or clickId alike', async () => {
    const program = await startProgram(server, PERCENT_20);
    const partner = await program.partner({ referralCode: 'ADA2026' });
    const click = created(await program.event({ type: 'click', referralCode: 'ADA2026' }));
    expect(click.partnerId).toBe(partner.id);
    for (const [n, reference] of [
      [1, { partnerId: partner.id }],
      [2, { referralCode: 'ADA2026' }],
      [3, { clickId: click.clickId }],
      // A code is found whatever the case it is typed in.
      [4, { referralCode: 'ada2026' }],
    ] as const) {
      const bought = created(await program.event(sale(`crm-ref-${n}`, reference)));
      expect(bought.partnerId).toBe(partner.id);
      expect(bought.commissions).toMatchObject([{ kind: 'sale', amount: '20.00' }]);
    }
  });

  it.each([
    ['partnerId', 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f'],
    ['partnerId', 'not-an-id'],
    ['referralCode', 'NOBODY'],
    ['clickId', 'clk_01jd8x3v4w5y6z7a8b9c0d1e2f'],
    ['clickId', 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f'],
  ])('refuses an unknown %s %s: 400 naming the field, nothing recorded', async (field, value) => {
    const program = await startProgram(server, PERCENT_20);
    for (const body of [
      { type: 'lead', [field]: value, customer: { externalId: 'crm-x' } },
      sale('crm-x', { [field]: value }),
    ]) {
      expectFieldError(await program.event(body), field);
    }
    if (field !== 'clickId') expectFieldError(await program.event({ type: 'click', [field]: value }), field);
    expect(await listAll(program, '/events')).toEqual([]);
    expect(await listAll(program, '/customers')).toEqual([]);
  });

  it("refuses another tenant's partner, referral code and click as unknown", async () => {
    const owner = await startProgram(server, PERCENT_20);
    const partner = await owner.partner({ referralCode: 'MINE-1' });
    const click = created(await owner.event({ type: 'click', partnerId: partner.id }));
    const intruder = await startProgram(server, PERCENT_20);
    expectFieldError(await intruder.event(sale('crm-1', { partnerId: partner.id })), 'partnerId');
    expectFieldError(await intruder.event(sale('crm-1', { referralCode: 'MINE-1' })), 'referralCode');
    expectFieldError(await intruder.event(sale('crm-1', { clickId: click.clickId })), 'clickId');
  });
});

describe('attribution window', () => {
  it('attributes up to attributionWindowDays after the click and not a millisecond later', async () => {
    const program = await startProgram(server, { ...PERCENT_20, attributionWindowDays: 7 });
    const partner = await program.partner();
    const clickedAt = Date.now() - 30 * DAY_MS;
    const click = created(
      await program.event({
        type: 'click',
        partnerId: partner.id,
        occurredAt: new Date(clickedAt).toISOString(),
      }),
    );
    const at = (ms: number) => new Date(clickedAt + ms).toISOString();

    const inside = created(
      await program.event({
        type: 'lead',
        clickId: click.clickId,
        customer: { externalId: 'crm-in' },
        occurredAt: at(7 * DAY_MS),
      }),
    );
    expect(inside).toMatchObject({ partnerId: partner.id, clickId: click.clickId });
    expect(inside.commissions).toHaveLength(1);

    const late = created(
      await program.event({
        type: 'lead',
        clickId: click.clickId,
        customer: { externalId: 'crm-late' },
        occurredAt: at(7 * DAY_MS + 1),
      }),
    );
    expect(late).toMatchObject({ type: 'lead', partnerId: null, commissions: [] });
    const unattributed = await customer(program, late.customerId);
    expect(unattributed).toMatchObject({ partnerId: null, attributedAt: null });

    const lateSale = created(await program.event(sale('crm-late-sale', { clickId: click.clickId })));
    expect(lateSale).toMatchObject({ partnerId: null, commissions: [] });
    const txn = created(await program.get(`/transactions/${lateSale.transactionId}`), 200);
    expect(txn).toMatchObject({ partnerId: null, amount: '100.00' });
    expect(await listAll(program, '/commissions?kind=sale')).toEqual([]);
  });

  it('attributes nothing dated before the click, beyond five minutes of clock skew', async () => {
    const program = await startProgram(server, { ...PERCENT_20, attributionWindowDays: 7 });
    const partner = await program.partner();
    const clickedAt = Date.now() - DAY_MS;
    const click = created(
      await program.event({
        type: 'click',
        partnerId: partner.id,
        occurredAt: new Date(clickedAt).toISOString(),
      }),
    );
    const lead = (customerId: string, ms: number) =>
      program.event({
        type: 'lead',
        clickId: click.clickId,
        customer: { externalId: customerId },
        occurredAt: new Date(clickedAt + ms).toISOString(),
      });
    const skewed = created(await lead('crm-skewed', -5 * 60_000));
    expect(skewed).toMatchObject({ partnerId: partner.id, clickId: click.clickId });
    expect(skewed.commissions).toHaveLength(1);
    const before = created(await lead('crm-before', -5 * 60_000 - 1));
    expect(before).toMatchObject({ partnerId: null, commissions: [] });
    const yearsBefore = created(
      await program.event(sale('crm-years-before', { clickId: click.clickId, occurredAt: daysAgo(6 * 365) })),
    );
    expect(yearsBefore).toMatchObject({ partnerId: null, commissions: [] });
  });
});

describe('revoked partners', () => {
  it('earn nothing: no attribution, no lead or sale commission, also for customers they brought earlier', async () => {
    const program = await startProgram(server, { ...PERCENT_20, recurring: true, recurringMonths: null });
    const partner = await program.partner({ referralCode: 'GONE-1' });
    const click = created(await program.event({ type: 'click', partnerId: partner.id }));
    const before = created(await program.event(sale('crm-old', { partnerId: partner.id })));
    expect(before.commissions).toHaveLength(1);

    const revoked = await program.patch(`/partners/${partner.id}`, { status: 'revoked' });
    expect(revoked.status).toBe(200);
    expect(revoked.body.data.status).toBe('revoked');

    // A lifetime customer of the revoked partner buys again.
    const after = created(await program.event(sale('crm-old')));
    expect(after).toMatchObject({ partnerId: partner.id, commissions: [] });

    for (const reference of [
      { partnerId: partner.id },
      { referralCode: 'GONE-1' },
      { clickId: click.clickId },
    ]) {
      counter += 1;
      const lead = created(
        await program.event({ type: 'lead', ...reference, customer: { externalId: `crm-new-${counter}` } }),
      );
      expect(lead).toMatchObject({ partnerId: null, commissions: [] });
      const bought = created(await program.event(sale(`crm-new-${counter}`, reference)));
      expect(bought).toMatchObject({ partnerId: null, commissions: [] });
    }
    const commissions = await listAll(program, '/commissions');
    expect(commissions).toHaveLength(1);
    expect(commissions[0].id).toBe(before.commissions[0].id);
  });
});

describe('recurring rules', () => {
  it('without recurring, only the first sale earns', async () => {
    const program = await startProgram(server, PERCENT_20);
    const partner = await program.partner();
    const first = created(
      await program.event(sale('crm-1', { partnerId: partner.id, occurredAt: daysAgo(2) })),
    );
    expect(first.commissions).toHaveLength(1);
    const second = created(await program.event(sale('crm-1', { partnerId: partner.id })));
    expect(second).toMatchObject({ partnerId: partner.id, commissions: [] });
    expect(created(await program.get(`/transactions/${second.transactionId}`), 200).partnerId).toBe(
      partner.id,
    );
    expect((await customer(program, first.customerId)).lifetime).toBe(false);
  });

  it('with recurringMonths, later sales earn inside the window and nothing after it', async () => {
    const program = await startProgram(server, { ...PERCENT_20, recurring: true, recurringMonths: 3 });
    const partner = await program.partner();
    const first = created(
      await program.event(sale('crm-1', { partnerId: partner.id, occurredAt: daysAgo(120) })),
    );
    expect(first.commissions).toHaveLength(1);
    expect((await customer(program, first.customerId)).lifetime).toBe(false);
    const inside = created(await program.event(sale('crm-1', { occurredAt: daysAgo(60) })));
    expect(inside.commissions).toMatchObject([{ kind: 'sale', amount: '20.00' }]);
    const after = created(await program.event(sale('crm-1')));
    expect(after).toMatchObject({ partnerId: partner.id, commissions: [] });
    // Within recurringMonths after the attribution: a sale dated before it earns nothing.
    const before = created(await program.event(sale('crm-1', { occurredAt: daysAgo(150) })));
    expect(before).toMatchObject({ partnerId: partner.id, commissions: [] });
  });

  it('with recurringMonths, a window from January 31 ends with February', async () => {
    const program = await startProgram(server, { ...PERCENT_20, recurring: true, recurringMonths: 1 });
    const partner = await program.partner();
    const lead = created(
      await program.event({
        type: 'lead',
        partnerId: partner.id,
        customer: { externalId: 'crm-month-end' },
        occurredAt: '2026-01-31T12:00:00.000Z',
      }),
    );
    expect(lead.commissions).toHaveLength(1);
    const first = created(
      await program.event(sale('crm-month-end', { occurredAt: '2026-02-01T00:00:00.000Z' })),
    );
    expect(first.commissions).toHaveLength(1);
    const lastDay = created(
      await program.event(sale('crm-month-end', { occurredAt: '2026-02-28T11:59:59.999Z' })),
    );
    expect(lastDay.commissions).toMatchObject([{ kind: 'sale', amount: '20.00' }]);
    const march = created(
      await program.event(sale('crm-month-end', { occurredAt: '2026-03-02T00:00:00.000Z' })),
    );
    expect(march).toMatchObject({ partnerId: partner.id, commissions: [] });
  });

  it('with recurring for life, the customer is lifetime and every later sale earns, even after the rule changes', async () => {
    const program = await startProgram(server, { ...PERCENT_20, recurring: true, recurringMonths: null });
    const partner = await program.partner();
    const first = created(
      await program.event(sale('crm-1', { partnerId: partner.id, occurredAt: daysAgo(1000) })),
    );
    expect(await customer(program, first.customerId)).toMatchObject({
      partnerId: partner.id,
      lifetime: true,
    });
    // For life from the attribution on: a sale dated before it earns nothing, as with recurringMonths.
    const before = created(await program.event(sale('crm-1', { occurredAt: daysAgo(1001) })));
    expect(before).toMatchObject({ partnerId: partner.id, commissions: [] });

    await program.rules({ recurring: false });
    const other = await program.partner();
    for (const extra of [{}, { partnerId: other.id }]) {
      const later = created(await program.event(sale('crm-1', extra)));
      expect(later.partnerId).toBe(partner.id);
      expect(later.commissions).toMatchObject([{ kind: 'sale', amount: '20.00' }]);
    }
    expect(await listAll(program, `/commissions?partnerId=${other.id}`)).toEqual([]);
  });
});

describe('fixed-amount rules', () => {
  it('pay the amount of the sale currency, and nothing in a currency without one', async () => {
    const program = await startProgram(server, {
      saleCommission: {
        type: 'fixed',
        amounts: [
          { amount: '10.00', currency: 'EUR' },
          { amount: '1500', currency: 'JPY' },
          { amount: '2.500', currency: 'BHD' },
        ],
      },
    });
    const partner = await program.partner();
    const cases = [
      ['EUR', '99.99', '10.00'],
      ['JPY', '12000', '1500'],
      ['BHD', '40.125', '2.500'],
    ] as const;
    for (const [currency, amount, commission] of cases) {
      const bought = created(
        await program.event(sale(`crm-${currency}`, { partnerId: partner.id, amount, currency })),
      );
      expect(bought.commissions).toEqual([
        { id: expect.any(String), kind: 'sale', amount: commission, currency, status: 'pending' },
      ]);
      const stored = created(await program.get(`/commissions/${bought.commissions[0].id}`), 200);
      expect(stored.rule).toMatchObject({ type: 'fixed', amount: commission, currency });
    }
    const dollars = created(
      await program.event(sale('crm-USD', { partnerId: partner.id, amount: '50.00', currency: 'USD' })),
    );
    expect(dollars).toMatchObject({
      partnerId: partner.id,
      amount: '50.00',
      currency: 'USD',
      commissions: [],
    });
    expect(await listAll(program, '/commissions?currency=USD')).toEqual([]);
  });

  it('pay a lead commission in the currency asked for; with several, a lead must name one', async () => {
    const program = await startProgram(server, {
      leadCommission: {
        amounts: [
          { amount: '5.00', currency: 'EUR' },
          { amount: '700', currency: 'JPY' },
        ],
      },
    });
    const partner = await program.partner();
    const lead = (n: number, extra: Record<string, unknown>) =>
      program.event({ type: 'lead', partnerId: partner.id, customer: { externalId: `crm-${n}` }, ...extra });
    const unnamed = await lead(1, {});
    expectFieldError(unnamed, 'currency');
    expect(unnamed.body.errors[0].message).toContain('EUR, JPY');
    expect(await listAll(program, '/customers')).toEqual([]);
    expect(created(await lead(1, { currency: 'EUR' })).commissions).toMatchObject([
      { amount: '5.00', currency: 'EUR' },
    ]);
    expect(created(await lead(2, { currency: 'JPY' })).commissions).toMatchObject([
      { amount: '700', currency: 'JPY' },
    ]);
    // A currency the group pays no lead commission in would attribute the customer and lose the
    // commission for good: refused instead, and nothing is written.
    const unpaid = await lead(3, { currency: 'USD' });
    expectFieldError(unpaid, 'currency');
    expect(unpaid.body.errors[0].message).toContain('EUR, JPY');
    expect(
      (await listAll(program, '/customers')).map((c: { externalId: string }) => c.externalId),
    ).not.toContain('crm-3');
  });
});

describe('partner groups', () => {
  it("pay a partner by its group's rules, and by the default group's when its group does not exist", async () => {
    const program = await startProgram(server, PERCENT_20);
    const group = await program.post('/partner-groups', {
      key: 'premium',
      name: 'Premium',
      saleCommission: { type: 'percentage', basisPoints: 3333 },
      holdbackDays: 7,
    });
    expect(group.status).toBe(201);
    const premium = await program.partner({ groupKey: 'premium' });
    const orphan = await program.partner({ groupKey: 'no-such-group' });
    const plain = await program.partner();

    const earned = async (partnerId: string, n: number) => {
      const bought = created(await program.event(sale(`crm-g${n}`, { partnerId, amount: '10.05' })));
      return created(await program.get(`/commissions/${bought.commissions[0].id}`), 200);
    };
    // 10.05 × 33.33 % = 3.349665 → 3.35; × 20 % = 2.01.
    expect(await earned(premium.id, 1)).toMatchObject({
      amount: '3.35',
      rule: { groupKey: 'premium', basisPoints: 3333, holdbackDays: 7 },
    });
    expect(await earned(orphan.id, 2)).toMatchObject({ amount: '2.01', rule: { groupKey: 'default' } });
    expect(await earned(plain.id, 3)).toMatchObject({ amount: '2.01', rule: { groupKey: 'default' } });
  });

  it("apply a partner's move, its group's creation and a rule change from the very next sale", async () => {
    const program = await startProgram(server, PERCENT_20);
    const partner = await program.partner({ groupKey: 'later' });
    const earned = async () => {
      const bought = created(await program.event(sale(`crm-next-${counter}`, { partnerId: partner.id })));
      return bought.commissions[0]?.amount;
    };
    // No group `later` yet: the default group's 20 % of 100.00.
    expect(await earned()).toBe('20.00');
    await program.rules({ saleCommission: { type: 'percentage', basisPoints: 1000 } });
    expect(await earned()).toBe('10.00');
    const rate = (key: string, basisPoints: number) =>
      program.post('/partner-groups', {
        key,
        name: key,
        saleCommission: { type: 'percentage', basisPoints },
      });
    expect((await rate('later', 3000)).status).toBe(201);
    expect(await earned()).toBe('30.00');
    expect((await rate('other', 4000)).status).toBe(201);
    expect((await program.patch(`/partners/${partner.id}`, { groupKey: 'other' })).status).toBe(200);
    expect(await earned()).toBe('40.00');
  });

  it('earn nothing while the default group has no rules', async () => {
    const program = await startProgram(server);
    const partner = await program.partner();
    const lead = created(
      await program.event({ type: 'lead', partnerId: partner.id, customer: { externalId: 'crm-1' } }),
    );
    expect(lead).toMatchObject({ partnerId: partner.id, commissions: [] });
    const bought = created(await program.event(sale('crm-1')));
    expect(bought).toMatchObject({ partnerId: partner.id, commissions: [] });
  });
});

describe('sales commissions round half to even', () => {
  it.each([
    ['10.05', '1.00'],
    ['10.15', '1.02'],
    ['10.25', '1.02'],
    ['0.05', '0.00'],
    ['0.15', '0.02'],
  ])('10 %% of %s is %s', async (amount, expected) => {
    const program = await startProgram(server, { saleCommission: { type: 'percentage', basisPoints: 1000 } });
    const partner = await program.partner();
    const bought = created(await program.event(sale('crm-1', { partnerId: partner.id, amount })));
    if (expected === '0.00') expect(bought.commissions).toEqual([]);
    else expect(bought.commissions).toMatchObject([{ amount: expected }]);
  });

  it('in JPY and BHD minor units', async () => {
    const program = await startProgram(server, { saleCommission: { type: 'percentage', basisPoints: 2500 } });
    const partner = await program.partner();
    const cases = [
      ['JPY', '1002', '250'],
      ['JPY', '1006', '252'],
      ['BHD', '1.002', '0.250'],
      ['BHD', '1.006', '0.252'],
    ] as const;
    for (const [index, [currency, amount, expected]] of cases.entries()) {
      const bought = created(
        await program.event(sale(`crm-${index}`, { partnerId: partner.id, amount, currency })),
      );
      expect(bought.commissions).toMatchObject([{ amount: expected, currency }]);
    }
  });
});

describe('tenant isolation', () => {
  it("does not see another tenant's customer with the same externalId", async () => {
    const a = await startProgram(server, PERCENT_20);
    const b = await startProgram(server, PERCENT_20);
    const partnerA = await a.partner();
    const partnerB = await b.partner();
    const inA = created(await a.event(sale('crm-shared', { partnerId: partnerA.id })));
    const inB = created(await b.event(sale('crm-shared', { partnerId: partnerB.id })));
    expect(inB.customerId).not.toBe(inA.customerId);
    expect(inB).toMatchObject({ partnerId: partnerB.id, commissions: [{ amount: '20.00' }] });
    const other = await createTenant(server);
    expect((await a.get(`/customers/${inA.customerId}`, other.key)).status).toBe(404);
  });
});
