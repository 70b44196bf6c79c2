import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, createTenant, type TestTenant } from '../../helpers/http.ts';
import {
  configureDefaultGroup,
  createPartner,
  recordSale,
  type TenantApi,
  tenantApi,
  uniqueId,
  waitForApproval,
  waitForCommissions,
} from '../../helpers/program.ts';
import { startServer, TestClock, type TestServer } from '../../helpers/server.ts';

const DAY_MS = 86_400_000;
const TOKEN_URL = /\/invite\/([A-Za-z0-9_-]{43})$/;
const clock = new TestClock(new Date('2026-05-15T12:00:00.000Z'));
let server: TestServer;
let tenant: TestTenant;
let api: TenantApi;

beforeAll(async () => {
  server = await startServer({ clock, env: { COMMISSION_APPROVAL_INTERVAL_MS: '100' } });
  tenant = await createTenant(server);
  api = tenantApi(server, tenant);
  await configureDefaultGroup(api, 0);
  const slow = await api('POST', '/partner-groups', {
    key: 'slow',
    name: 'Long holdback',
    holdbackDays: 365,
    saleCommission: { type: 'percentage', basisPoints: 2000 },
  });
  expect(slow.status).toBe(201);
});
afterAll(() => server.close());

async function invite(partnerId: string) {
  const response = await api('POST', `/partners/${partnerId}/invite`);
  expect(response.status).toBe(200);
  const token = TOKEN_URL.exec(response.body.invite.url)?.[1];
  expect(token).toBeDefined();
  return { response, token: token as string };
}

const accept = (token: string, as = api) => as('POST', '/partners/invites/accept', { token });

async function auditOf(partnerId: string) {
  return server.services.db
    .selectFrom('auditLog')
    .selectAll()
    .where('tenantId', '=', tenant.id)
    .where('resourceId', '=', partnerId)
    .orderBy('id')
    .execute();
}

describe('POST /partners/{id}/invite', () => {
  it('sets the partner invited and returns a link with a single-use token, stored only as a hash', async () => {
    const partner = await createPartner(api, { name: 'Ada' });
    expect(partner).toMatchObject({
      status: 'active',
      activatedAt: clock.now().toISOString(),
      revokedAt: null,
      invitedAt: null,
    });
    clock.advance(60_000);
    const { response, token } = await invite(partner.id);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('etag')).toMatch(/^"v\d+"$/);
    expect(response.body.data).toMatchObject({
      id: partner.id,
      status: 'invited',
      invitedAt: clock.now().toISOString(),
    });
    expect(response.body.invite).toEqual({
      url: `${server.config.publicUrl}/invite/${token}`,
      expiresAt: new Date(clock.now().getTime() + 7 * DAY_MS).toISOString(),
    });
    const stored = await server.services.db
      .selectFrom('partners')
      .select(['inviteTokenHash', 'inviteExpiresAt'])
      .where('id', '=', partner.id)
      .executeTakeFirstOrThrow();
    expect(stored.inviteTokenHash).toBe(createHash('sha256').update(token).digest('hex'));
    const read = await api('GET', `/partners/${partner.id}`);
    expect(JSON.stringify(read.body)).not.toContain(token);
    expect(JSON.stringify(read.body)).not.toContain(stored.inviteTokenHash);
    expect(Object.keys(read.body.data)).not.toContain('inviteTokenHash');
  });

  it('accepting the token activates the partner once; a second accept is 410', async () => {
    const partner = await createPartner(api);
    const { token } = await invite(partner.id);
    clock.advance(60_000);
    const accepted = await accept(token);
    expect(accepted.status).toBe(200);
    expect(accepted.body.data).toMatchObject({
      id: partner.id,
      status: 'active',
      activatedAt: clock.now().toISOString(),
    });
    const again = await accept(token);
    expect(again.status).toBe(410);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(again.body.code).toBe('invite_invalid');
  });

  it('a new invite replaces the old token', async () => {
    const partner = await createPartner(api);
    const first = await invite(partner.id);
    const second = await invite(partner.id);
    expect(second.token).not.toBe(first.token);
    expect((await accept(first.token)).status).toBe(410);
    expect((await accept(second.token)).status).toBe(200);
  });

  it('a token expires after 7 days', async () => {
    const partner = await createPartner(api);
    const { token } = await invite(partner.id);
    clock.advance(8 * DAY_MS);
    const expired = await accept(token);
    expect(expired.status).toBe(410);
    expect(expired.body.code).toBe('invite_invalid');
    expect((await api('GET', `/partners/${partner.id}`)).body.data.status).toBe('invited');
    const fresh = await invite(partner.id);
    expect((await accept(fresh.token)).status).toBe(200);
  });

  it("another tenant cannot redeem the tenant's token", async () => {
    const partner = await createPartner(api);
    const { token } = await invite(partner.id);
    const other = tenantApi(server, await createTenant(server));
    expect((await accept(token, other)).status).toBe(410);
    expect((await other('POST', `/partners/${partner.id}/invite`)).status).toBe(404);
    expect((await accept(token)).status).toBe(200);
  });

  it.each([
    ['an unknown token', { token: 'x'.repeat(43) }, 410, 'invite_invalid'],
    ['no token', {}, 400, 'validation_error'],
    ['an empty token', { token: '' }, 400, 'validation_error'],
    [
      'an unknown field',
      { token: 'abc', partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f' },
      400,
      'validation_error',
    ],
  ])('accept refuses %s', async (_, body, status, code) => {
    const response = await api('POST', '/partners/invites/accept', body);
    expect(response.status).toBe(status);
    expect(response.body.code).toBe(code);
  });

  it('refuses to invite a revoked partner (409) and an unknown one (404)', async () => {
    const partner = await createPartner(api);
    await api('POST', `/partners/${partner.id}/revoke`);
    const revoked = await api('POST', `/partners/${partner.id}/invite`);
    expect(revoked.status).toBe(409);
    expect(revoked.body.code).toBe('invalid_state');
    const unknown = await api('POST', '/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f/invite');
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('not_found');
  });
});

describe('revoke and activate', () => {
  /** A partner in the default group with one approved commission, then one pending (365-day holdback). */
  async function partnerWithApprovedAndPending() {
    const partner = await createPartner(api);
    await recordSale(api, { partnerId: partner.id, amount: '100.00', currency: 'EUR' });
    clock.advance(1_000);
    const [approved] = await waitForApproval(api, partner.id, 1);
    await api('PATCH', `/partners/${partner.id}`, { groupKey: 'slow' });
    const sale = await recordSale(api, { partnerId: partner.id, amount: '50.00', currency: 'EUR' });
    const pending = sale.commissions[0];
    expect(pending).toMatchObject({ status: 'pending', amount: '10.00' });
    return { partner, approved, pending };
  }

  const commission = async (id: string) => (await api('GET', `/commissions/${id}`)).body.data;

  it('revoking keeps earned commissions unless cancelPending; approved ones always stay', async () => {
    const { partner, approved, pending } = await partnerWithApprovedAndPending();
    clock.advance(60_000);
    const revoked = await api('POST', `/partners/${partner.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({
      data: expect.objectContaining({ status: 'revoked', revokedAt: clock.now().toISOString() }),
      canceledCommissions: 0,
    });
    expect((await commission(pending.id)).status).toBe('pending');
    expect((await commission(approved.id)).status).toBe('approved');

    clock.advance(60_000);
    const again = await api('POST', `/partners/${partner.id}/revoke`, { cancelPending: false });
    expect(again.status).toBe(200);
    expect(again.body.data).toEqual(revoked.body.data);

    const activated = await api('POST', `/partners/${partner.id}/activate`);
    expect(activated.status).toBe(200);
    expect(activated.body.data).toMatchObject({
      status: 'active',
      revokedAt: null,
      activatedAt: clock.now().toISOString(),
    });

    const canceled = await api('POST', `/partners/${partner.id}/revoke`, {
      cancelPending: true,
      reason: 'Fraudulent traffic',
    });
    expect(canceled.status).toBe(200);
    expect(canceled.body.canceledCommissions).toBe(1);
    expect(await commission(pending.id)).toMatchObject({
      status: 'rejected',
      statusReason: 'Fraudulent traffic',
    });
    expect((await commission(approved.id)).status).toBe('approved');
  });

  it('sales that arrive while the partner is revoked with cancelPending leave no pending commission', async () => {
    // Eight clients keep selling for the partner, by id and by referral code, while it is revoked.
    const round = async () => {
      const partner = await createPartner(api, { groupKey: 'slow' });
      const referrals = [{ partnerId: partner.id }, { referralCode: partner.referralCode.toLowerCase() }];
      let selling = true;
      const client = async (n: number) => {
        for (let i = 0; selling; i++) {
          const sale = await api('POST', '/events', {
            type: 'sale',
            ...referrals[(n + i) % 2],
            customer: { externalId: uniqueId('cus') },
            amount: '10.00',
            currency: 'EUR',
          });
          expect(sale.status).toBe(201);
        }
      };
      const clients = Array.from({ length: 8 }, (_, n) => client(n));
      await new Promise((resolve) => setTimeout(resolve, 150));
      const revoked = await api('POST', `/partners/${partner.id}/revoke`, { cancelPending: true });
      expect(revoked.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
      selling = false;
      await Promise.all(clients);
      const count = async (status: string) =>
        (await api('GET', `/commissions?partnerId=${partner.id}&status=${status}&page=1&limit=1`)).body
          .pagination.total;
      return { pending: await count('pending'), rejected: await count('rejected'), ...revoked.body };
    };
    for (let i = 0; i < 4; i++) {
      const { pending, rejected, canceledCommissions } = await round();
      expect(pending).toBe(0);
      expect(rejected).toBe(canceledCommissions);
    }
  });

  it('cancelPending without a reason says the partner was revoked; paid ones are untouched', async () => {
    const { partner, approved, pending } = await partnerWithApprovedAndPending();
    const payout = await api('POST', '/payouts', { partnerId: partner.id, currency: 'EUR' });
    await api('POST', `/payouts/${payout.body.data.id}/mark-paid`, { reference: 'r' });
    const response = await api('POST', `/partners/${partner.id}/revoke`, { cancelPending: true });
    expect(response.body.canceledCommissions).toBe(1);
    expect(await commission(pending.id)).toMatchObject({
      status: 'rejected',
      statusReason: 'partner revoked',
    });
    expect((await commission(approved.id)).status).toBe('paid');
  });

  it('a revoked partner earns nothing new; activated again, it earns', async () => {
    const partner = await createPartner(api);
    const customer = uniqueId('cus');
    const lead = await api('POST', '/events', {
      type: 'lead',
      partnerId: partner.id,
      customer: { externalId: customer },
    });
    expect(lead.status).toBe(201);
    expect(lead.body.data.partnerId).toBe(partner.id);
    const revoke = await api('POST', `/partners/${partner.id}/revoke`);
    expect(revoke.status).toBe(200);

    // A customer the partner brought before: the sale is the partner's, the commission is not.
    const attributed = await api('POST', '/events', {
      type: 'sale',
      customer: { externalId: customer },
      amount: '100.00',
      currency: 'EUR',
      externalId: uniqueId('order'),
    });
    expect(attributed.status).toBe(201);
    expect(attributed.body.data.transactionId).toEqual(expect.any(String));
    expect(attributed.body.data.commissions).toEqual([]);
    const transaction = await api('GET', `/transactions/${attributed.body.data.transactionId}`);
    expect(transaction.body.data).toMatchObject({ partnerId: partner.id, amount: '100.00' });

    // A new customer naming the revoked partner is not attributed to it.
    const fresh = await recordSale(api, { partnerId: partner.id, amount: '80.00', currency: 'EUR' });
    expect(fresh.commissions).toEqual([]);
    expect(fresh.partnerId).toBeNull();
    expect((await api('GET', `/commissions?partnerId=${partner.id}`)).body.data).toEqual([]);

    expect((await api('POST', `/partners/${partner.id}/activate`)).status).toBe(200);
    const earning = await recordSale(api, { partnerId: partner.id, amount: '30.00', currency: 'EUR' });
    expect(earning.commissions).toEqual([expect.objectContaining({ kind: 'sale', amount: '6.00' })]);
  });

  it('activate is idempotent for an active partner and activates an invited one', async () => {
    const partner = await createPartner(api);
    clock.advance(60_000);
    const same = await api('POST', `/partners/${partner.id}/activate`, {});
    expect(same.status).toBe(200);
    expect(same.body.data).toEqual(partner);

    const { token } = await invite(partner.id);
    const activated = await api('POST', `/partners/${partner.id}/activate`);
    expect(activated.body.data).toMatchObject({ status: 'active', activatedAt: clock.now().toISOString() });
    expect((await accept(token)).status).toBe(410);
  });

  it.each([
    ['revoke', { cancelPending: 'yes' }],
    ['revoke', { reason: '' }],
    ['revoke', { reason: 'r'.repeat(501) }],
    ['revoke', { force: true }],
    ['activate', { force: true }],
    ['invite', { email: 'x@example.com' }],
  ])('%s refuses the body %j: 400', async (action, body) => {
    const partner = await createPartner(api);
    const response = await api('POST', `/partners/${partner.id}/${action}`, body);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
  });

  it.each(['invite', 'activate', 'revoke'])(
    '%s answers 404 for unknown, malformed and foreign ids',
    async (action) => {
      const other = tenantApi(server, await createTenant(server));
      const foreign = await createPartner(other);
      for (const id of ['prt_01jd8x3v4w5y6z7a8b9c0d1e2f', 'prt_nope', foreign.id]) {
        const response = await api('POST', `/partners/${id}/${action}`);
        expect(response.status).toBe(404);
        expect(response.body.code).toBe('not_found');
      }
    },
  );
});

describe('audit log', () => {
  it('records every status change with before and after, never the token', async () => {
    const partner = await createPartner(api);
    const { token } = await invite(partner.id);
    await accept(token);
    await api('POST', `/partners/${partner.id}/revoke`, { cancelPending: true });
    await api('POST', `/partners/${partner.id}/activate`);
    await api('PATCH', `/partners/${partner.id}`, { status: 'revoked' });
    // Unchanged: no entry.
    await api('POST', `/partners/${partner.id}/revoke`);

    const entries = await auditOf(partner.id);
    expect(entries.map((e) => e.action)).toEqual([
      'partner.invited',
      'partner.activated',
      'partner.revoked',
      'partner.activated',
      'partner.revoked',
    ]);
    const statuses = entries.map((e) => e.changes.status);
    expect(statuses).toEqual([
      { before: 'active', after: 'invited' },
      { before: 'invited', after: 'active' },
      { before: 'active', after: 'revoked' },
      { before: 'revoked', after: 'active' },
      { before: 'active', after: 'revoked' },
    ]);
    for (const entry of entries) {
      expect(entry).toMatchObject({ resourceType: 'partner', actorType: 'api_key', actorId: tenant.keyId });
      expect(JSON.stringify(entry.changes)).not.toMatch(/inviteToken|version/);
      expect(JSON.stringify(entry.changes)).not.toContain(token);
    }
    const patched = (await api('GET', `/partners/${partner.id}`)).body.data;
    expect(patched).toMatchObject({ status: 'revoked', revokedAt: expect.any(String) });
  });

  it('PATCH follows the same lifecycle: no invite without a link, and a PATCH that changes nothing leaves no trace', async () => {
    const partner = await createPartner(api);
    const refused = await api('PATCH', `/partners/${partner.id}`, { status: 'invited' });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('invalid_state');

    const before = await api('GET', `/partners/${partner.id}`);
    const same = await api('PATCH', `/partners/${partner.id}`, {
      name: before.body.data.name,
      status: 'active',
      metadata: before.body.data.metadata,
    });
    expect(same.status).toBe(200);
    expect(same.headers.get('etag')).toBe(before.headers.get('etag'));
    expect(await auditOf(partner.id)).toEqual([]);

    const both = await api('PATCH', `/partners/${partner.id}`, { name: 'Renamed', status: 'revoked' });
    expect(both.status).toBe(200);
    expect(both.body.data).toMatchObject({
      name: 'Renamed',
      status: 'revoked',
      revokedAt: expect.any(String),
    });
    expect((await auditOf(partner.id)).map((e) => [e.action, Object.keys(e.changes).sort()])).toEqual([
      ['partner.updated', ['name']],
      ['partner.revoked', ['revokedAt', 'status']],
    ]);
  });

  it('changes sent at once apply one after the other: one revocation, and each entry names what it replaced', async () => {
    const partner = await createPartner(api, { name: 'n0' });
    const answers = await Promise.all([
      ...Array.from({ length: 6 }, () => api('PATCH', `/partners/${partner.id}`, { status: 'revoked' })),
      ...Array.from({ length: 2 }, () => api('POST', `/partners/${partner.id}/revoke`)),
      ...Array.from({ length: 6 }, (_, i) => api('PATCH', `/partners/${partner.id}`, { name: `n${i + 1}` })),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual(Array(14).fill(200));
    const entries = await auditOf(partner.id);
    expect(entries.filter((e) => e.action === 'partner.revoked')).toHaveLength(1);
    // The names form one chain from n0: every entry's before is the after of the one before it.
    const names = entries
      .filter((e) => e.action === 'partner.updated')
      .map((e) => (e.changes as Record<string, { before: string; after: string }>).name!);
    expect(names).toHaveLength(6);
    expect(names.map((change) => change.before)).toEqual(['n0', ...names.slice(0, -1).map((c) => c.after)]);
    const revokedAt = answers.slice(0, 8).map((answer) => answer.body.data.revokedAt);
    expect(new Set(revokedAt).size).toBe(1);
  });
});

describe('GET /partners/{id}/stats', () => {
  it('adds up what the events produced, per currency, refunds and clawbacks included', async () => {
    const partner = await createPartner(api);
    const event = (body: Record<string, unknown>) => api('POST', '/events', body);
    for (let i = 0; i < 3; i++)
      expect((await event({ type: 'click', partnerId: partner.id })).status).toBe(201);
    const leadCustomer = uniqueId('cus');
    await event({ type: 'lead', partnerId: partner.id, customer: { externalId: leadCustomer } });
    const eur = await recordSale(api, {
      partnerId: partner.id,
      customer: leadCustomer,
      amount: '100.00',
      currency: 'EUR',
    });
    await recordSale(api, { partnerId: partner.id, amount: '50.00', currency: 'EUR' });
    await recordSale(api, { partnerId: partner.id, amount: '1000', currency: 'JPY' });
    // Someone else's sale counts nowhere.
    await recordSale(api, { partnerId: (await createPartner(api)).id, amount: '999.00', currency: 'EUR' });
    clock.advance(1_000);
    await waitForApproval(api, partner.id, 3);

    // JPY: paid out, then half refunded → a clawback of -100.
    const payout = await api('POST', '/payouts', { partnerId: partner.id, currency: 'JPY' });
    await api('POST', `/payouts/${payout.body.data.id}/mark-paid`, { reference: 'jpy-1' });
    const [jpySale] = (await api('GET', `/transactions?partnerId=${partner.id}&currency=JPY`)).body.data;
    await event({ type: 'refund', saleExternalId: jpySale.externalId, amount: '500', currency: 'JPY' });
    // EUR: 20.00 of the 100.00 sale refunded before payment → its commission shrinks by 4.00.
    await event({ type: 'refund', saleExternalId: eur.externalId, amount: '20.00', currency: 'EUR' });
    await waitForCommissions(api, `partnerId=${partner.id}&kind=clawback`, (list) => list.length === 1);

    const stats = await api('GET', `/partners/${partner.id}/stats`);
    expect(stats.status).toBe(200);
    expect(stats.body).toEqual({
      data: {
        partnerId: partner.id,
        clicks: 3,
        leads: 1,
        customers: 3,
        currencies: [
          {
            currency: 'EUR',
            sales: 2,
            revenue: '150.00',
            refunded: '20.00',
            netRevenue: '130.00',
            commissions: {
              pending: '0.00',
              approved: '26.00',
              paid: '0.00',
              reversed: '4.00',
              rejected: '0.00',
              total: '26.00',
            },
          },
          {
            currency: 'JPY',
            sales: 1,
            revenue: '1000',
            refunded: '500',
            netRevenue: '500',
            commissions: {
              pending: '0',
              approved: '-100',
              paid: '200',
              reversed: '0',
              rejected: '0',
              total: '100',
            },
          },
        ],
      },
    });
  });

  it('adds up sums past 2^53 minor units exactly', async () => {
    const partner = await createPartner(api);
    for (let i = 0; i < 11; i++) {
      const customer = uniqueId('cus');
      await recordSale(api, { partnerId: partner.id, customer, amount: '9999999999999.99', currency: 'EUR' });
    }
    const [eur] = (await api('GET', `/partners/${partner.id}/stats`)).body.data.currencies;
    // 11 first sales of 999,999,999,999,999 minor units; 20 % of each rounds to 200,000,000,000,000.
    expect(eur).toMatchObject({ sales: 11, revenue: '109999999999999.89' });
    expect(eur.commissions.total).toBe('22000000000000.00');
  });

  it('answers zeros for a new partner and 404 for unknown or foreign ids', async () => {
    const partner = await createPartner(api);
    const empty = await api('GET', `/partners/${partner.id}/stats`);
    expect(empty.body.data).toEqual({
      partnerId: partner.id,
      clicks: 0,
      leads: 0,
      customers: 0,
      currencies: [],
    });
    const other = tenantApi(server, await createTenant(server));
    expect((await other('GET', `/partners/${partner.id}/stats`)).status).toBe(404);
    expect((await api('GET', '/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f/stats')).status).toBe(404);
  });
});

describe('scopes', () => {
  const partnerId = 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f';
  it.each([
    ['partners:read', 'GET', `/partners/${partnerId}/stats`, 404, undefined],
    ['partners:read', 'POST', `/partners/${partnerId}/invite`, 403, 'partners:write'],
    ['partners:read', 'POST', `/partners/${partnerId}/activate`, 403, 'partners:write'],
    ['partners:read', 'POST', `/partners/${partnerId}/revoke`, 403, 'partners:write'],
    ['partners:read', 'POST', '/partners/invites/accept', 403, 'partners:write'],
    ['commissions:read', 'GET', `/partners/${partnerId}/stats`, 403, 'partners:read'],
    ['partners:write', 'POST', `/partners/${partnerId}/revoke`, 404, undefined],
    ['partners:write', 'GET', `/partners/${partnerId}/stats`, 403, 'partners:read'],
  ] as const)('a %s key: %s %s → %i', async (scope, method, path, status, requiredScope) => {
    const key = await createKey(server, tenant.key, { name: `scoped ${scope}`, scopes: [scope] });
    const body = path.endsWith('/accept') ? { token: 'abc' } : undefined;
    const response = await api(method, path, body, key.key);
    expect(response.status).toBe(status);
    if (requiredScope) expect(response.body).toMatchObject({ code: 'insufficient_scope', requiredScope });
  });
});
