import { type Selectable, sql } from 'kysely';
import { recordAudit } from '../../platform/audit.ts';
import type { DomainContext } from '../../platform/context.ts';
import { withinDates } from '../../platform/dates.ts';
import type { PayoutStatus, PayoutsTable } from '../../platform/db/index.ts';
import { selectScoped, updateScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError, notFound } from '../../platform/errors.ts';
import { isId, newId } from '../../platform/ids.ts';
import { assertCurrency, fromMinor, MAX_AMOUNT_MINOR } from '../../platform/money.ts';
import { type PageRequest, paginate } from '../../platform/pagination.ts';
import { queueWebhookEvent, transactionWithOutbox } from '../../platform/webhooks/outbox.ts';
import {
  claimPayableCommissions,
  markPayoutCommissionsPaid,
  releasePayoutCommissions,
} from '../commissions/settlement.ts';
import { getPartnerOrThrow } from '../partners/service.ts';

export type Payout = Omit<Selectable<PayoutsTable>, 'tenantId'>;

const COLUMNS = [
  'id',
  'partnerId',
  'currency',
  'period',
  'amountMinor',
  'commissionCount',
  'status',
  'reference',
  'paidAt',
  'canceledAt',
  'createdAt',
  'updatedAt',
] as const;

export function payoutView(row: Payout) {
  const { amountMinor, ...rest } = row;
  return { ...rest, amount: fromMinor(amountMinor, row.currency) };
}

type Ctx = Pick<DomainContext, 'db' | 'tenantId'>;

export async function getPayoutOrThrow(ctx: Ctx, id: string, options: { lock?: boolean } = {}) {
  const row = isId('po', id)
    ? await selectScoped(ctx, 'payouts')
        .select(COLUMNS)
        .where('id', '=', id)
        .$if(options.lock === true, (qb) => qb.forUpdate())
        .executeTakeFirst()
    : undefined;
  if (!row) throw notFound('payout', id);
  return row;
}

export interface NewPayout {
  partnerId: string;
  currency: string;
  /** `YYYY-MM`; the current UTC month when absent. */
  period?: string | undefined;
}

/**
 * Gathers a partner's approved commissions in one currency that no payout holds yet into a pending
 * payout for the period. There is at most one open (not canceled) payout per partner, currency and
 * period: asking again, also concurrently, returns that one with `created: false`. Nothing payable,
 * or clawbacks that outweigh the earnings, is 409 `nothing_to_pay` and changes nothing.
 */
export async function createPayout(
  ctx: DomainContext,
  input: NewPayout,
): Promise<{ payout: Payout; created: boolean }> {
  assertCurrency(input.currency);
  const partner = await getPartnerOrThrow(ctx, input.partnerId);
  const { currency } = input;
  const thisMonth = ctx.now.toISOString().slice(0, 7);
  const period = input.period ?? thisMonth;
  // YYYY-MM strings compare like the months they name.
  if (period > thisMonth || period < '0001-01') {
    throw new ApiError('validation_error', `period ${period} is not a month a payout can settle`, {
      errors: [
        {
          field: 'period',
          code: 'out_of_range',
          message: `period must be a month from 0001-01 through the current one (${thisMonth})`,
        },
      ],
    });
  }
  return transactionWithOutbox(ctx.db, async (trx) => {
    const tx = { ...ctx, db: trx };
    const id = newId('po');
    // A concurrent request for the same period waits here until the first commits or rolls back.
    const inserted = await trx
      .insertInto('payouts')
      .values({
        id,
        tenantId: ctx.tenantId,
        partnerId: partner.id,
        currency,
        period,
        amountMinor: 0,
        commissionCount: 0,
        status: 'pending',
        reference: null,
        paidAt: null,
        canceledAt: null,
        createdAt: ctx.now,
        updatedAt: ctx.now,
      })
      .onConflict((oc) =>
        oc
          .columns(['tenantId', 'partnerId', 'currency', 'period'])
          // A literal, not a parameter: PostgreSQL matches the partial unique index by this
          // predicate when it prepares the statement, before any parameter has a value.
          .where('status', '<>', sql.lit('canceled'))
          .doNothing(),
      )
      .returning('id')
      .executeTakeFirst();
    if (!inserted) return { payout: await openPayout(tx, partner.id, currency, period), created: false };
    const claimed = await claimPayableCommissions(tx, { payoutId: id, partnerId: partner.id, currency });
    const total = claimed.reduce((sum, commission) => sum + BigInt(commission.amountMinor), 0n);
    if (total >= MAX_AMOUNT_MINOR) {
      throw new ApiError(
        'invalid_state',
        `The ${claimed.length} approved ${currency} commissions of partner ${partner.id} come to more than one payout can hold (${fromMinor(MAX_AMOUNT_MINOR - 1n, currency)})`,
      );
    }
    const amountMinor = Number(total);
    if (claimed.length === 0) {
      throw new ApiError(
        'nothing_to_pay',
        `Partner ${partner.id} has no approved ${currency} commissions that are not in a payout yet`,
      );
    }
    if (amountMinor <= 0) {
      throw new ApiError(
        'nothing_to_pay',
        `The ${claimed.length} approved ${currency} commissions of partner ${partner.id} come to ${fromMinor(amountMinor, currency)}: clawbacks outweigh the earnings, so they wait for later commissions`,
      );
    }
    const payout = await updateScoped(tx, 'payouts')
      .set({ amountMinor, commissionCount: claimed.length })
      .where('id', '=', id)
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'payout.created',
      resourceType: 'payout',
      resourceId: id,
      after: payoutView(payout),
    });
    await queueWebhookEvent(tx, 'payout.created', payoutView(payout));
    return { payout, created: true };
  });
}

async function openPayout(ctx: Ctx, partnerId: string, currency: string, period: string): Promise<Payout> {
  const existing = await selectScoped(ctx, 'payouts')
    .select(COLUMNS)
    .where('partnerId', '=', partnerId)
    .where('currency', '=', currency)
    .where('period', '=', period)
    .where('status', '<>', 'canceled')
    .executeTakeFirst();
  if (!existing) {
    throw new ApiError(
      'conflict',
      'The payout for this period was canceled meanwhile; send the request again',
    );
  }
  return existing;
}

/**
 * Settles or cancels a pending payout: `paid` marks its commissions paid, `canceled` releases them
 * (still approved) for a later payout. Payout and commissions change in one transaction.
 */
async function closePayout(
  ctx: DomainContext,
  id: string,
  outcome: { status: 'paid'; reference: string } | { status: 'canceled' },
): Promise<Payout> {
  return transactionWithOutbox(ctx.db, async (trx) => {
    const tx = { ...ctx, db: trx };
    const before = await getPayoutOrThrow(tx, id, { lock: true });
    if (before.status !== 'pending') {
      const action = outcome.status === 'paid' ? 'marked paid' : 'canceled';
      throw new ApiError(
        'invalid_state',
        `A ${before.status} payout cannot be ${action}; only a pending one`,
      );
    }
    const after = await updateScoped(tx, 'payouts')
      .set(
        outcome.status === 'paid'
          ? { status: 'paid', reference: outcome.reference, paidAt: ctx.now, updatedAt: ctx.now }
          : { status: 'canceled', canceledAt: ctx.now, updatedAt: ctx.now },
      )
      .where('id', '=', id)
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
    if (outcome.status === 'paid') await markPayoutCommissionsPaid(tx, id);
    else await releasePayoutCommissions(tx, id);
    await recordAudit(trx, ctx, {
      action: `payout.${outcome.status}`,
      resourceType: 'payout',
      resourceId: id,
      before: payoutView(before),
      after: payoutView(after),
    });
    if (outcome.status === 'paid') await queueWebhookEvent(tx, 'payout.paid', payoutView(after));
    return after;
  });
}

export function markPayoutPaid(ctx: DomainContext, id: string, reference: string): Promise<Payout> {
  return closePayout(ctx, id, { status: 'paid', reference });
}

export function cancelPayout(ctx: DomainContext, id: string): Promise<Payout> {
  return closePayout(ctx, id, { status: 'canceled' });
}

export interface PayoutFilters extends PageRequest {
  status?: PayoutStatus | undefined;
  partnerId?: string | undefined;
  currency?: string | undefined;
  period?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

export function listPayouts(ctx: Ctx, filters: PayoutFilters) {
  let query = selectScoped(ctx, 'payouts').select(COLUMNS);
  if (filters.status) query = query.where('status', '=', filters.status);
  if (filters.partnerId) query = query.where('partnerId', '=', filters.partnerId);
  if (filters.currency) query = query.where('currency', '=', filters.currency);
  if (filters.period) query = query.where('period', '=', filters.period);
  query = withinDates(query, 'created_at', { from: filters.from, to: filters.to });
  return paginate(query, filters, { idColumn: 'id', idPrefix: 'po' });
}
