import type { Selectable } from 'kysely';
import type { DomainContext } from '../../platform/context.ts';
import { withinDates } from '../../platform/dates.ts';
import type { EventsTable, EventType } from '../../platform/db/index.ts';
import { selectScoped, updateScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError, type FieldError, notFound } from '../../platform/errors.ts';
import { isId, newId } from '../../platform/ids.ts';
import { assertCurrency, fromMinor } from '../../platform/money.ts';
import { type PageRequest, paginate } from '../../platform/pagination.ts';
import { COMMISSION_COLUMNS, commissionView } from '../commissions/service.ts';
import { type PartnerReference, referenceCount, resolveReferral } from './attribution.ts';
import { type EventInput, processClick, processLead, processRefund, processSale } from './processing.ts';

export type StoredEvent = Omit<Selectable<EventsTable>, 'tenantId'>;

const COLUMNS = [
  'id',
  'type',
  'externalId',
  'partnerId',
  'customerId',
  'clickId',
  'transactionId',
  'amountMinor',
  'currency',
  'saleExternalId',
  'occurredAt',
  'metadata',
  'createdAt',
] as const;

/** Events may be back-dated freely but not dated more than a day ahead. */
const MAX_FUTURE_MS = 86_400_000;

function invalid(errors: FieldError[]): ApiError {
  return new ApiError('validation_error', errors.map((e) => e.message).join('; '), { errors });
}

/** The fields each event type needs and refuses, checked before anything is written. */
function checkShape(input: EventInput, now: Date): void {
  const errors: FieldError[] = [];
  const require = (field: keyof EventInput) => {
    if (input[field] === undefined)
      errors.push({ field, code: 'required', message: `${field} is required for ${input.type} events` });
  };
  const refuse = (field: keyof EventInput) => {
    if (input[field] !== undefined)
      errors.push({
        field,
        code: 'unknown_field',
        message: `${field} does not apply to ${input.type} events`,
      });
  };
  if (referenceCount(input) > 1) {
    // Name the identifiers actually sent, so the client sees which ones clash.
    for (const field of ['partnerId', 'referralCode', 'clickId'] as const) {
      if (input[field] === undefined) continue;
      errors.push({
        field,
        code: 'conflict',
        message: `${field}: name the partner by only one of partnerId, referralCode or clickId`,
      });
    }
  }
  if (input.type === 'click') {
    if (input.partnerId === undefined && input.referralCode === undefined) {
      errors.push({
        field: 'partnerId',
        code: 'required',
        message: 'A click needs partnerId or referralCode',
      });
    }
    for (const field of ['clickId', 'amount', 'currency', 'saleExternalId', 'customer'] as const)
      refuse(field);
  } else if (input.type === 'lead') {
    require('customer');
    for (const field of ['amount', 'saleExternalId'] as const) refuse(field);
  } else if (input.type === 'sale') {
    for (const field of ['customer', 'amount', 'currency'] as const) require(field);
    refuse('saleExternalId');
  } else {
    require('saleExternalId');
    if (input.amount !== undefined) require('currency');
    for (const field of ['partnerId', 'referralCode', 'clickId', 'customer'] as const) refuse(field);
  }
  if (
    input.occurredAt !== undefined &&
    new Date(input.occurredAt).getTime() > now.getTime() + MAX_FUTURE_MS
  ) {
    errors.push({
      field: 'occurredAt',
      code: 'out_of_range',
      message: 'occurredAt must not be more than a day in the future',
    });
  }
  if (errors.length > 0) throw invalid(errors);
  // Checked here too, not only when an amount is parsed: a lead's currency is never parsed.
  if (input.currency !== undefined) assertCurrency(input.currency);
}

export async function eventView(
  ctx: Pick<DomainContext, 'db' | 'tenantId'>,
  event: StoredEvent,
  withCommissions = true,
) {
  const { amountMinor, ...rest } = event;
  const view = {
    ...rest,
    amount: amountMinor === null || event.currency === null ? null : fromMinor(amountMinor, event.currency),
  };
  if (!withCommissions) return view;
  const commissions = await selectScoped(ctx, 'commissions')
    .select(COMMISSION_COLUMNS)
    .where('eventId', '=', event.id)
    .execute();
  return {
    ...view,
    commissions: commissions.map((c) => {
      const { id, kind, amount, currency, status } = commissionView(c);
      return { id, kind, amount, currency, status };
    }),
  };
}

/**
 * Records a conversion event and all its effects — customer, attribution, click, transaction,
 * commissions, refunds — in one database transaction. An `externalId` already seen for the tenant
 * and type returns the first event instead (`created: false`), also under concurrent delivery:
 * the unique index makes the second insert wait for the first and then find it.
 */
export async function ingestEvent(
  ctx: DomainContext,
  input: EventInput,
): Promise<{ event: StoredEvent; created: boolean }> {
  checkShape(input, ctx.now);
  const occurredAt = input.occurredAt === undefined ? ctx.now : new Date(input.occurredAt);
  return ctx.db.transaction().execute(async (trx) => {
    const tx = { ...ctx, db: trx };
    const id = newId('evt');
    const inserted = await trx
      .insertInto('events')
      .values({
        id,
        tenantId: ctx.tenantId,
        type: input.type,
        externalId: input.externalId ?? null,
        partnerId: null,
        customerId: null,
        clickId: null,
        transactionId: null,
        amountMinor: null,
        currency: input.currency ?? null,
        saleExternalId: input.saleExternalId ?? null,
        occurredAt,
        metadata: JSON.stringify(input.metadata ?? {}),
        createdAt: ctx.now,
      })
      .onConflict((oc) =>
        oc.columns(['tenantId', 'type', 'externalId']).where('externalId', 'is not', null).doNothing(),
      )
      .returning('id')
      .executeTakeFirst();
    if (!inserted) {
      const first = await selectScoped(tx, 'events')
        .select(COLUMNS)
        .where('type', '=', input.type)
        .where('externalId', '=', input.externalId ?? '')
        .executeTakeFirstOrThrow();
      return { event: first, created: false };
    }
    const referral = await resolveReferral(tx, input as PartnerReference, occurredAt);
    const step = { ctx: tx, eventId: id, input, occurredAt, referral };
    const effects =
      input.type === 'click'
        ? await processClick(step)
        : input.type === 'lead'
          ? await processLead(step)
          : input.type === 'sale'
            ? await processSale(step)
            : await processRefund(step);
    const event = await updateScoped(tx, 'events')
      .set(effects)
      .where('id', '=', id)
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
    return { event, created: true };
  });
}

export async function getEventOrThrow(
  ctx: Pick<DomainContext, 'db' | 'tenantId'>,
  id: string,
): Promise<StoredEvent> {
  const row = isId('evt', id)
    ? await selectScoped(ctx, 'events').select(COLUMNS).where('id', '=', id).executeTakeFirst()
    : undefined;
  if (!row) throw notFound('event', id);
  return row;
}

export interface EventFilters extends PageRequest {
  type?: EventType | undefined;
  partnerId?: string | undefined;
  customerId?: string | undefined;
  externalId?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

export function listEvents(ctx: Pick<DomainContext, 'db' | 'tenantId'>, filters: EventFilters) {
  let query = selectScoped(ctx, 'events').select(COLUMNS);
  if (filters.type) query = query.where('type', '=', filters.type);
  if (filters.partnerId) query = query.where('partnerId', '=', filters.partnerId);
  if (filters.customerId) query = query.where('customerId', '=', filters.customerId);
  if (filters.externalId) query = query.where('externalId', '=', filters.externalId);
  query = withinDates(query, 'occurred_at', { from: filters.from, to: filters.to });
  return paginate(query, filters, { idColumn: 'id', idPrefix: 'evt' });
}
