import type { DomainContext } from '../../platform/context.ts';
import { selectScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { fromMinor, toMinor } from '../../platform/money.ts';
import { createCommission } from '../commissions/service.ts';
import { type Customer, upsertCustomerForEvent } from '../customers/service.ts';
import { leadCommission, saleCommissionMinor } from '../partner-groups/rules.ts';
import { groupForPartner, type PartnerGroup } from '../partner-groups/service.ts';
import { PARTNER_COLUMNS } from '../partners/service.ts';
import {
  applyRefund,
  createTransaction,
  findSaleForUpdate,
  hasEarlierSale,
} from '../transactions/service.ts';
import type { Referral } from './attribution.ts';

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

/** A group that pays for life (recurring without end) binds the customers it brings for life. */
function isLifetime(group: PartnerGroup): boolean {
  return group.recurring && group.recurringMonths === null;
}

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

function attributeWith(step: Step) {
  const { referral } = step;
  if (!referral?.attributable) return undefined;
  return { partnerId: referral.partner.id, at: step.occurredAt, lifetime: isLifetime(referral.group) };
}

export async function processClick(step: Step): Promise<Effects> {
  const partner = step.referral?.partner;
  if (!partner) throw new ApiError('validation_error', 'A click needs partnerId or referralCode');
  const clickId = newId('clk');
  await step.ctx.db
    .insertInto('clicks')
    .values({
      id: clickId,
      tenantId: step.ctx.tenantId,
      partnerId: partner.id,
      eventId: step.eventId,
      occurredAt: step.occurredAt,
      createdAt: step.ctx.now,
    })
    .execute();
  return { partnerId: partner.id, customerId: null, clickId };
}

export async function processLead(step: Step): Promise<Effects> {
  const { ctx, referral, input } = step;
  const identity = input.customer as NonNullable<EventInput['customer']>;
  const { customer, attributed } = await upsertCustomerForEvent(ctx, identity, attributeWith(step));
  if (attributed && referral) {
    const lead = leadCommission(referral.group.leadCommission, input.currency);
    if (lead && lead.amountMinor > 0) {
      await createCommission(ctx, {
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
      });
    }
  }
  return { partnerId: customer.partnerId, customerId: customer.id, clickId: referral?.clickId ?? null };
}

/** Whether a sale of this customer still earns under the group's recurrence rules. */
function earnsOnSale(group: PartnerGroup, customer: Customer, firstSale: boolean, occurredAt: Date): boolean {
  if (firstSale || customer.lifetime) return true;
  if (!group.recurring) return false;
  if (group.recurringMonths === null || customer.attributedAt === null) return true;
  const end = new Date(customer.attributedAt);
  end.setUTCMonth(end.getUTCMonth() + group.recurringMonths);
  return occurredAt < end;
}

export async function processSale(step: Step): Promise<Effects> {
  const { ctx, input } = step;
  const currency = input.currency as string;
  const amountMinor = toMinor(input.amount as string, currency, { positive: true });
  const identity = input.customer as NonNullable<EventInput['customer']>;
  const { customer } = await upsertCustomerForEvent(ctx, identity, attributeWith(step));
  const firstSale = !(await hasEarlierSale(ctx, customer.id));
  const transaction = await createTransaction(ctx, {
    eventId: step.eventId,
    customerId: customer.id,
    partnerId: customer.partnerId,
    externalId: input.externalId ?? null,
    amountMinor,
    currency,
    occurredAt: step.occurredAt,
  });
  if (customer.partnerId !== null) {
    // First touch: the customer's partner earns, whoever this event names.
    const partner = await selectScoped(ctx, 'partners')
      .select(PARTNER_COLUMNS)
      .where('id', '=', customer.partnerId)
      .executeTakeFirstOrThrow();
    const group = await groupForPartner(ctx, partner.groupKey);
    const commissionMinor = saleCommissionMinor(group.saleCommission, amountMinor, currency);
    if (
      partner.status !== 'revoked' &&
      commissionMinor &&
      commissionMinor > 0 &&
      earnsOnSale(group, customer, firstSale, step.occurredAt)
    ) {
      const rule = group.saleCommission;
      await createCommission(ctx, {
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
        transactionId: transaction.id,
        customerId: customer.id,
        eventId: step.eventId,
      });
    }
  }
  return {
    partnerId: customer.partnerId,
    customerId: customer.id,
    clickId: step.referral?.clickId ?? null,
    transactionId: transaction.id,
    amountMinor,
    currency,
  };
}

export async function processRefund(step: Step): Promise<Effects> {
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
  await applyRefund(ctx, sale, refundMinor, step.eventId);
  return {
    partnerId: sale.partnerId,
    customerId: sale.customerId,
    transactionId: sale.id,
    amountMinor: refundMinor,
    currency: sale.currency,
  };
}
