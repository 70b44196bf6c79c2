import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from '../../helpers/http.ts';
import {
  configureDefaultGroup,
  createPartner,
  recordSale,
  type TenantApi,
  tenantApi,
  waitForApproval,
} from '../../helpers/program.ts';
import { startServer, TestClock, type TestServer } from '../../helpers/server.ts';

const PARALLEL = 10;
const clock = new TestClock(new Date('2026-05-15T12:00:00.000Z'));
let server: TestServer;
let api: TenantApi;

beforeAll(async () => {
  server = await startServer({ clock, env: { COMMISSION_APPROVAL_INTERVAL_MS: '100' } });
  api = tenantApi(server, await createTenant(server));
  await configureDefaultGroup(api, 0);
});
afterAll(() => server.close());

/** A partner with five approved commissions: 20 % of 10.00 … 50.00 EUR. */
async function partnerWithFiveCommissions() {
  const partner = await createPartner(api);
  for (const amount of ['10.00', '20.00', '30.00', '40.00', '50.00']) {
    await recordSale(api, { partnerId: partner.id, amount, currency: 'EUR' });
  }
  clock.advance(1_000);
  const commissions = await waitForApproval(api, partner.id, 5);
  return { partner, commissionIds: commissions.map((c) => c.id).sort() };
}

async function commissionsOf(payoutId: string): Promise<string[]> {
  const response = await api('GET', `/commissions?limit=100&payoutId=${payoutId}`);
  return response.body.data.map((c: { id: string }) => c.id).sort();
}

describe('POST /payouts under concurrency', () => {
  it(`${PARALLEL} parallel requests for one period make exactly one payout holding every commission once`, async () => {
    const { partner, commissionIds } = await partnerWithFiveCommissions();
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, () =>
        api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(
      statuses.every((s) => s === 200 || s === 201),
      JSON.stringify(statuses),
    ).toBe(true);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    const ids = new Set(responses.map((r) => r.body.data.id));
    expect(ids.size).toBe(1);
    for (const response of responses) {
      expect(response.body.data).toMatchObject({ amount: '30.00', commissionCount: 5, status: 'pending' });
    }

    const listed = await api('GET', `/payouts?partnerId=${partner.id}`);
    expect(listed.body.data).toHaveLength(1);
    expect(await commissionsOf([...ids][0] as string)).toEqual(commissionIds);
  });

  it(`${PARALLEL} parallel requests for different periods still pay each commission once`, async () => {
    const { partner, commissionIds } = await partnerWithFiveCommissions();
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) =>
        api('POST', '/payouts', {
          partnerId: partner.id,
          currency: 'EUR',
          period: `2025-${String(i + 1).padStart(2, '0')}`,
        }),
      ),
    );
    const created = responses.filter((r) => r.status === 201);
    const refused = responses.filter((r) => r.status === 409);
    expect(created).toHaveLength(1);
    expect(refused).toHaveLength(PARALLEL - 1);
    for (const response of refused) expect(response.body.code).toBe('nothing_to_pay');
    const payout = created[0]?.body.data;
    expect(payout).toMatchObject({ amount: '30.00', commissionCount: 5 });

    const listed = await api('GET', `/payouts?partnerId=${partner.id}`);
    expect(listed.body.data.map((p: { id: string }) => p.id)).toEqual([payout.id]);
    expect(await commissionsOf(payout.id)).toEqual(commissionIds);
  });

  it('parallel mark-paid and cancel of one payout: exactly one wins', async () => {
    const { partner, commissionIds } = await partnerWithFiveCommissions();
    const payout = (await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' })).body.data;
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) =>
        i % 2 === 0
          ? api('POST', `/payouts/${payout.id}/mark-paid`, { reference: `ref-${i}` })
          : api('POST', `/payouts/${payout.id}/cancel`),
      ),
    );
    const winners = responses.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    expect(responses.filter((r) => r.status === 409)).toHaveLength(PARALLEL - 1);
    const final = (await api('GET', `/payouts/${payout.id}`)).body.data;
    expect(final).toEqual(winners[0]?.body.data);
    const commissions = (await api('GET', `/commissions?limit=100&partnerId=${partner.id}`)).body.data;
    expect(commissions.map((c: { id: string }) => c.id).sort()).toEqual(commissionIds);
    for (const c of commissions) {
      if (final.status === 'paid') expect(c).toMatchObject({ status: 'paid', payoutId: payout.id });
      else expect(c).toMatchObject({ status: 'approved', payoutId: null });
    }
  });
});
