import type { DomainContext } from '../../platform/context.ts';
import { selectScoped, updateScoped } from '../../platform/db/tenant-scope.ts';
import { queueWebhookEvents } from '../../platform/webhooks/outbox.ts';
import { COMMISSION_COLUMNS, commissionView } from './service.ts';

type Ctx = Pick<DomainContext, 'db' | 'tenantId' | 'now'>;

/**
 * Puts every approved commission of a partner in one currency that is in no payout yet into the
 * payout, in one statement: concurrent claims for the same partner wait on the row locks and never
 * take a commission twice. Returns the claimed amounts (clawbacks are negative).
 */
export function claimPayableCommissions(
  ctx: Ctx,
  claim: { payoutId: string; partnerId: string; currency: string },
): Promise<{ id: string; amountMinor: number }[]> {
  // Locked in id order, like every statement that changes many commissions at once (no deadlocks).
  const payable = selectScoped(ctx, 'commissions')
    .select('id')
    .where('partnerId', '=', claim.partnerId)
    .where('currency', '=', claim.currency)
    .where('status', '=', 'approved')
    .where('payoutId', 'is', null)
    .orderBy('id')
    .forUpdate();
  return updateScoped(ctx, 'commissions')
    .set({ payoutId: claim.payoutId, updatedAt: ctx.now })
    .where('id', 'in', payable)
    .returning(['id', 'amountMinor'])
    .execute();
}

/** The commissions of a paid payout become paid. */
export async function markPayoutCommissionsPaid(ctx: Ctx, payoutId: string): Promise<number> {
  const rows = await updateScoped(ctx, 'commissions')
    .set({ status: 'paid', paidAt: ctx.now, updatedAt: ctx.now })
    .where('payoutId', '=', payoutId)
    .where('status', '=', 'approved')
    .returning(COMMISSION_COLUMNS)
    .execute();
  await queueWebhookEvents(ctx, 'commission.paid', rows.map(commissionView));
  return rows.length;
}

/** The commissions of a canceled payout leave it, still approved, for a later payout. */
export async function releasePayoutCommissions(ctx: Ctx, payoutId: string): Promise<number> {
  const rows = await updateScoped(ctx, 'commissions')
    .set({ payoutId: null, updatedAt: ctx.now })
    .where('payoutId', '=', payoutId)
    .where('status', '=', 'approved')
    .returning('id')
    .execute();
  return rows.length;
}
