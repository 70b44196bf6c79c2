import { type Insertable, sql } from 'kysely';
import type { EventsTable } from '../../platform/db/index.ts';
import { insertRow } from '../../platform/db/insert-row.ts';
import { queueWebhookEvents } from '../../platform/webhooks/outbox.ts';
import {
  type Commission,
  commissionInsert,
  commissionView,
  pendingCommission,
} from '../commissions/service.ts';
import {
  type CustomerIdentity,
  customerInsert,
  newEventCustomer,
  queueCustomerCreated,
} from '../customers/service.ts';
import { queueTransactionCreated, transactionInsert } from '../transactions/service.ts';
import { type ReferralCheck, referralStillHolds } from './attribution.ts';
import { attributeWith, planSale, type Step } from './processing.ts';
import { EVENT_COLUMNS } from './rows.ts';
import type { StoredEvent } from './service.ts';

/** Thrown in an event's transaction to undo a sale whose externalId a concurrent delivery took. */
export class RepeatedEvent extends Error {}

type WrittenRow = Omit<StoredEvent, 'id'> & {
  id: string | null;
  referralHolds: boolean;
  customerCreated: boolean;
  commissionRule: Commission['rule'] | null;
};

export type NewCustomerSale =
  | { outcome: 'written'; event: StoredEvent; commissions: Commission[] }
  | { outcome: 'customer exists' }
  | { outcome: 'referral changed' };

/**
 * A sale for a customer not seen before — most sales — written in one statement: the customer,
 * the event already pointing at what it created, its transaction and its commission. Writes
 * nothing when the customer exists (`processSale` takes over), nor when `check` is given and the
 * remembered referral no longer holds. Throws RepeatedEvent when the event's externalId turned out
 * to be taken, so the caller rolls back the customer it wrote; as with the usual order (event
 * first), the unique index makes a concurrent delivery wait for the first one.
 */
export async function processNewCustomerSale(
  step: Step,
  event: Insertable<EventsTable>,
  check?: ReferralCheck,
): Promise<NewCustomerSale> {
  const { ctx, input } = step;
  const customer = newEventCustomer(ctx, input.customer as CustomerIdentity, attributeWith(step));
  // A customer this very event creates cannot have bought before.
  const { sale, commission: earned, effects } = await planSale(step, customer, true);
  const commission = earned && pendingCommission(ctx, earned);
  // Each write selects from the one before, so it happens only if that one did.
  const writes = [
    ...(check ? [sql`referral_holds as (${referralStillHolds(ctx, check)})`] : []),
    sql`new_customer as (${customerInsert(ctx, customer, check && 'referral_holds').returning('id')})`,
    sql`new_event as (${insertRow(ctx.db, 'events', { ...event, ...effects }, 'new_customer')
      .onConflict((oc) =>
        oc.columns(['tenantId', 'type', 'externalId']).where('externalId', 'is not', null).doNothing(),
      )
      .returning(EVENT_COLUMNS)})`,
    sql`new_sale as (${transactionInsert(ctx, sale, 'new_event')})`,
  ];
  if (commission) {
    writes.push(sql`new_commission as (${commissionInsert(ctx, commission, 'new_event').returning('rule')})`);
  }
  const { rows } = await sql<WrittenRow>`
    with ${sql.join(writes)}
    select
      ${check ? sql`exists (select from referral_holds)` : sql`true`} as referral_holds,
      new_customer.id is not null as customer_created,
      new_event.*,
      ${commission ? sql`(select rule from new_commission)` : sql`null`} as commission_rule
    from (select) as statement
      left join new_customer on true
      left join new_event on true
  `.execute(ctx.db);
  const { id, referralHolds, customerCreated, commissionRule, ...rest } = rows[0] as WrittenRow;
  if (!referralHolds) return { outcome: 'referral changed' };
  if (!customerCreated) return { outcome: 'customer exists' };
  if (id === null) throw new RepeatedEvent(`event ${input.type} ${input.externalId} was recorded meanwhile`);
  await queueCustomerCreated(ctx, customer);
  await queueTransactionCreated(ctx, sale);
  // The rule as the database stored it, as when the commission is read back.
  const commissions = commission ? [{ ...commission, rule: commissionRule ?? commission.rule }] : [];
  await queueWebhookEvents(ctx, 'commission.created', commissions.map(commissionView));
  return { outcome: 'written', event: { id, ...rest }, commissions };
}
