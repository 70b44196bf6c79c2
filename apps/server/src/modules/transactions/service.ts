import { type Selectable, sql } from 'kysely';
import { recordAudit } from '../../platform/audit.ts';
import type { DomainContext } from '../../platform/context.ts';
import { withinDates } from '../../platform/dates.ts';
import type { TransactionStatus, TransactionsTable } from '../../platform/db/index.ts';
import { insertRow } from '../../platform/db/insert-row.ts';
import { rowById } from '../../platform/db/precompiled.ts';
import { type ScopeContext, selectScoped, updateScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError, notFound } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { fromMinor } from '../../platform/money.ts';
import { type PageRequest, paginate } from '../../platform/pagination.ts';
import { queueWebhookEvent, transactionWithOutbox } from '../../platform/webhooks/outbox.ts';
import { rejectUnpaidCommissions, reverseForRefund } from '../commissions/service.ts';

export type Transaction = Omit<Selectable<TransactionsTable>, 'tenantId'>;

const COLUMNS = [
  'id',
  'customerId',
  'partnerId',
  'eventId',
  'externalId',
  'amountMinor',
  'refundedMinor',
  'currency',
  'status',
  'statusReason',
  'occurredAt',
  'createdAt',
  'updatedAt',
] as const;

export function transactionView(row: Transaction) {
  const { amountMinor, refundedMinor, ...rest } = row;
  return {
    ...rest,
    amount: fromMinor(amountMinor, row.currency),
    refundedAmount: fromMinor(refundedMinor, row.currency),
  };
}

type Ctx = Pick<DomainContext, 'db' | 'tenantId' | 'now'>;

export interface NewTransaction {
  eventId: string;
  customerId: string;
  partnerId: string | null;
  externalId: string | null;
  amountMinor: number;
  currency: string;
  occurredAt: Date;
}

/**
 * The insert of a pending sale transaction, not yet executed: for a caller that sends it in one
 * statement with related writes (as a `with` clause), written only if the one named `onlyIf` was.
 */
export function transactionInsert(
  ctx: ScopeContext & Pick<Ctx, 'now'>,
  input: NewTransaction & { id: string },
  onlyIf?: string,
) {
  return insertRow(
    ctx.db,
    'transactions',
    {
      tenantId: ctx.tenantId,
      status: 'pending',
      statusReason: null,
      createdAt: ctx.now,
      updatedAt: ctx.now,
      ...input,
    },
    onlyIf,
  );
}

export async function createTransaction(ctx: Ctx, input: NewTransaction): Promise<Transaction> {
  const transaction = await transactionInsert(ctx, { id: newId('txn'), ...input })
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
  await queueWebhookEvent(ctx, 'transaction.created', transactionView(transaction));
  return transaction;
}

/**
 * Queues transaction.created for a sale written by `transactionInsert` with the same input: the
 * row is known without reading it back, so the insert can stay inside a larger statement.
 */
export function queueTransactionCreated(ctx: Ctx, input: NewTransaction & { id: string }): Promise<void> {
  const transaction: Transaction = {
    status: 'pending',
    statusReason: null,
    refundedMinor: 0,
    createdAt: ctx.now,
    updatedAt: ctx.now,
    ...input,
  };
  return queueWebhookEvent(ctx, 'transaction.created', transactionView(transaction));
}

/** The sale a refund names, locked for the rest of the caller's transaction. */
export async function findSaleForUpdate(ctx: Ctx, externalId: string): Promise<Transaction | undefined> {
  return selectScoped(ctx, 'transactions')
    .select(COLUMNS)
    .where('externalId', '=', externalId)
    .forUpdate()
    .executeTakeFirst();
}

/**
 * Whether the customer already has a standing sale: decides non-recurring commissions. A sale that
 * was rejected or refunded in full does not count, so a genuine later purchase is the first one.
 */
export async function hasEarlierSale(ctx: Ctx, customerId: string): Promise<boolean> {
  const row = await selectScoped(ctx, 'transactions')
    .select('id')
    .where('customerId', '=', customerId)
    .where('status', 'not in', ['rejected', 'refunded'])
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Books a refund of `refundMinor` against a locked sale: the transaction becomes refunded or
 * partially refunded, and its commissions are reversed or clawed back in proportion.
 */
export async function applyRefund(ctx: Ctx, sale: Transaction, refundMinor: number, eventId: string) {
  if (sale.status === 'rejected' || sale.status === 'refunded') {
    throw new ApiError('invalid_state', `The sale is already ${sale.status}; nothing is left to refund`);
  }
  const remaining = sale.amountMinor - sale.refundedMinor;
  if (refundMinor > remaining) {
    throw new ApiError(
      'refund_exceeds_sale',
      `The refund of ${fromMinor(refundMinor, sale.currency)} exceeds the ${fromMinor(remaining, sale.currency)} ${sale.currency} left on the sale`,
    );
  }
  const refundedMinor = sale.refundedMinor + refundMinor;
  const status: TransactionStatus = refundedMinor === sale.amountMinor ? 'refunded' : 'partially_refunded';
  const updated = await updateScoped(ctx, 'transactions')
    .set({ refundedMinor, status, updatedAt: ctx.now })
    .where('id', '=', sale.id)
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
  await queueWebhookEvent(ctx, 'transaction.refunded', transactionView(updated));
  const commissions = await reverseForRefund(ctx, updated, eventId);
  return { transaction: updated, commissions };
}

export async function getTransactionOrThrow(ctx: Pick<DomainContext, 'db' | 'tenantId'>, id: string) {
  const row = await transactionById(ctx, id);
  if (!row) throw notFound('transaction', id);
  return row;
}

const transactionById = rowById('txn', (scope, id) =>
  selectScoped(scope, 'transactions').select(COLUMNS).where('id', '=', id),
);

/**
 * Approves a pending transaction, or rejects one that is pending, approved or partly refunded:
 * its unpaid commissions are rejected and paid ones clawed back.
 */
export async function decideTransaction(
  ctx: DomainContext,
  id: string,
  decision: 'approved' | 'rejected',
  reason: string | undefined,
): Promise<Transaction> {
  return transactionWithOutbox(ctx.db, async (trx) => {
    const tx = { ...ctx, db: trx };
    const before = await getTransactionOrThrow(tx, id);
    const allowed = decision === 'approved' ? ['pending'] : ['pending', 'approved', 'partially_refunded'];
    if (!allowed.includes(before.status)) {
      throw new ApiError('invalid_state', `A ${before.status} transaction cannot be ${decision}`);
    }
    const after = await updateScoped(tx, 'transactions')
      .set({ status: decision, statusReason: reason ?? null, updatedAt: ctx.now })
      .where('id', '=', id)
      .where('status', 'in', allowed as TransactionStatus[])
      .returning(COLUMNS)
      .executeTakeFirst();
    if (!after) throw new ApiError('invalid_state', 'The transaction changed meanwhile; fetch it again');
    if (decision === 'rejected') {
      // Unpaid commissions are rejected; paid ones are never changed, so they are clawed back.
      await rejectUnpaidCommissions(tx, { transactionId: id }, reason ?? 'transaction rejected');
      await reverseForRefund(
        tx,
        { id, amountMinor: after.amountMinor, refundedMinor: after.amountMinor },
        null,
        'transaction rejected after payment',
      );
    }
    await recordAudit(trx, ctx, {
      action: `transaction.${decision}`,
      resourceType: 'transaction',
      resourceId: id,
      before: { status: before.status, statusReason: before.statusReason },
      after: { status: after.status, statusReason: after.statusReason },
    });
    await queueWebhookEvent(tx, `transaction.${decision}`, transactionView(after));
    return after;
  });
}

export interface TransactionFilters extends PageRequest {
  status?: TransactionStatus | undefined;
  partnerId?: string | undefined;
  customerId?: string | undefined;
  currency?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

export function listTransactions(ctx: Pick<DomainContext, 'db' | 'tenantId'>, filters: TransactionFilters) {
  let query = selectScoped(ctx, 'transactions').select(COLUMNS);
  if (filters.status) query = query.where('status', '=', filters.status);
  if (filters.partnerId) query = query.where('partnerId', '=', filters.partnerId);
  if (filters.customerId) query = query.where('customerId', '=', filters.customerId);
  if (filters.currency) query = query.where('currency', '=', filters.currency);
  query = withinDates(query, 'occurred_at', { from: filters.from, to: filters.to });
  return paginate(query, filters, { idColumn: 'id', idPrefix: 'txn' });
}

/** Sales and revenue of one partner per currency, in minor units as decimal text (see commissionTotals). */
export function transactionTotals(ctx: Pick<DomainContext, 'db' | 'tenantId'>, partnerId: string) {
  return selectScoped(ctx, 'transactions')
    .select([
      'currency',
      sql<number>`count(*)::int`.as('sales'),
      sql<string>`sum(amount_minor)::text`.as('grossMinor'),
      sql<string>`sum(refunded_minor)::text`.as('refundedMinor'),
    ])
    .where('partnerId', '=', partnerId)
    .where('status', '!=', 'rejected')
    .groupBy('currency')
    .execute();
}
