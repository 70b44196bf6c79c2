import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { type ApiResponse, call, type TestTenant } from './http.ts';
import type { TestServer } from './server.ts';

/** Calls `/api/v1{path}` with the tenant's admin key (or `key`). */
export function tenantApi(server: TestServer, tenant: TestTenant) {
  return <T = any>(method: string, path: string, body?: unknown, key = tenant.key): Promise<ApiResponse<T>> =>
    call<T>(server, method, `/api/v1${path}`, { key, ...(body === undefined ? {} : { body }) });
}

export type TenantApi = ReturnType<typeof tenantApi>;

export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** The default group pays 20 % of every first sale, payable after `holdbackDays`. */
export async function configureDefaultGroup(api: TenantApi, holdbackDays = 0): Promise<void> {
  const response = await api('PATCH', '/partner-groups/default', {
    saleCommission: { type: 'percentage', basisPoints: 2000 },
    holdbackDays,
  });
  expect(response.status).toBe(200);
}

export async function createPartner(api: TenantApi, body: Record<string, unknown> = {}) {
  const response = await api('POST', '/partners', { email: `${uniqueId('p')}@example.com`, ...body });
  expect(response.status).toBe(201);
  return response.body.data;
}

/** A sale of a new customer (unless `customer` names one), credited to `partnerId`. */
export async function recordSale(
  api: TenantApi,
  sale: { partnerId?: string; customer?: string; amount: string; currency: string; externalId?: string },
) {
  const response = await api('POST', '/events', {
    type: 'sale',
    ...(sale.partnerId === undefined ? {} : { partnerId: sale.partnerId }),
    customer: { externalId: sale.customer ?? uniqueId('cus') },
    amount: sale.amount,
    currency: sale.currency,
    externalId: sale.externalId ?? uniqueId('order'),
  });
  expect(response.status).toBe(201);
  return response.body.data;
}

/** Polls `GET /commissions?{query}` until `done` holds for the list (at most 5 s). */
export async function waitForCommissions(
  api: TenantApi,
  query: string,
  done: (commissions: any[]) => boolean,
): Promise<any[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const response = await api('GET', `/commissions?limit=100&${query}`);
    expect(response.status).toBe(200);
    if (done(response.body.data)) return response.body.data;
    if (Date.now() > deadline) {
      throw new Error(`commissions never matched for ${query}: ${JSON.stringify(response.body.data)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until every commission of the partner is approved (the approval job runs every 100 ms). */
export function waitForApproval(api: TenantApi, partnerId: string, count: number): Promise<any[]> {
  return waitForCommissions(
    api,
    `partnerId=${partnerId}&status=approved`,
    (commissions) => commissions.length >= count,
  );
}
