import { sql } from 'kysely';
import type { DomainContext } from '../../platform/context.ts';
import { selectScoped } from '../../platform/db/tenant-scope.ts';

type Ctx = Pick<DomainContext, 'db' | 'tenantId'>;

/** How many clicks a partner has had. */
export async function countClicks(ctx: Ctx, partnerId: string): Promise<number> {
  const row = await selectScoped(ctx, 'clicks')
    .select(sql<number>`count(*)::int`.as('count'))
    .where('partnerId', '=', partnerId)
    .executeTakeFirstOrThrow();
  return row.count;
}

/** How many lead events were credited to a partner. */
export async function countLeads(ctx: Ctx, partnerId: string): Promise<number> {
  const row = await selectScoped(ctx, 'events')
    .select(sql<number>`count(*)::int`.as('count'))
    .where('type', '=', 'lead')
    .where('partnerId', '=', partnerId)
    .executeTakeFirstOrThrow();
  return row.count;
}
