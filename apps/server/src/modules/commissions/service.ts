import { type Selectable, sql } from 'kysely';
import type { DomainContext } from '../../platform/context.ts';
import { withinDates } from '../../platform/dates.ts';
import type { CommissionKind, CommissionStatus, CommissionsTable, Db } from '../../platform/db/index.ts';
import { insertRow } from '../../platform/db/insert-row.ts';
import { rowById } from '../../platform/db/precompiled.ts';
import { type ScopeContext, selectScoped, updateScoped } from '../../platform/db/tenant-scope.ts';
import { notFound } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { fromMinor, mulDivHalfEven } from '../../platform/money.ts';
import { type PageRequest, paginate } from '../../platform/pagination.ts';
import {
  queueWebhookEvent,
  queueWebhookEvents,
  transactionWithOutbox,
} from '../../platform/webhooks/outbox.ts';

export type Commission = Omit<Selectable<CommissionsTable>, 'tenantId'>;

export const COMMISSION_COLUMNS = [
  'id',
  'partnerId',
  'transactionId',
  'customerId',
  'eventId',
  'payoutId',
  'reversesCommissionId',
  'kind',
  'amountMinor',
  'reversedMinor',
  'currency',
  'status',
  'statusReason',
  'rule',
  'occurredAt',
  'availableAt',
  'approvedAt',
  'paidAt',
  'createdAt',
  'updatedAt',
] as const;

const DAY_MS = 86_400_000;

export function commissionView(row: Commission) {
  const { amountMinor, reversedMinor, ...rest } = row;
  return {
    ...rest,
    amount: fromMinor(amountMinor, row.currency),
    reversedAmount: fromMinor(reversedMinor, row.currency),
  };
}

export interface NewCommission {
  partnerId: string;
  kind: CommissionKind;
  amountMinor: number;
  currency: string;
  rule: Record<string, unknown>;
  occurredAt: Date;
  holdbackDays: number;
  transactionId?: string | null;
  customerId?: string | null;
  eventId?: string | null;
}

/**
 * A new pending commission that becomes payable `holdbackDays` after it was earned, as
 * `commissionInsert` writes it (its `rule` as given, before the database normalises the JSON).
 */
export function pendingCommission(ctx: { now: Date }, input: NewCommission): Commission {
  return {
    id: newId('com'),
    partnerId: input.partnerId,
    transactionId: input.transactionId ?? null,
    customerId: input.customerId ?? null,
    eventId: input.eventId ?? null,
    payoutId: null,
    reversesCommissionId: null,
    kind: input.kind,
    amountMinor: input.amountMinor,
    reversedMinor: 0,
    currency: input.currency,
    status: 'pending',
    statusReason: null,
    rule: input.rule,
    occurredAt: input.occurredAt,
    availableAt: new Date(input.occurredAt.getTime() + input.holdbackDays * DAY_MS),
    approvedAt: null,
    paidAt: null,
    createdAt: ctx.now,
    updatedAt: ctx.now,
  };
}

/**
 * The insert of a commission, not yet executed: for a caller that sends it in one statement with
 * related writes (as a `with` clause), written only if the one named `onlyIf` was.
 */
export function commissionInsert(ctx: ScopeContext, commission: Commission, onlyIf?: string) {
  return insertRow(
    ctx.db,
    'commissions',
    { ...commission, tenantId: ctx.tenantId, rule: JSON.stringify(commission.rule) },
    onlyIf,
  );
}

/** Inserts a pending commission that becomes payable `holdbackDays` after it was earned. */
export async function createCommission(
  ctx: Pick<DomainContext, 'db' | 'tenantId' | 'now'>,
  input: NewCommission,
) {
  return commissionInsert(ctx, pendingCommission(ctx, input))
    .returning(COMMISSION_COLUMNS)
    .executeTakeFirstOrThrow();
}

/** A commission is still the tenant's to change while it is unpaid and in no payout. */
function isUnpaid(commission: Commission): boolean {
  return (
    (commission.status === 'pending' || commission.status === 'approved') && commission.payoutId === null
  );
}

/** What an unpaid commission becomes once nothing of it is left: `reversed` by a refund by default. */
export type EmptiedCommission = { status: 'reversed' | 'rejected'; statusReason: string };

/**
 * Brings a transaction's sale and lead commissions in line with the share of it refunded so far
 * (`refundedMinor` of `amountMinor`). Unpaid commissions shrink (and become `emptied` at zero); paid
 * or payout-bound ones are never touched: a negative `clawback` commission records the difference.
 * Returns the commissions created or changed.
 */
export async function reverseForRefund(
  ctx: Pick<DomainContext, 'db' | 'tenantId' | 'now'>,
  transaction: { id: string; amountMinor: number; refundedMinor: number },
  eventId: string | null,
  clawbackReason = 'refunded after payment',
  emptied: EmptiedCommission = { status: 'reversed', statusReason: 'refunded' },
): Promise<Commission[]> {
  const commissions = await selectScoped(ctx, 'commissions')
    .select(COMMISSION_COLUMNS)
    .where('transactionId', '=', transaction.id)
    .orderBy('id')
    .forUpdate()
    .execute();
  const clawedBack = new Map<string, number>();
  for (const c of commissions) {
    // A rejected clawback takes nothing back.
    if (c.kind === 'clawback' && c.reversesCommissionId && c.status !== 'rejected') {
      clawedBack.set(c.reversesCommissionId, (clawedBack.get(c.reversesCommissionId) ?? 0) - c.amountMinor);
    }
  }
  const touched: Commission[] = [];
  for (const commission of commissions) {
    if (
      commission.kind === 'clawback' ||
      commission.status === 'rejected' ||
      commission.status === 'reversed'
    )
      continue;
    const original = commission.amountMinor + commission.reversedMinor;
    const target = mulDivHalfEven(original, transaction.refundedMinor, transaction.amountMinor);
    const delta = target - commission.reversedMinor - (clawedBack.get(commission.id) ?? 0);
    if (delta <= 0) continue;
    if (isUnpaid(commission)) {
      const amountMinor = commission.amountMinor - delta;
      const changed = await updateScoped(ctx, 'commissions')
        .set({
          amountMinor,
          reversedMinor: commission.reversedMinor + delta,
          ...(amountMinor === 0 ? emptied : {}),
          updatedAt: ctx.now,
        })
        .where('id', '=', commission.id)
        .returning(COMMISSION_COLUMNS)
        .executeTakeFirstOrThrow();
      await queueWebhookEvent(ctx, 'commission.reversed', commissionView(changed));
      touched.push(changed);
    } else {
      const clawback = await ctx.db
        .insertInto('commissions')
        .values({
          id: newId('com'),
          tenantId: ctx.tenantId,
          partnerId: commission.partnerId,
          transactionId: commission.transactionId,
          customerId: commission.customerId,
          eventId,
          payoutId: null,
          reversesCommissionId: commission.id,
          kind: 'clawback',
          amountMinor: -delta,
          currency: commission.currency,
          status: 'approved',
          statusReason: clawbackReason,
          rule: JSON.stringify(commission.rule),
          occurredAt: ctx.now,
          availableAt: ctx.now,
          approvedAt: ctx.now,
          paidAt: null,
          createdAt: ctx.now,
          updatedAt: ctx.now,
        })
        .returning(COMMISSION_COLUMNS)
        .executeTakeFirstOrThrow();
      await queueWebhookEvent(ctx, 'commission.created', commissionView(clawback));
      touched.push(clawback);
    }
  }
  return touched;
}

/**
 * Rejects the unpaid commissions of a transaction (or of a partner); paid ones stay as they are.
 * Clawbacks stay too: each records money a partner was paid and owes back, whatever happens to the
 * transaction later (reverseForRefund adds what is still missing).
 */
export async function rejectUnpaidCommissions(
  ctx: Pick<DomainContext, 'db' | 'tenantId' | 'now'>,
  where: { transactionId: string } | { partnerId: string; onlyPending: true },
  reason: string,
): Promise<Commission[]> {
  let due = selectScoped(ctx, 'commissions')
    .select('id')
    .where('payoutId', 'is', null)
    .where('kind', '!=', 'clawback');
  if ('transactionId' in where) {
    due = due.where('transactionId', '=', where.transactionId).where('status', 'in', ['pending', 'approved']);
  } else {
    due = due.where('partnerId', '=', where.partnerId).where('status', '=', 'pending');
  }
  // Rows are locked in id order, as the approval job locks them, so the two never deadlock.
  const rejected = await updateScoped(ctx, 'commissions')
    .set({ status: 'rejected', statusReason: reason, updatedAt: ctx.now })
    .where('id', 'in', due.orderBy('id').forUpdate())
    .returning(COMMISSION_COLUMNS)
    .execute();
  // Rejected has no event type of its own: to a subscriber the commission stopped counting.
  await queueWebhookEvents(ctx, 'commission.reversed', rejected.map(commissionView));
  return rejected;
}

/**
 * The scheduled approval: pending commissions whose holdback has passed, and whose transaction was
 * neither refunded nor rejected, become approved. One atomic statement across all tenants (with
 * its commission.approved events in the same transaction), so any number of processes may run it.
 */
export async function approveDueCommissions(db: Db, now: Date): Promise<number> {
  return transactionWithOutbox(db, async (trx) => {
    // Locked in id order first, like every other statement that changes many commissions at once,
    // so that none of them deadlocks with this one.
    const due = trx
      .selectFrom('commissions as c')
      .select('c.id')
      .where('c.status', '=', 'pending')
      .where('c.availableAt', '<=', now)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('transactions as t')
              .select('t.id')
              .whereRef('t.id', '=', 'c.transactionId')
              .where('t.status', 'in', ['refunded', 'rejected']),
          ),
        ),
      )
      .orderBy('c.id')
      .forUpdate('c');
    const approved = await trx
      .updateTable('commissions')
      .set({ status: 'approved', approvedAt: now, updatedAt: now })
      .where('id', 'in', due)
      .returning([...COMMISSION_COLUMNS, 'tenantId'])
      .execute();
    for (const { tenantId, ...commission } of approved) {
      await queueWebhookEvent({ db: trx, tenantId, now }, 'commission.approved', commissionView(commission));
    }
    return approved.length;
  });
}

export interface CommissionFilters extends PageRequest {
  status?: CommissionStatus | undefined;
  partnerId?: string | undefined;
  payoutId?: string | undefined;
  kind?: CommissionKind | undefined;
  currency?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

export function listCommissions(ctx: Pick<DomainContext, 'db' | 'tenantId'>, filters: CommissionFilters) {
  let query = selectScoped(ctx, 'commissions').select(COMMISSION_COLUMNS);
  if (filters.status) query = query.where('status', '=', filters.status);
  if (filters.partnerId) query = query.where('partnerId', '=', filters.partnerId);
  if (filters.payoutId) query = query.where('payoutId', '=', filters.payoutId);
  if (filters.kind) query = query.where('kind', '=', filters.kind);
  if (filters.currency) query = query.where('currency', '=', filters.currency);
  query = withinDates(query, 'occurred_at', { from: filters.from, to: filters.to });
  return paginate(query, filters, { idColumn: 'id', idPrefix: 'com' });
}

export async function getCommissionOrThrow(ctx: Pick<DomainContext, 'db' | 'tenantId'>, id: string) {
  const row = await commissionById(ctx, id);
  if (!row) throw notFound('commission', id);
  return row;
}

const commissionById = rowById('com', (scope, id) =>
  selectScoped(scope, 'commissions').select(COMMISSION_COLUMNS).where('id', '=', id),
);

/**
 * Commission totals of one partner per currency and status, in minor units as decimal text (a sum
 * can pass 2^53, past which a JavaScript number is not exact): the current amounts, and what
 * refunds took off them before they were paid. A rejected clawback was withdrawn (its payout was
 * canceled before payment) and takes nothing back, so it counts in no total.
 */
export function commissionTotals(ctx: Pick<DomainContext, 'db' | 'tenantId'>, partnerId: string) {
  return selectScoped(ctx, 'commissions')
    .select([
      'currency',
      'status',
      sql<string>`sum(amount_minor)::text`.as('totalMinor'),
      sql<string>`sum(reversed_minor)::text`.as('reversedMinor'),
      sql<number>`count(*)::int`.as('count'),
    ])
    .where('partnerId', '=', partnerId)
    .where((eb) => eb.not(eb.and([eb('kind', '=', 'clawback'), eb('status', '=', 'rejected')])))
    .groupBy(['currency', 'status'])
    .execute();
}
