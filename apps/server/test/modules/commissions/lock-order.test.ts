import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant } from '../../helpers/http.ts';
import {
  configureDefaultGroup,
  createPartner,
  type TenantApi,
  tenantApi,
  uniqueId,
} from '../../helpers/program.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';

// The approval job runs every 50 ms, and the tenant's plan lets the load through unlimited.
let server: TestServer;
let api: TenantApi;
beforeAll(async () => {
  server = await startServer({
    env: { COMMISSION_APPROVAL_INTERVAL_MS: '50', RATE_LIMIT_PLANS: 'default=1000000/60' },
  });
  api = tenantApi(server, await createTenant(server));
  await configureDefaultGroup(api, 0);
});
afterAll(() => server.close());

describe('statements that change many commissions at once', () => {
  it('never deadlock: revocations with cancelPending while the approval job approves the same commissions', async () => {
    const statuses: number[] = [];
    const deadline = Date.now() + 5_000;
    const client = async () => {
      while (Date.now() < deadline) {
        const partner = await createPartner(api);
        const sales = await Promise.all(
          Array.from({ length: 40 }, () =>
            api('POST', '/events', {
              type: 'sale',
              partnerId: partner.id,
              customer: { externalId: uniqueId('cus') },
              amount: '1.00',
              currency: 'EUR',
            }),
          ),
        );
        statuses.push(...sales.map((sale) => sale.status));
        const revocations = await Promise.all(
          [1, 2].map(() => api('POST', `/partners/${partner.id}/revoke`, { cancelPending: true })),
        );
        statuses.push(...revocations.map((revocation) => revocation.status));
      }
    };
    await Promise.all(Array.from({ length: 6 }, client));
    expect(statuses.length).toBeGreaterThan(100);
    expect(statuses.filter((status) => status >= 300)).toEqual([]);
  });
});
