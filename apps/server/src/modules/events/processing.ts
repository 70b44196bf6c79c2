import type { InsertQueryBuilder, InsertResult, QueryCreator } from 'kysely';
import type { DomainContext } from '../../platform/context.ts';
import { addMonths } from '../../platform/dates.ts';
import type { DB } from '../../platform/db/index.ts';
import { updateScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { fromMinor, toMinor } from '../../platform/money.ts';
import { queueWebhookEvents } from '../../platform/webhooks/outbox.ts';
import {
  COMMISSION_COLUMNS,
  type Commission,
  commissionInsert,
  commissionView,
  type NewCommission,
  pendingCommission,
} from '../commissions/service.ts';
import { type Customer, upsertCustomerForEvent } from '../customers/service.ts';
import { leadCommission, saleCommissionMinor } from '../partner-groups/rules.ts';
import { isLifetimeGroup, type PartnerGroup } from '../partner-groups/service.ts';
import {
  applyRefund,
  findSaleForUpdate,
  hasEarlierSale,
  queueTransactionCreated,
  transactionInsert,
} from '../transactions/service.ts';
import { partnerWithGroup, type Referral } from './attribution.ts';

export interface EventInput {
  type: 'click' | 'lead' | 'sale' | 'refund';
  partnerId?: string | undefined;
  referralCode?: string | undefined;
  clickId?: string | undefined;
  customer?: { externalId: string; email?: string | undefined; name?: string | undefined } | undefined;
  amount?: string | undefined;
  currency?: string | undefined;
  saleExternalId?: string | undefined;
  externalId?: string | undefined;
  occurredAt?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

export interface Step {
  ctx: Pick<DomainContext, 'db' | 'tenantId' | 'now'>;
  eventId: string;
  input: EventInput;
  occurredAt: Date;
  referral: Referral | undefined;
}

/** What an event ends up pointing at, written back to its row. */
export interface Effects {
  partnerId: string | null;
  customerId: string | null;
  clickId?: string | null;
  transactionId?: string | null;
  amountMinor?: number | null;
  currency?: string | null;
}

/** What processing an event did: the effects for its row, and the commissions earned by it. */
export interface Outcome {
  effects: Effects;
  commissions: Commission[];
}

/** A group that pays for life (recurring without end) binds the customers it brings for life. */
function ruleSnapshot(group: PartnerGroup, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    groupId: group.id,
    groupKey: group.key,
    holdbackDays: group.holdbackDays,
    recurring: group.recurring,
    recurringMonths: group.recurringMonths,
    ...extra,
  };
}

/** A row an event creates beside its commission: its sale transaction or its click. */
type CompanionInsert =
  | InsertQueryBuilder<DB, 'transactions', InsertResult>
  | InsertQueryBuilder<DB, 'clicks', InsertResult>;

/**
 * Writes the event's effects to its row in one statement with the row it creates (`companion`)
 * and the commission it earned, if any; returns that commission as written.
 */
async function writeEffects(
  step: Step,
  effects: Effects,
  companion: CompanionInsert | undefined,
  commission: NewCommission | undefined,
): Promise<Commission[]> {
  const { ctx } = step;
  // Nothing reads the companion's common table expression, so its name may go from the type.
  const db =
    companion === undefined
      ? ctx.db
      : (ctx.db.with('companion', () => companion) as unknown as QueryCreator<DB>);
  const eventUpdate = (source: QueryCreator<DB>) =>
    updateScoped({ db: source, tenantId: ctx.tenantId }, 'events')
      .set(effects)
      .where('id', '=', step.eventId);
  if (commission === undefined) {
    await eventUpdate(db).execute();
    return [];
  }
  const commissions = await db
    .with('eventUpdate', () => eventUpdate(ctx.db))
    .with('commission', () =>
      commissionInsert(ctx, pendingCommission(ctx, commission)).returning(COMMISSION_COLUMNS),
    )
    .selectFrom('commission')
    .selectAll()
    .execute();
  await queueWebhookEvents(ctx, 'commission.created', commissions.map(commissionView));
  return commissions;
}

/** The attribution an event gives a customer who has no partner yet. */
export function attributeWith(step: Step) {
  const { referral } = step;
  if (!referral?.attributable) return undefined;
  return { partnerId: referral.partner.id, at: step.occurredAt, lifetime: isLifetimeGroup(referral.group) };
}

export async function processClick(step: Step): Promise<Outcome> {
  const partner = step.referral?.partner;
  if (!partner) throw new ApiError('validation_error', 'A click needs partnerId or referralCode');
  const clickId = newId('clk');
  const effects = { partnerId: partner.id, customerId: null, clickId };
  const click = step.ctx.db.insertInto('clicks').values({
    id: clickId,
    tenantId: step.ctx.tenantId,
    partnerId: partner.id,
    eventId: step.eventId,
    occurredAt: step.occurredAt,
    createdAt: step.ctx.now,
  });
  return { effects, commissions: await writeEffects(step, effects, click, undefined) };
}

export async function processLead(step: Step): Promise<Outcome> {
  const { ctx, referral, input } = step;
  const identity = input.customer as NonNullable<EventInput['customer']>;
  const { customer, attributed } = await upsertCustomerForEvent(ctx, identity, attributeWith(step));
  let commission: NewCommission | undefined;
  if (attributed && referral) {
    const lead = leadCommission(referral.group.leadCommission, input.currency);
    if (lead && lead.amountMinor > 0) {
      commission = {
        partnerId: referral.partner.id,
        kind: 'lead',
        amountMinor: lead.amountMinor,
        currency: lead.currency,
        rule: ruleSnapshot(referral.group, {
          kind: 'lead',
          amount: fromMinor(lead.amountMinor, lead.currency),
          currency: lead.currency,
        }),
        occurredAt: step.occurredAt,
        holdbackDays: referral.group.holdbackDays,
        customerId: customer.id,
        eventId: step.eventId,
      };
    }
  }
  const effects = {
    partnerId: customer.partnerId,
    customerId: customer.id,
    clickId: referral?.clickId ?? null,
  };
  return { effects, commissions: await writeEffects(step, effects, undefined, commission) };
}

/**
 * Whether a sale of this customer earns: the first one recorded always does; a later one under
 * the group's recurrence rules, from the attribution on (for life, or within recurringMonths).
 */
function earnsOnSale(group: PartnerGroup, customer: Customer, firstSale: boolean, occurredAt: Date): boolean {
  if (firstSale) return true;
  const from = customer.attributedAt;
  if (from !== null && occurredAt < from) return false;
  if (customer.lifetime) return true;
  if (!group.recurring) return false;
  if (group.recurringMonths === null || from === null) return true;
  return occurredAt < addMonths(from, group.recurringMonths);
}

/**
 * The commission a sale earns the customer's partner, if any. First touch: the customer's partner
 * earns, whoever this event names; when the event names that partner, its lookup is reused.
 */
async function saleCommission(
  step: Step,
  customer: Customer & { partnerId: string },
  sale: { transactionId: string; amountMinor: number; currency: string; firstSale: boolean },
): Promise<NewCommission | undefined> {
  const { referral } = step;
  const { partner, group } =
    referral?.partner.id === customer.partnerId
      ? referral
      : await partnerWithGroup(step.ctx, customer.partnerId);
  const { amountMinor, currency } = sale;
  const commissionMinor = saleCommissionMinor(group.saleCommission, amountMinor, currency);
  if (
    partner.status === 'revoked' ||
    !commissionMinor ||
    commissionMinor <= 0 ||
    !earnsOnSale(group, customer, sale.firstSale, step.occurredAt)
  ) {
    return undefined;
  }
  const rule = group.saleCommission;
  return {
    partnerId: partner.id,
    kind: 'sale',
    amountMinor: commissionMinor,
    currency,
    rule: ruleSnapshot(group, {
      kind: 'sale',
      ...(rule?.type === 'percentage'
        ? { type: 'percentage', basisPoints: rule.basisPoints }
        : { type: 'fixed', amount: fromMinor(commissionMinor, currency), currency }),
    }),
    occurredAt: step.occurredAt,
    holdbackDays: group.holdbackDays,
    transactionId: sale.transactionId,
    customerId: customer.id,
    eventId: step.eventId,
  };
}

/** What a sale writes once its customer is known: its transaction, its commission and the event's effects. */
export async function planSale(step: Step, customer: Customer, firstSale: boolean) {
  const { input } = step;
  const currency = input.currency as string;
  const amountMinor = toMinor(input.amount as string, currency, { positive: true });
  const { partnerId } = customer;
  const sale = {
    id: newId('txn'),
    eventId: step.eventId,
    customerId: customer.id,
    partnerId,
    externalId: input.externalId ?? null,
    amountMinor,
    currency,
    occurredAt: step.occurredAt,
  };
  const commission =
    partnerId === null
      ? undefined
      : await saleCommission(
          step,
          { ...customer, partnerId },
          { transactionId: sale.id, amountMinor, currency, firstSale },
        );
  const effects = {
    partnerId,
    customerId: customer.id,
    clickId: step.referral?.clickId ?? null,
    transactionId: sale.id,
    amountMinor,
    currency,
  };
  return { sale, commission, effects };
}

export async function processSale(step: Step): Promise<Outcome> {
  const { ctx, input } = step;
  const identity = input.customer as NonNullable<EventInput['customer']>;
  const { customer, created } = await upsertCustomerForEvent(ctx, identity, attributeWith(step));
  // A customer this very event created cannot have bought before.
  const firstSale = created || !(await hasEarlierSale(ctx, customer.id));
  const { sale, commission, effects } = await planSale(step, customer, firstSale);
  const transaction = transactionInsert(ctx, sale);
  await queueTransactionCreated(ctx, sale);
  return { effects, commissions: await writeEffects(step, effects, transaction, commission) };
}

export async function processRefund(step: Step): Promise<Outcome> {
  const { ctx, input } = step;
  const sale = await findSaleForUpdate(ctx, input.saleExternalId as string);
  if (!sale) {
    throw new ApiError(
      'sale_not_found',
      `No sale with externalId ${input.saleExternalId} yet; retry once the sale is recorded`,
    );
  }
  if (input.currency !== undefined && input.currency !== sale.currency) {
    throw new ApiError('validation_error', `The sale is in ${sale.currency}`, {
      errors: [
        {
          field: 'currency',
          code: 'invalid_value',
          message: `currency must be the sale's currency ${sale.currency}`,
        },
      ],
    });
  }
  const refundMinor =
    input.amount === undefined
      ? sale.amountMinor - sale.refundedMinor
      : toMinor(input.amount, sale.currency, { positive: true });
  const { commissions } = await applyRefund(ctx, sale, refundMinor, step.eventId);
  const effects = {
    partnerId: sale.partnerId,
    customerId: sale.customerId,
    transactionId: sale.id,
    amountMinor: refundMinor,
    currency: sale.currency,
  };
  await writeEffects(step, effects, undefined, undefined);
  // The clawbacks are this event's; commissions it only shrank belong to the sale's event.
  return { effects, commissions: commissions.filter((c) => c.eventId === step.eventId) };
}
