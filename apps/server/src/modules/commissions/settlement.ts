import type { DomainContext } from '../../platform/context.ts';
import type { CommissionKind } from '../../platform/db/index.ts';
import { selectScoped, updateScoped } from '../../platform/db/tenant-scope.ts';
import { queueWebhookEvents } from '../../platform/webhooks/outbox.ts';
import { COMMISSION_COLUMNS, commissionView, rejectUnpaidCommissions, reverseForRefund } from './service.ts';

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

/**
 * The commissions of a canceled payout leave it, still approved, for a later payout, and are set
 * right for what happened to their transactions while they were in it. A refund or rejection then
 * could not change them (a commission in a payout is never changed) and recorded a clawback
 * instead, as if the partner had been paid. Nothing was paid: the clawbacks no payout holds are
 * rejected, and each released commission is reduced (refunds) or rejected (a rejected transaction)
 * as an unpaid one would have been. A clawback another payout already holds stays, and counts as
 * taken back. Returns the number of commissions released.
 */
export async function releasePayoutCommissions(ctx: Ctx, payoutId: string): Promise<number> {
  // Locked in id order, like every statement that changes many commissions at once (no deadlocks).
  const inPayout = selectScoped(ctx, 'commissions')
    .select('id')
    .where('payoutId', '=', payoutId)
    .where('status', '=', 'approved')
    .orderBy('id')
    .forUpdate();
  const released = await updateScoped(ctx, 'commissions')
    .set({ payoutId: null, updatedAt: ctx.now })
    .where('id', 'in', inPayout)
    .returning(['id', 'kind', 'transactionId'])
    .execute();
  const earned = released.filter(
    (row): row is { id: string; kind: CommissionKind; transactionId: string } =>
      row.kind !== 'clawback' && row.transactionId !== null,
  );
  if (earned.length > 0) await unwindClawbacks(ctx, earned);
  return released.length;
}

/** See releasePayoutCommissions: the released commissions' clawbacks undone, their transactions applied. */
async function unwindClawbacks(ctx: Ctx, earned: { id: string; transactionId: string }[]): Promise<void> {
  const earnedIds = earned.map((row) => row.id);
  const clawbacks = selectScoped(ctx, 'commissions')
    .select('id')
    .where('kind', '=', 'clawback')
    .where('reversesCommissionId', 'in', earnedIds)
    .where('status', '=', 'approved')
    .where('payoutId', 'is', null)
    .orderBy('id')
    .forUpdate();
  const undone = await updateScoped(ctx, 'commissions')
    .set({ status: 'rejected', statusReason: 'payout canceled before payment', updatedAt: ctx.now })
    .where('id', 'in', clawbacks)
    .returning(COMMISSION_COLUMNS)
    .execute();
  // Rejected has no event type of its own: to a subscriber the clawback stopped counting.
  await queueWebhookEvents(ctx, 'commission.reversed', undone.map(commissionView));
  // Clawbacks other payouts hold: what they took back stays taken back.
  const heldElsewhere = await selectScoped(ctx, 'commissions')
    .select('transactionId')
    .where('kind', '=', 'clawback')
    .where('reversesCommissionId', 'in', earnedIds)
    .where('status', '!=', 'rejected')
    .execute();
  const keepsClawbacks = new Set(heldElsewhere.map((row) => row.transactionId));
  const transactions = await selectScoped(ctx, 'transactions')
    .select(['id', 'status', 'statusReason', 'amountMinor', 'refundedMinor'])
    .where('id', 'in', [...new Set(earned.map((row) => row.transactionId))])
    .orderBy('id')
    .execute();
  for (const transaction of transactions) {
    if (transaction.status === 'rejected') {
      const reason = transaction.statusReason ?? 'transaction rejected';
      if (!keepsClawbacks.has(transaction.id)) {
        await rejectUnpaidCommissions(ctx, { transactionId: transaction.id }, reason);
        continue;
      }
      // All of it taken back, but some by a clawback another payout holds: the commission keeps
      // that much, and is rejected only when nothing is left.
      const whole = { ...transaction, refundedMinor: transaction.amountMinor };
      const emptied = { status: 'rejected', statusReason: reason } as const;
      await reverseForRefund(ctx, whole, null, 'transaction rejected after payment', emptied);
    } else if (transaction.refundedMinor > 0) {
      await reverseForRefund(ctx, transaction, null);
    }
  }
}
