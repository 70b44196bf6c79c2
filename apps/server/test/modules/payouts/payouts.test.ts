import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createKey, createTenant, type TestTenant } from '../../helpers/http.ts';
import {
  configureDefaultGroup,
  createPartner,
  recordSale,
  type TenantApi,
  tenantApi,
  waitForApproval,
  waitForCommissions,
} from '../../helpers/program.ts';
import { startServer, TestClock, type TestServer } from '../../helpers/server.ts';

const DAY_MS = 86_400_000;
const clock = new TestClock(new Date('2026-05-15T12:00:00.000Z'));
let server: TestServer;
let tenant: TestTenant;
let api: TenantApi;

beforeAll(async () => {
  server = await startServer({ clock, env: { COMMISSION_APPROVAL_INTERVAL_MS: '100' } });
  tenant = await createTenant(server);
  api = tenantApi(server, tenant);
  await configureDefaultGroup(api, 0);
});
afterAll(() => server.close());

/** A partner whose sales of `amounts` have all earned approved 20 % commissions. */
async function partnerWithApproved(amounts: string[], currency = 'EUR') {
  const partner = await createPartner(api);
  for (const amount of amounts) await recordSale(api, { partnerId: partner.id, amount, currency });
  clock.advance(1_000);
  const commissions = await waitForApproval(api, partner.id, amounts.length);
  return { partner, commissions };
}

/**
 * Refunds 20.00 of the partner's one sale of 40.00 while its 8.00 commission is in a payout: a
 * clawback of -4.00 records it, as if the commission had been paid.
 */
async function refundHalf(partnerId: string) {
  const [sale] = (await api('GET', `/transactions?partnerId=${partnerId}`)).body.data;
  const refund = await api('POST', '/events', {
    type: 'refund',
    saleExternalId: sale.externalId,
    amount: '20.00',
    currency: 'EUR',
  });
  expect(refund.status).toBe(201);
  const [clawback] = refund.body.data.commissions;
  expect(clawback).toMatchObject({ kind: 'clawback', amount: '-4.00', status: 'approved' });
  return { sale, clawback };
}

const payoutCommissions = async (payoutId: string) =>
  (await api('GET', `/commissions?limit=100&payoutId=${payoutId}`)).body.data as any[];

describe('POST /payouts', () => {
  it('gathers the approved commissions into a pending payout (201), and answers 200 with it again', async () => {
    const { partner, commissions } = await partnerWithApproved(['100.00', '55.55']);
    const created = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    expect(created.status).toBe(201);
    const payout = created.body.data;
    expect(payout).toEqual({
      id: expect.stringMatching(/^po_[0-7][0-9a-hjkmnp-tv-z]{25}$/),
      partnerId: partner.id,
      currency: 'EUR',
      period: '2026-05',
      amount: '31.11',
      commissionCount: 2,
      status: 'pending',
      reference: null,
      paidAt: null,
      canceledAt: null,
      createdAt: clock.now().toISOString(),
      updatedAt: clock.now().toISOString(),
    });
    const inPayout = await payoutCommissions(payout.id);
    expect(inPayout.map((c) => c.id).sort()).toEqual(commissions.map((c) => c.id).sort());
    for (const c of inPayout) expect(c).toMatchObject({ payoutId: payout.id, status: 'approved' });

    const again = await api('POST', '/payouts', {
      partnerId: partner.id,
      currency: 'EUR',
      period: '2026-05',
    });
    expect(again.status).toBe(200);
    expect(again.body.data).toEqual(payout);
    expect((await api('GET', `/payouts/${payout.id}`)).body.data).toEqual(payout);
  });

  it('is idempotent per period: a later commission waits for the next period', async () => {
    const { partner } = await partnerWithApproved(['10.00']);
    const may = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    expect(may.status).toBe(201);
    const late = await recordSale(api, { partnerId: partner.id, amount: '50.00', currency: 'EUR' });
    await waitForApproval(api, partner.id, 2);

    const repeat = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    expect(repeat.status).toBe(200);
    expect(repeat.body.data).toMatchObject({ id: may.body.data.id, amount: '2.00', commissionCount: 1 });

    const early = await api('POST', '/payouts', {
      partnerId: partner.id,
      currency: 'EUR',
      period: '2026-06',
    });
    expect(early.status).toBe(400);
    expect(early.body.errors).toMatchObject([{ field: 'period', code: 'out_of_range' }]);
    clock.set(new Date('2026-06-01T00:00:00.000Z'));
    const june = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    expect(june.status).toBe(201);
    expect(june.body.data).toMatchObject({ period: '2026-06', amount: '10.00', commissionCount: 1 });
    const [commission] = await payoutCommissions(june.body.data.id);
    expect(commission.id).toBe(late.commissions[0].id);
  });

  it('answers 409 nothing_to_pay without approved commissions, and creates nothing', async () => {
    const idle = await createPartner(api);
    const none = await api('POST', '/payouts', { partnerId: idle.id, currency: 'EUR' });
    expect(none.status).toBe(409);
    expect(none.body.code).toBe('nothing_to_pay');
    expect(none.body.detail).toContain('no approved EUR commissions');

    // Approved in EUR is nothing to pay in USD.
    const { partner } = await partnerWithApproved(['10.00']);
    const usd = await api('POST', '/payouts', { partnerId: partner.id, currency: 'USD' });
    expect(usd.status).toBe(409);
    expect(usd.body.code).toBe('nothing_to_pay');
    const listed = await api('GET', `/payouts?partnerId=${partner.id}`);
    expect(listed.body.data).toEqual([]);
  });

  it('leaves pending commissions out until their holdback ends', async () => {
    const slow = await api('POST', '/partner-groups', {
      key: 'slow',
      name: 'Slow',
      holdbackDays: 365,
      saleCommission: { type: 'percentage', basisPoints: 1000 },
    });
    expect(slow.status).toBe(201);
    const partner = await createPartner(api, { groupKey: 'slow' });
    await recordSale(api, { partnerId: partner.id, amount: '100.00', currency: 'EUR' });
    const response = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    expect(response.status).toBe(409);
    expect(response.body.code).toBe('nothing_to_pay');
    const [pending] = await waitForCommissions(api, `partnerId=${partner.id}`, (list) => list.length === 1);
    expect(pending).toMatchObject({ status: 'pending', payoutId: null });
  });

  it('subtracts clawbacks, and refuses a payout they outweigh', async () => {
    const { partner } = await partnerWithApproved(['100.00']);
    const first = await api('POST', '/payouts', {
      partnerId: partner.id,
      currency: 'EUR',
      period: '2026-01',
    });
    expect(first.status).toBe(201);
    const paid = await api('POST', `/payouts/${first.body.data.id}/mark-paid`, { reference: 'tx-1' });
    expect(paid.status).toBe(200);
    const [sale] = (await api('GET', `/transactions?partnerId=${partner.id}`)).body.data;
    const refund = await api('POST', '/events', { type: 'refund', saleExternalId: sale.externalId });
    expect(refund.status).toBe(201);
    expect(refund.body.data.commissions).toEqual([
      expect.objectContaining({ kind: 'clawback', amount: '-20.00', status: 'approved' }),
    ]);

    const outweighed = await api('POST', '/payouts', {
      partnerId: partner.id,
      currency: 'EUR',
      period: '2026-02',
    });
    expect(outweighed.status).toBe(409);
    expect(outweighed.body.code).toBe('nothing_to_pay');
    expect(outweighed.body.detail).toContain('-20.00');
    const [clawback] = await waitForCommissions(
      api,
      `partnerId=${partner.id}&kind=clawback`,
      (list) => list.length === 1,
    );
    expect(clawback.payoutId).toBeNull();

    await recordSale(api, { partnerId: partner.id, amount: '250.00', currency: 'EUR' });
    await waitForApproval(api, partner.id, 2);
    const net = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR', period: '2026-02' });
    expect(net.status).toBe(201);
    expect(net.body.data).toMatchObject({ amount: '30.00', commissionCount: 2 });
  });

  it('formats money in the currency: JPY without decimals, BHD with three', async () => {
    const partner = await createPartner(api);
    await recordSale(api, { partnerId: partner.id, amount: '1000', currency: 'JPY' });
    await recordSale(api, { partnerId: partner.id, amount: '555', currency: 'JPY' });
    await recordSale(api, { partnerId: partner.id, amount: '12.345', currency: 'BHD' });
    clock.advance(1_000);
    await waitForApproval(api, partner.id, 3);
    const jpy = await api('POST', '/payouts', { partnerId: partner.id, currency: 'JPY' });
    expect(jpy.status).toBe(201);
    expect(jpy.body.data).toMatchObject({ currency: 'JPY', amount: '311', commissionCount: 2 });
    const bhd = await api('POST', '/payouts', { partnerId: partner.id, currency: 'BHD' });
    expect(bhd.status).toBe(201);
    expect(bhd.body.data).toMatchObject({ currency: 'BHD', amount: '2.469', commissionCount: 1 });
  });

  it('pays a revoked partner what it earned', async () => {
    const { partner } = await partnerWithApproved(['40.00']);
    expect((await api('POST', `/partners/${partner.id}/revoke`)).status).toBe(200);
    const response = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    expect(response.status).toBe(201);
    expect(response.body.data.amount).toBe('8.00');
  });

  it.each([
    ['no partnerId', { currency: 'EUR' }, 400, 'validation_error'],
    ['a malformed partnerId', { partnerId: 'prt_nope', currency: 'EUR' }, 400, 'validation_error'],
    ['no currency', { partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f' }, 400, 'validation_error'],
    [
      'a lower-case currency',
      { partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f', currency: 'eur' },
      400,
      'validation_error',
    ],
    [
      'an unknown currency',
      { partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f', currency: 'XXY' },
      400,
      'validation_error',
    ],
    [
      'month 13',
      { partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f', currency: 'EUR', period: '2026-13' },
      400,
      'validation_error',
    ],
    [
      'a day as period',
      { partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f', currency: 'EUR', period: '2026-05-01' },
      400,
      'validation_error',
    ],
    [
      'an unknown field',
      { partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f', currency: 'EUR', amount: '1.00' },
      400,
      'validation_error',
    ],
    [
      'an unknown partner',
      { partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f', currency: 'EUR' },
      404,
      'not_found',
    ],
  ])('refuses %s', async (_, body, status, code) => {
    const response = await api('POST', '/payouts', body);
    expect(response.status).toBe(status);
    expect(response.body.code).toBe(code);
  });
});

describe('POST /payouts/{id}/mark-paid and /cancel', () => {
  it('marks the payout and its commissions paid', async () => {
    const { partner } = await partnerWithApproved(['100.00', '20.00']);
    const payout = (await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' })).body.data;
    clock.advance(60_000);
    const paid = await api('POST', `/payouts/${payout.id}/mark-paid`, { reference: 'SEPA-2026-05-0042' });
    expect(paid.status).toBe(200);
    expect(paid.body.data).toEqual({
      ...payout,
      status: 'paid',
      reference: 'SEPA-2026-05-0042',
      paidAt: clock.now().toISOString(),
      updatedAt: clock.now().toISOString(),
    });
    const commissions = await payoutCommissions(payout.id);
    expect(commissions).toHaveLength(2);
    for (const c of commissions)
      expect(c).toMatchObject({ status: 'paid', paidAt: clock.now().toISOString() });
    // Paid for this period: asking again answers with the paid payout.
    const again = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    expect(again.status).toBe(200);
    expect(again.body.data.status).toBe('paid');
  });

  it('cancels a payout and releases its commissions for a new one', async () => {
    const { partner, commissions } = await partnerWithApproved(['30.00']);
    const payout = (await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' })).body.data;
    const canceled = await api('POST', `/payouts/${payout.id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.body.data).toMatchObject({
      id: payout.id,
      status: 'canceled',
      canceledAt: clock.now().toISOString(),
      paidAt: null,
    });
    expect(await payoutCommissions(payout.id)).toEqual([]);
    const released = (await api('GET', `/commissions/${commissions[0].id}`)).body.data;
    expect(released).toMatchObject({ status: 'approved', payoutId: null });

    const next = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    expect(next.status).toBe(201);
    expect(next.body.data.id).not.toBe(payout.id);
    expect(next.body.data).toMatchObject({ amount: '6.00', commissionCount: 1, period: payout.period });
    expect((await payoutCommissions(next.body.data.id)).map((c) => c.id)).toEqual([commissions[0].id]);
  });

  it('a canceled payout undoes the clawback of a refund made meanwhile: the commission shrinks instead', async () => {
    const { partner, commissions } = await partnerWithApproved(['40.00']);
    const payout = (await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' })).body.data;
    const { sale, clawback } = await refundHalf(partner.id);

    expect((await api('POST', `/payouts/${payout.id}/cancel`)).status).toBe(200);
    // Nothing was paid, so nothing is taken back: the commission is reduced as an unpaid one is.
    expect((await api('GET', `/commissions/${commissions[0].id}`)).body.data).toMatchObject({
      status: 'approved',
      payoutId: null,
      amount: '4.00',
      reversedAmount: '4.00',
    });
    expect((await api('GET', `/commissions/${clawback.id}`)).body.data).toMatchObject({
      status: 'rejected',
      statusReason: 'payout canceled before payment',
    });
    const next = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    expect(next.body.data).toMatchObject({ amount: '4.00', commissionCount: 1 });
    expect((await api('POST', `/payouts/${next.body.data.id}/cancel`)).status).toBe(200);

    // Rejected afterwards: the partner earned nothing and owes nothing.
    const rejected = await api('POST', `/transactions/${sale.id}/reject`, { reason: 'chargeback' });
    expect(rejected.status).toBe(200);
    const owed = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    expect(owed.status).toBe(409);
    expect(owed.body.detail).toContain('no approved EUR commissions');
    // The withdrawn clawback counts nowhere: what was rejected is the commission's 4.00.
    const [eur] = (await api('GET', `/partners/${partner.id}/stats`)).body.data.currencies;
    expect(eur.commissions).toEqual({
      pending: '0.00',
      approved: '0.00',
      paid: '0.00',
      reversed: '4.00',
      rejected: '4.00',
      total: '0.00',
    });
  });

  it('a canceled payout rejects the commission of a transaction rejected meanwhile', async () => {
    const { partner, commissions } = await partnerWithApproved(['50.00']);
    const payout = (await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' })).body.data;
    const [sale] = (await api('GET', `/transactions?partnerId=${partner.id}`)).body.data;
    expect((await api('POST', `/transactions/${sale.id}/reject`, { reason: 'fraud' })).status).toBe(200);
    const [clawback] = (await api('GET', `/commissions?partnerId=${partner.id}&kind=clawback`)).body.data;
    expect(clawback).toMatchObject({
      amount: '-10.00',
      status: 'approved',
      statusReason: 'transaction rejected after payment',
    });

    expect((await api('POST', `/payouts/${payout.id}/cancel`)).status).toBe(200);
    expect((await api('GET', `/commissions/${commissions[0].id}`)).body.data).toMatchObject({
      status: 'rejected',
      statusReason: 'fraud',
      payoutId: null,
      amount: '10.00',
      reversedAmount: '0.00',
    });
    expect((await api('GET', `/commissions/${clawback.id}`)).body.data.status).toBe('rejected');
    const next = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    expect(next.status).toBe(409);
    expect(next.body.code).toBe('nothing_to_pay');
    const [eur] = (await api('GET', `/partners/${partner.id}/stats`)).body.data.currencies;
    expect(eur.commissions).toMatchObject({ approved: '0.00', rejected: '10.00', total: '0.00' });
  });

  it('a clawback another payout already netted stays taken back when the payout is canceled', async () => {
    const { partner, commissions } = await partnerWithApproved(['40.00']);
    const january = (
      await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR', period: '2026-01' })
    ).body.data;
    const { sale } = await refundHalf(partner.id);
    // A later sale's payout nets the clawback, and is paid: 20.00 - 4.00.
    await recordSale(api, { partnerId: partner.id, amount: '100.00', currency: 'EUR' });
    await waitForApproval(api, partner.id, 3);
    const february = await api('POST', '/payouts', {
      partnerId: partner.id,
      currency: 'EUR',
      period: '2026-02',
    });
    expect(february.body.data).toMatchObject({ amount: '16.00', commissionCount: 2 });
    await api('POST', `/payouts/${february.body.data.id}/mark-paid`, { reference: 'feb' });

    expect((await api('POST', `/transactions/${sale.id}/reject`, { reason: 'chargeback' })).status).toBe(200);
    expect((await api('POST', `/payouts/${january.id}/cancel`)).status).toBe(200);
    // The sale earned nothing, but 4.00 of it was already taken from February's payout: the
    // commission keeps those 4.00, so the partner ends with the later sale's 20.00 in all.
    expect((await api('GET', `/commissions/${commissions[0].id}`)).body.data).toMatchObject({
      status: 'approved',
      amount: '4.00',
      payoutId: null,
    });
    const march = await api('POST', '/payouts', {
      partnerId: partner.id,
      currency: 'EUR',
      period: '2026-03',
    });
    expect(march.body.data).toMatchObject({ amount: '4.00', commissionCount: 1 });
  });

  it('refuses every transition but from pending: 409 invalid_state', async () => {
    const first = await partnerWithApproved(['10.00']);
    const paid = (await api('POST', '/payouts', { partnerId: first.partner.id, currency: 'EUR' })).body.data;
    await api('POST', `/payouts/${paid.id}/mark-paid`, { reference: 'r-1' });
    const second = await partnerWithApproved(['10.00']);
    const canceled = (await api('POST', '/payouts', { partnerId: second.partner.id, currency: 'EUR' })).body
      .data;
    await api('POST', `/payouts/${canceled.id}/cancel`, {});
    for (const [id, action, body] of [
      [paid.id, 'mark-paid', { reference: 'r-2' }],
      [paid.id, 'cancel', undefined],
      [canceled.id, 'mark-paid', { reference: 'r-3' }],
      [canceled.id, 'cancel', undefined],
    ] as const) {
      const response = await api('POST', `/payouts/${id}/${action}`, body);
      expect(response.status, `${action} ${id}`).toBe(409);
      expect(response.body.code).toBe('invalid_state');
    }
    expect((await api('GET', `/payouts/${paid.id}`)).body.data).toMatchObject({
      status: 'paid',
      reference: 'r-1',
    });
    expect((await payoutCommissions(paid.id)).map((c) => c.status)).toEqual(['paid']);
  });

  it.each([
    ['no body', undefined],
    ['no reference', {}],
    ['an empty reference', { reference: '' }],
    ['a reference over 200 characters', { reference: 'r'.repeat(201) }],
    ['an unknown field', { reference: 'r', paidAt: '2026-01-01T00:00:00Z' }],
  ])('mark-paid refuses %s: 400', async (_, body) => {
    const { partner } = await partnerWithApproved(['10.00']);
    const payout = (await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' })).body.data;
    const response = await api('POST', `/payouts/${payout.id}/mark-paid`, body);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
  });

  it.each([
    ['mark-paid', { reference: 'r' }],
    ['cancel', undefined],
  ])('%s answers 404 for an unknown or malformed id', async (action, body) => {
    for (const id of ['po_01jd8x3v4w5y6z7a8b9c0d1e2f', 'po_nope', 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f']) {
      const response = await api('POST', `/payouts/${id}/${action}`, body);
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
  });
});

describe('GET /payouts', () => {
  let partner: any;
  let payouts: any[];

  beforeAll(async () => {
    // Four payouts of one partner: EUR 2026-01..03 created a day apart, one JPY; one paid, one canceled.
    clock.set(new Date('2026-07-01T08:00:00.000Z'));
    partner = await createPartner(api);
    payouts = [];
    for (const [period, currency, amount] of [
      ['2026-01', 'EUR', '10.00'],
      ['2026-02', 'EUR', '20.00'],
      ['2026-03', 'EUR', '30.00'],
      ['2026-03', 'JPY', '1000'],
    ] as const) {
      await recordSale(api, { partnerId: partner.id, amount, currency });
      clock.advance(1_000);
      await waitForApproval(api, partner.id, payouts.length + 1);
      const response = await api('POST', '/payouts', { partnerId: partner.id, currency, period });
      expect(response.status).toBe(201);
      payouts.push(response.body.data);
      clock.advance(DAY_MS);
    }
    await api('POST', `/payouts/${payouts[0].id}/mark-paid`, { reference: 'jan' });
    await api('POST', `/payouts/${payouts[1].id}/cancel`);
  });

  const ids = (response: { body: { data: { id: string }[] } }) => response.body.data.map((p) => p.id);
  const listed = (query: string) => api('GET', `/payouts?partnerId=${partner.id}&${query}`);

  it('lists newest first, with every filter', async () => {
    const all = await listed('');
    expect(all.status).toBe(200);
    expect(ids(all)).toEqual(payouts.map((p) => p.id).reverse());
    expect(all.body.pagination).toMatchObject({ page: 1, limit: 50, total: 4, pages: 1, nextCursor: null });

    expect(ids(await listed('status=paid'))).toEqual([payouts[0].id]);
    expect(ids(await listed('status=canceled'))).toEqual([payouts[1].id]);
    expect(ids(await listed('status=pending'))).toEqual([payouts[3].id, payouts[2].id]);
    expect(ids(await listed('currency=JPY'))).toEqual([payouts[3].id]);
    expect(ids(await listed('period=2026-03'))).toEqual([payouts[3].id, payouts[2].id]);
    expect(ids(await listed('period=2026-03&currency=EUR&status=pending'))).toEqual([payouts[2].id]);
    expect(ids(await listed('from=2026-07-02'))).toEqual([payouts[3].id, payouts[2].id, payouts[1].id]);
    expect(ids(await listed('to=2026-07-02'))).toEqual([payouts[1].id, payouts[0].id]);
    expect(ids(await listed('from=2026-07-02&to=2026-07-03'))).toEqual([payouts[2].id, payouts[1].id]);
    expect(ids(await listed(`to=${encodeURIComponent(payouts[0].createdAt)}`))).toEqual([payouts[0].id]);
    const other = await createPartner(api);
    expect((await api('GET', `/payouts?partnerId=${other.id}`)).body.data).toEqual([]);
  });

  it('pages classically and by cursor', async () => {
    const newestFirst = payouts.map((p) => p.id).reverse();
    const page2 = await listed('page=2&limit=3');
    expect(page2.body.pagination).toEqual({ page: 2, limit: 3, total: 4, pages: 2 });
    expect(ids(page2)).toEqual(newestFirst.slice(3));

    const first = await listed('limit=3');
    expect(first.body.pagination.nextCursor).toEqual(expect.any(String));
    const seen: string[] = [];
    let query = 'limit=1';
    for (;;) {
      const page = await listed(query);
      expect(page.status).toBe(200);
      seen.push(...ids(page));
      const next = page.body.pagination.nextCursor;
      if (!next) break;
      if (query !== 'limit=1') expect(page.body.pagination).toEqual({ nextCursor: next, limit: 1 });
      query = `limit=1&cursor=${next}`;
    }
    expect(seen).toEqual(newestFirst);
  });

  it.each([
    'status=open',
    'currency=euro',
    'period=2026-7',
    'partnerId=nope',
    'from=yesterday',
    'to=2026-02-30',
    'limit=0',
    'limit=101',
    'page=0',
    'cursor=bogus',
    'page=1&cursor=djE6cG9fMDFqZDh4M3Y0dzV5Nno3YThiOWMwZDFlMmY',
    'sort=amount',
  ])('refuses ?%s with 400', async (query) => {
    const response = await api('GET', `/payouts?${query}`);
    expect(response.status).toBe(400);
    expect(['validation_error', 'invalid_cursor']).toContain(response.body.code);
  });

  it('answers 404 for an unknown or malformed id', async () => {
    for (const id of ['po_01jd8x3v4w5y6z7a8b9c0d1e2f', 'po_x', 'nope']) {
      const response = await api('GET', `/payouts/${id}`);
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
  });
});

describe('tenant isolation', () => {
  it("treats another tenant's payouts and partners as unknown", async () => {
    const { partner } = await partnerWithApproved(['10.00']);
    const payout = (await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' })).body.data;
    const other = tenantApi(server, await createTenant(server));
    for (const [method, path, body] of [
      ['GET', `/payouts/${payout.id}`, undefined],
      ['POST', `/payouts/${payout.id}/mark-paid`, { reference: 'x' }],
      ['POST', `/payouts/${payout.id}/cancel`, undefined],
      ['POST', '/payouts', { partnerId: partner.id, currency: 'EUR' }],
    ] as const) {
      const response = await other(method, path, body);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.code).toBe('not_found');
    }
    expect((await other('GET', '/payouts')).body.data).toEqual([]);
    expect((await other('GET', `/payouts?partnerId=${partner.id}`)).body.data).toEqual([]);
    expect((await other('GET', `/commissions?payoutId=${payout.id}`)).body.data).toEqual([]);
    expect((await api('GET', `/payouts/${payout.id}`)).body.data.status).toBe('pending');
  });
});

describe('scopes', () => {
  const payout = 'po_01jd8x3v4w5y6z7a8b9c0d1e2f';
  const create = { partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f', currency: 'EUR' };
  const table: [string, string, string, number, string | undefined, unknown][] = [
    ['payouts:read', 'GET', '/payouts', 200, undefined, undefined],
    ['payouts:read', 'GET', `/payouts/${payout}`, 404, undefined, undefined],
    ['payouts:read', 'POST', '/payouts', 403, 'payouts:write', create],
    ['payouts:read', 'POST', `/payouts/${payout}/mark-paid`, 403, 'payouts:write', { reference: 'r' }],
    ['payouts:read', 'POST', `/payouts/${payout}/cancel`, 403, 'payouts:write', undefined],
    ['commissions:read', 'GET', '/payouts', 403, 'payouts:read', undefined],
    ['partners:write', 'GET', `/payouts/${payout}`, 403, 'payouts:read', undefined],
    ['payouts:write', 'GET', '/payouts', 403, 'payouts:read', undefined],
    ['payouts:write', 'POST', `/payouts/${payout}/cancel`, 404, undefined, undefined],
    ['read', 'GET', '/payouts', 200, undefined, undefined],
    ['read', 'POST', '/payouts', 403, 'payouts:write', create],
    ['write', 'POST', '/payouts', 404, undefined, create],
  ];

  it.each(table)('a %s key: %s %s → %i', async (scope, method, path, status, requiredScope, body) => {
    const key = await createKey(server, tenant.key, { name: `scoped ${scope}`, scopes: [scope] });
    const response = await api(method, path, body, key.key);
    expect(response.status).toBe(status);
    if (requiredScope) expect(response.body).toMatchObject({ code: 'insufficient_scope', requiredScope });
  });

  it('answers 401 without a key', async () => {
    const response = await call(server, 'GET', `/api/t/${tenant.slug}/v1/payouts`);
    expect(response.status).toBe(401);
    expect(response.body.code).toBe('api_key_missing');
  });
});
