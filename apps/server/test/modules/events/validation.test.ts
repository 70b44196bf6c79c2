import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { created, DAY_MS, expectFieldError, listAll, type Program, startProgram } from './program.ts';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const RULES = {
  saleCommission: { type: 'percentage', basisPoints: 2000 },
  leadCommission: { amounts: [{ amount: '5.00', currency: 'EUR' }] },
};

const PARTNER = 'PARTNER_ID';

/** A program with one partner, whose id replaces PARTNER in the bodies below. */
async function programWithPartner(): Promise<{ program: Program; partnerId: string }> {
  const program = await startProgram(server, RULES);
  const partner = await program.partner();
  return { program, partnerId: partner.id };
}

function withPartner(body: Record<string, unknown>, partnerId: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, v === PARTNER ? partnerId : v]));
}

/** Nothing of a failed event may remain: no event, customer, transaction or commission. */
async function expectNothingRecorded(program: Program): Promise<void> {
  for (const path of ['/events', '/customers', '/transactions', '/commissions']) {
    expect(await listAll(program, path), path).toEqual([]);
  }
}

const customer = { externalId: 'crm-1' };
const sale = {
  type: 'sale',
  partnerId: PARTNER,
  customer,
  amount: '12.00',
  currency: 'EUR',
  externalId: 'o-1',
};
const ahead = (ms: number) => new Date(Date.now() + ms).toISOString();

describe('POST /events refuses malformed events: 400 naming the field, nothing recorded', () => {
  // One tenant for the whole table: every case fails, so it must stay empty throughout.
  let empty: Promise<{ program: Program; partnerId: string }>;
  beforeAll(() => {
    empty = programWithPartner();
  });

  describe.each<[string, Record<string, unknown>, string[]]>([
    // Envelope.
    ['no type', { partnerId: PARTNER }, ['type']],
    ['an unknown type', { type: 'signup', partnerId: PARTNER }, ['type']],
    ['an unknown field', { type: 'click', partnerId: PARTNER, campaign: 'x' }, ['campaign']],
    [
      'a malformed occurredAt',
      { type: 'click', partnerId: PARTNER, occurredAt: 'yesterday' },
      ['occurredAt'],
    ],
    [
      'occurredAt more than a day ahead',
      { type: 'click', partnerId: PARTNER, occurredAt: ahead(DAY_MS + 60_000) },
      ['occurredAt'],
    ],
    ['an empty externalId', { type: 'click', partnerId: PARTNER, externalId: '' }, ['externalId']],
    [
      'metadata that is not strings',
      { type: 'click', partnerId: PARTNER, metadata: { plan: 3 } },
      ['metadata.plan'],
    ],
    // Partner identifiers.
    ['partnerId and referralCode', { ...sale, referralCode: 'ABC' }, ['partnerId', 'referralCode']],
    [
      'referralCode and clickId',
      { ...sale, partnerId: undefined, referralCode: 'ABC', clickId: 'clk_01jd8x3v4w5y6z7a8b9c0d1e2f' },
      ['referralCode', 'clickId'],
    ],
    [
      'all three identifiers on a lead',
      { type: 'lead', customer, partnerId: PARTNER, referralCode: 'ABC', clickId: 'clk_x' },
      ['partnerId', 'referralCode', 'clickId'],
    ],
    // click.
    ['a click naming no partner', { type: 'click' }, ['partnerId']],
    ['a click with a clickId', { type: 'click', clickId: 'clk_01jd8x3v4w5y6z7a8b9c0d1e2f' }, ['clickId']],
    ['a click with a customer', { type: 'click', partnerId: PARTNER, customer }, ['customer']],
    [
      'a click with an amount',
      { type: 'click', partnerId: PARTNER, amount: '1.00', currency: 'EUR' },
      ['amount', 'currency'],
    ],
    [
      'a click with a saleExternalId',
      { type: 'click', partnerId: PARTNER, saleExternalId: 'o-1' },
      ['saleExternalId'],
    ],
    // lead.
    ['a lead without customer', { type: 'lead', partnerId: PARTNER }, ['customer']],
    ['a lead with an amount', { type: 'lead', partnerId: PARTNER, customer, amount: '1.00' }, ['amount']],
    [
      'a lead with a saleExternalId',
      { type: 'lead', partnerId: PARTNER, customer, saleExternalId: 'o-1' },
      ['saleExternalId'],
    ],
    [
      'a lead in an unknown currency',
      { type: 'lead', partnerId: PARTNER, customer, currency: 'XXX' },
      ['currency'],
    ],
    [
      'a customer without externalId',
      { type: 'lead', partnerId: PARTNER, customer: { email: 'a@example.com' } },
      ['customer.externalId'],
    ],
    [
      'a customer with a malformed email',
      { type: 'lead', partnerId: PARTNER, customer: { externalId: 'c', email: 'nope' } },
      ['customer.email'],
    ],
    [
      'a customer with an unknown field',
      { type: 'lead', partnerId: PARTNER, customer: { externalId: 'c', vip: true } },
      ['customer.vip'],
    ],
    // sale.
    ['a sale without customer', { ...sale, customer: undefined }, ['customer']],
    ['a sale without amount', { ...sale, amount: undefined }, ['amount']],
    ['a sale without currency', { ...sale, currency: undefined }, ['currency']],
    [
      'a sale without amount and currency',
      { ...sale, amount: undefined, currency: undefined },
      ['amount', 'currency'],
    ],
    ['a sale with a saleExternalId', { ...sale, saleExternalId: 'o-0' }, ['saleExternalId']],
    // refund.
    ['a refund without saleExternalId', { type: 'refund' }, ['saleExternalId']],
    ['a refund with a customer', { type: 'refund', saleExternalId: 'o-1', customer }, ['customer']],
    [
      'a refund naming a partner',
      { type: 'refund', saleExternalId: 'o-1', partnerId: PARTNER },
      ['partnerId'],
    ],
    [
      'a refund with a referralCode',
      { type: 'refund', saleExternalId: 'o-1', referralCode: 'ABC' },
      ['referralCode'],
    ],
    ['a refund with a clickId', { type: 'refund', saleExternalId: 'o-1', clickId: 'clk_x' }, ['clickId']],
    [
      'a refund amount without currency',
      { type: 'refund', saleExternalId: 'o-1', amount: '1.00' },
      ['currency'],
    ],
    // Money.
    ['EUR with three decimals', { ...sale, amount: '1.001' }, ['amount']],
    ['JPY with decimals', { ...sale, amount: '1.5', currency: 'JPY' }, ['amount']],
    ['BHD with four decimals', { ...sale, amount: '1.2345', currency: 'BHD' }, ['amount']],
    ['CLF with five decimals', { ...sale, amount: '1.23456', currency: 'CLF' }, ['amount']],
    ['an amount of zero', { ...sale, amount: '0' }, ['amount']],
    ['an amount of 0.00', { ...sale, amount: '0.00' }, ['amount']],
    ['a negative amount', { ...sale, amount: '-5' }, ['amount']],
    ['a decimal comma', { ...sale, amount: '12,00' }, ['amount']],
    ['an exponent', { ...sale, amount: '1e3' }, ['amount']],
    ['a leading plus', { ...sale, amount: '+12.00' }, ['amount']],
    ['a trailing dot', { ...sale, amount: '12.' }, ['amount']],
    ['a number instead of a string', { ...sale, amount: 12 }, ['amount']],
    ['an amount too large', { ...sale, amount: '1000000000000000' }, ['amount']],
    ['an unknown currency', { ...sale, currency: 'XXX' }, ['currency']],
    ['a lower-case currency', { ...sale, currency: 'eur' }, ['currency']],
  ])('%s', (_, body, fields) => {
    it(`→ 400 naming ${fields.join(', ')}`, async () => {
      const { program, partnerId } = await empty;
      const response = await program.event(withPartner(body, partnerId));
      for (const field of fields) expectFieldError(response, field);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      await expectNothingRecorded(program);
    });
  });

  it('accepts occurredAt up to a day ahead and any time back', async () => {
    const { program, partnerId } = await programWithPartner();
    for (const occurredAt of [ahead(DAY_MS - 60_000), '2001-02-03T04:05:06.789Z']) {
      const click = created(await program.event({ type: 'click', partnerId, occurredAt }));
      expect(click.occurredAt).toBe(occurredAt);
    }
  });

  it.each([
    ['EUR', '12.00', '12.00'],
    ['EUR', '12', '12.00'],
    ['EUR', '0.01', '0.01'],
    ['JPY', '1200', '1200'],
    ['BHD', '1.250', '1.250'],
    ['BHD', '1.25', '1.250'],
    ['CLF', '1.2345', '1.2345'],
  ])('accepts %s %s and answers it as %s', async (currency, amount, answered) => {
    const { program, partnerId } = await programWithPartner();
    const event = created(await program.event({ ...sale, partnerId, currency, amount }));
    expect(event).toMatchObject({ amount: answered, currency });
    const txn = created(await program.get(`/transactions/${event.transactionId}`), 200);
    expect(txn).toMatchObject({ amount: answered, currency });
  });

  it('refuses a body that is not JSON', async () => {
    const { program } = await programWithPartner();
    const response = await call(server, 'POST', '/api/v1/events', {
      key: program.tenant.key,
      raw: '{"type": "click",',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('invalid_json');
  });
});

describe('refunds that cannot apply', () => {
  async function withSale(amount = '10.00') {
    const { program, partnerId } = await programWithPartner();
    const bought = created(await program.event({ ...sale, partnerId, amount }));
    return { program, partnerId, bought };
  }

  /** After a refused refund the sale, its commission and the event list are as they were. */
  async function expectUnchanged(program: Program, bought: any, refundedAmount = '0.00') {
    const txn = created(await program.get(`/transactions/${bought.transactionId}`), 200);
    expect(txn.refundedAmount).toBe(refundedAmount);
    expect(await listAll(program, '/events?type=refund')).toHaveLength(refundedAmount === '0.00' ? 0 : 1);
    expect(await listAll(program, '/commissions?kind=clawback')).toEqual([]);
  }

  it('409 sale_not_found for an unknown sale, also when it is only known to another tenant', async () => {
    const { program } = await withSale();
    const other = await startProgram(server, RULES);
    for (const [who, saleExternalId] of [
      [other, 'o-1'],
      [program, 'o-unknown'],
    ] as const) {
      const response = await who.event({ type: 'refund', saleExternalId, externalId: 'refund-1' });
      expect(response.status).toBe(409);
      expect(response.body.code).toBe('sale_not_found');
    }
    await expectNothingRecorded(other);
    // The refused refund's externalId was not taken: once the sale exists, the same refund applies.
    created(await other.event({ ...sale, partnerId: undefined }));
    created(await other.event({ type: 'refund', saleExternalId: 'o-1', externalId: 'refund-1' }));
  });

  it('409 refund_exceeds_sale for more than remains', async () => {
    const { program, bought } = await withSale();
    const refund = (amount: string) =>
      program.event({ type: 'refund', saleExternalId: 'o-1', amount, currency: 'EUR' });
    const tooMuch = await refund('10.01');
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.body.code).toBe('refund_exceeds_sale');
    await expectUnchanged(program, bought);

    created(await refund('4.00'));
    const beyondRest = await refund('6.01');
    expect(beyondRest.status).toBe(409);
    expect(beyondRest.body.code).toBe('refund_exceeds_sale');
    await expectUnchanged(program, bought, '4.00');
    created(await refund('6.00'));
  });

  it.each([
    ['another currency', { amount: '1.00', currency: 'USD' }, 'currency'],
    ['another currency without amount', { currency: 'USD' }, 'currency'],
    ["more decimals than the sale's currency has", { amount: '1.001', currency: 'EUR' }, 'amount'],
    ['zero', { amount: '0.00', currency: 'EUR' }, 'amount'],
  ])('400 for a refund in %s', async (_, extra, field) => {
    const { program, bought } = await withSale();
    expectFieldError(await program.event({ type: 'refund', saleExternalId: 'o-1', ...extra }), field);
    await expectUnchanged(program, bought);
  });

  it('409 invalid_state for a fully refunded or a rejected sale', async () => {
    const { program, partnerId, bought } = await withSale();
    created(await program.event({ type: 'refund', saleExternalId: 'o-1' }));
    expect(created(await program.get(`/transactions/${bought.transactionId}`), 200).status).toBe('refunded');
    const twice = await program.event({ type: 'refund', saleExternalId: 'o-1' });
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe('invalid_state');

    const second = created(
      await program.event({ ...sale, partnerId, externalId: 'o-2', customer: { externalId: 'c-2' } }),
    );
    created(await program.post(`/transactions/${second.transactionId}/reject`, { reason: 'fraud' }), 200);
    const rejected = await program.event({
      type: 'refund',
      saleExternalId: 'o-2',
      amount: '1.00',
      currency: 'EUR',
    });
    expect(rejected.status).toBe(409);
    expect(rejected.body.code).toBe('invalid_state');
    expect(await listAll(program, '/events?type=refund')).toHaveLength(1);
  });
});
