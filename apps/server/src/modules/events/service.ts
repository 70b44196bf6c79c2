import type { Insertable, Selectable } from 'kysely';
import type { DomainContext } from '../../platform/context.ts';
import { withinDates } from '../../platform/dates.ts';
import type { EventsTable, EventType } from '../../platform/db/index.ts';
import { rowById } from '../../platform/db/precompiled.ts';
import { selectScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError, type FieldError, notFound } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { assertCurrency, fromMinor, toMinor } from '../../platform/money.ts';
import { type PageRequest, paginate } from '../../platform/pagination.ts';
import { transactionWithOutbox } from '../../platform/webhooks/outbox.ts';
import { COMMISSION_COLUMNS, type Commission, commissionView } from '../commissions/service.ts';
import {
  forgetReferral,
  type PartnerReference,
  type Referral,
  type ReferralCheck,
  referenceCount,
  rememberedReferral,
  resolveReferral,
} from './attribution.ts';
import { type NewCustomerSale, processNewCustomerSale, RepeatedEvent } from './new-customer-sale.ts';
import { type EventInput, processClick, processLead, processRefund, processSale } from './processing.ts';
import { EVENT_COLUMNS, newEventRow } from './rows.ts';

export type StoredEvent = Omit<Selectable<EventsTable>, 'tenantId'>;

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

function eventOnlyView(event: StoredEvent) {
  const { amountMinor, ...rest } = event;
  return {
    ...rest,
    amount: amountMinor === null || event.currency === null ? null : fromMinor(amountMinor, event.currency),
  };
}

/** The event as the API shows it with `commissions`, the ones it earned. */
export function eventViewWith(event: StoredEvent, commissions: Commission[]) {
  return {
    ...eventOnlyView(event),
    commissions: commissions.map((c) => {
      const { id, kind, amount, currency, status } = commissionView(c);
      return { id, kind, amount, currency, status };
    }),
  };
}

export async function eventView(
  ctx: Pick<DomainContext, 'db' | 'tenantId'>,
  event: StoredEvent,
  withCommissions = true,
) {
  if (!withCommissions) return eventOnlyView(event);
  const commissions = await selectScoped(ctx, 'commissions')
    .select(COMMISSION_COLUMNS)
    .where('eventId', '=', event.id)
    .execute();
  return eventViewWith(event, commissions);
}

type Ingested =
  | { event: StoredEvent; created: true; commissions: Commission[] }
  | { event: StoredEvent; created: false };

function firstEvent(ctx: Pick<DomainContext, 'db' | 'tenantId'>, input: EventInput): Promise<StoredEvent> {
  return selectScoped(ctx, 'events')
    .select(EVENT_COLUMNS)
    .where('type', '=', input.type)
    .where('externalId', '=', input.externalId ?? '')
    .executeTakeFirstOrThrow();
}

/** The partner a sale names, or UNRESOLVED when it names an unknown one: refused after the repeat check. */
const UNRESOLVED = Symbol('unresolved reference');

function isAmount(input: EventInput): boolean {
  try {
    toMinor(input.amount as string, input.currency as string, { positive: true });
    return true;
  } catch (error) {
    if (error instanceof ApiError) return false;
    throw error;
  }
}

async function lookUpReferral(
  ctx: DomainContext,
  input: EventInput,
  occurredAt: Date,
): Promise<Referral | undefined | typeof UNRESOLVED> {
  try {
    return await resolveReferral(ctx, input as PartnerReference, occurredAt);
  } catch (error) {
    if (error instanceof ApiError) return UNRESOLVED;
    throw error;
  }
}

/**
 * A sale by the one-statement path of a new customer's sale, with the referral this process
 * remembers for its partner (checked by the write itself) or else one read now. When that writes
 * nothing (the customer exists, or the partner is unknown), returns the referral for the usual path.
 */
async function recordNewCustomerSale(
  tx: DomainContext,
  event: Insertable<EventsTable>,
  input: EventInput,
  occurredAt: Date,
): Promise<
  | Extract<NewCustomerSale, { outcome: 'written' }>
  | { outcome: 'not written'; referral: Referral | undefined | typeof UNRESOLVED }
> {
  // Like an unknown partner, an amount that does not parse is refused after the repeat check.
  if (!isAmount(input)) return { outcome: 'not written', referral: UNRESOLVED };
  const attempt = (referral: Referral | undefined, check?: ReferralCheck) =>
    processNewCustomerSale({ ctx: tx, eventId: event.id, input, occurredAt, referral }, event, check);
  const remembered = rememberedReferral(tx, input);
  if (remembered) {
    const result = await attempt(remembered.referral, remembered.check);
    if (result.outcome === 'written') return result;
    if (result.outcome === 'customer exists')
      return { outcome: 'not written', referral: remembered.referral };
    forgetReferral(tx, remembered.check.partnerId);
  }
  const referral = await lookUpReferral(tx, input, occurredAt);
  const result = referral === UNRESOLVED ? undefined : await attempt(referral);
  return result?.outcome === 'written' ? result : { outcome: 'not written', referral };
}

async function recordEvent(tx: DomainContext, input: EventInput, occurredAt: Date): Promise<Ingested> {
  const row = newEventRow(tx, newId('evt'), input, occurredAt);
  const { id } = row;
  let referral: Referral | undefined | typeof UNRESOLVED = UNRESOLVED;
  if (input.type === 'sale') {
    // Most sales are a new customer's: then one statement writes them whole.
    const sale = await recordNewCustomerSale(tx, row, input, occurredAt);
    if (sale.outcome === 'written')
      return { event: sale.event, created: true, commissions: sale.commissions };
    referral = sale.referral;
  }
  const inserted = await tx.db
    .insertInto('events')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['tenantId', 'type', 'externalId']).where('externalId', 'is not', null).doNothing(),
    )
    .returning(EVENT_COLUMNS)
    .executeTakeFirst();
  if (!inserted) return { event: await firstEvent(tx, input), created: false };
  if (referral === UNRESOLVED) referral = await resolveReferral(tx, input as PartnerReference, occurredAt);
  const step = { ctx: tx, eventId: id, input, occurredAt, referral };
  const { effects, commissions } =
    input.type === 'click'
      ? await processClick(step)
      : input.type === 'lead'
        ? await processLead(step)
        : input.type === 'sale'
          ? await processSale(step)
          : await processRefund(step);
  // The processing wrote the effects to the event's row; the rest of the row is as inserted.
  return { event: { ...inserted, ...effects }, created: true, commissions };
}

/**
 * Records a conversion event and all its effects — customer, attribution, click, transaction,
 * commissions, refunds — in one database transaction. An `externalId` already seen for the tenant
 * and type returns the first event instead (`created: false`), also under concurrent delivery:
 * the unique index makes the second insert wait for the first and then find it. A new event comes
 * with the commissions it earned.
 */
export async function ingestEvent(ctx: DomainContext, input: EventInput): Promise<Ingested> {
  checkShape(input, ctx.now);
  const occurredAt = input.occurredAt === undefined ? ctx.now : new Date(input.occurredAt);
  try {
    return await transactionWithOutbox(ctx.db, (trx) => recordEvent({ ...ctx, db: trx }, input, occurredAt));
  } catch (error) {
    if (!(error instanceof RepeatedEvent)) throw error;
    // A concurrent delivery of the same event committed first; this one wrote nothing.
    return { event: await firstEvent(ctx, input), created: false };
  }
}

export async function getEventOrThrow(
  ctx: Pick<DomainContext, 'db' | 'tenantId'>,
  id: string,
): Promise<StoredEvent> {
  const row = await eventById(ctx, id);
  if (!row) throw notFound('event', id);
  return row;
}

const eventById = rowById('evt', (scope, id) =>
  selectScoped(scope, 'events').select(EVENT_COLUMNS).where('id', '=', id),
);

export interface EventFilters extends PageRequest {
  type?: EventType | undefined;
  partnerId?: string | undefined;
  customerId?: string | undefined;
  externalId?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

export function listEvents(ctx: Pick<DomainContext, 'db' | 'tenantId'>, filters: EventFilters) {
  let query = selectScoped(ctx, 'events').select(EVENT_COLUMNS);
  if (filters.type) query = query.where('type', '=', filters.type);
  if (filters.partnerId) query = query.where('partnerId', '=', filters.partnerId);
  if (filters.customerId) query = query.where('customerId', '=', filters.customerId);
  if (filters.externalId) query = query.where('externalId', '=', filters.externalId);
  query = withinDates(query, 'occurred_at', { from: filters.from, to: filters.to });
  return paginate(query, filters, { idColumn: 'id', idPrefix: 'evt' });
}
