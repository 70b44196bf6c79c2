import { type Selectable, sql } from 'kysely';
import { recordAudit } from '../../platform/audit.ts';
import type { DomainContext } from '../../platform/context.ts';
import { withinDates } from '../../platform/dates.ts';
import { isUniqueViolation } from '../../platform/db/errors.ts';
import type { CustomersTable } from '../../platform/db/index.ts';
import { insertRow } from '../../platform/db/insert-row.ts';
import { anyContains } from '../../platform/db/like.ts';
import { rowById } from '../../platform/db/precompiled.ts';
import { type ScopeContext, selectScoped, updateScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError, notFound } from '../../platform/errors.ts';
import { assertVersionMatches } from '../../platform/http/etag.ts';
import { newId } from '../../platform/ids.ts';
import { type PageRequest, paginate } from '../../platform/pagination.ts';
import { queueWebhookEvent, transactionWithOutbox } from '../../platform/webhooks/outbox.ts';
import { groupForPartner, isLifetimeGroup } from '../partner-groups/service.ts';
import { getPartnerOrThrow } from '../partners/service.ts';

export type Customer = Omit<Selectable<CustomersTable>, 'tenantId'>;

export const CUSTOMER_COLUMNS = [
  'id',
  'externalId',
  'email',
  'name',
  'partnerId',
  'attributedAt',
  'lifetime',
  'version',
  'createdAt',
  'updatedAt',
] as const;

type Ctx = Pick<DomainContext, 'db' | 'tenantId' | 'now'>;

export interface CustomerIdentity {
  externalId: string;
  email?: string | undefined;
  name?: string | undefined;
}

export interface CustomerReferral {
  partnerId: string;
  at: Date;
  lifetime: boolean;
}

/** A customer an event sees for the first time, attributed to `referral`'s partner if given. */
export function newEventCustomer(
  ctx: Pick<Ctx, 'now'>,
  identity: CustomerIdentity,
  referral: CustomerReferral | undefined,
): Customer {
  return {
    id: newId('cus'),
    externalId: identity.externalId,
    email: identity.email?.toLowerCase() ?? null,
    name: identity.name ?? null,
    partnerId: referral?.partnerId ?? null,
    attributedAt: referral?.at ?? null,
    lifetime: referral?.lifetime ?? false,
    version: 1,
    createdAt: ctx.now,
    updatedAt: ctx.now,
  };
}

/**
 * The insert of a new customer that does nothing if the externalId is taken, not yet executed: for
 * a caller that sends it in one statement with related writes, written only if the one named
 * `onlyIf` returned a row.
 */
export function customerInsert(ctx: ScopeContext, customer: Customer, onlyIf?: string) {
  return insertRow(ctx.db, 'customers', { ...customer, tenantId: ctx.tenantId }, onlyIf).onConflict((oc) =>
    oc.columns(['tenantId', 'externalId']).doNothing(),
  );
}

/** Queues customer.created for a customer written by `customerInsert`. */
export function queueCustomerCreated(ctx: Ctx, customer: Customer): Promise<void> {
  return queueWebhookEvent(ctx, 'customer.created', customer);
}

/**
 * The customer an event names, created on first sight. First touch wins: a customer keeps the
 * partner that first referred them, so `referral` only attributes a customer who has none yet.
 * Returns whether this call created and whether it attributed the customer.
 */
export async function upsertCustomerForEvent(
  ctx: Ctx,
  identity: CustomerIdentity,
  referral: CustomerReferral | undefined,
): Promise<{ customer: Customer; created: boolean; attributed: boolean }> {
  const inserted = await customerInsert(ctx, newEventCustomer(ctx, identity, referral))
    .returning(CUSTOMER_COLUMNS)
    .executeTakeFirst();
  if (inserted) {
    await queueCustomerCreated(ctx, inserted);
    return { customer: inserted, created: true, attributed: referral !== undefined };
  }
  const existing = await selectScoped(ctx, 'customers')
    .select(CUSTOMER_COLUMNS)
    .where('externalId', '=', identity.externalId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  if (existing.partnerId !== null || referral === undefined) {
    return { customer: existing, created: false, attributed: false };
  }
  const attributed = await updateScoped(ctx, 'customers')
    .set({
      partnerId: referral.partnerId,
      attributedAt: referral.at,
      lifetime: referral.lifetime,
      version: sql`version + 1`,
      updatedAt: ctx.now,
    })
    .where('id', '=', existing.id)
    .returning(CUSTOMER_COLUMNS)
    .executeTakeFirstOrThrow();
  await queueWebhookEvent(ctx, 'customer.updated', attributed);
  return { customer: attributed, created: false, attributed: true };
}

export interface CustomerInput extends CustomerIdentity {
  partnerId?: string | null | undefined;
  lifetime?: boolean | undefined;
}

/**
 * A partner a customer is attributed to by hand: it must exist, and not be revoked (revoked partners
 * gain no new customers). Returns whether its group makes the customers it brings lifetime ones,
 * as an attributing event would.
 */
async function attributableBy(ctx: DomainContext, partnerId: string): Promise<{ lifetime: boolean }> {
  const partner = await getPartnerOrThrow(ctx, partnerId);
  if (partner.status === 'revoked') {
    throw new ApiError('invalid_state', `Partner ${partnerId} is revoked: it gains no new customers`);
  }
  return { lifetime: isLifetimeGroup(await groupForPartner(ctx, partner.groupKey)) };
}

/** Creates a customer by hand, attributed to a partner when one is given. */
export async function createCustomer(ctx: DomainContext, input: CustomerInput): Promise<Customer> {
  const partner = input.partnerId ? await attributableBy(ctx, input.partnerId) : undefined;
  return transactionWithOutbox(ctx.db, async (trx) => {
    try {
      const customer = await trx
        .insertInto('customers')
        .values({
          id: newId('cus'),
          tenantId: ctx.tenantId,
          externalId: input.externalId,
          email: input.email?.toLowerCase() ?? null,
          name: input.name ?? null,
          partnerId: input.partnerId ?? null,
          attributedAt: input.partnerId ? ctx.now : null,
          lifetime: input.lifetime ?? partner?.lifetime ?? false,
          createdAt: ctx.now,
          updatedAt: ctx.now,
        })
        .returning(CUSTOMER_COLUMNS)
        .executeTakeFirstOrThrow();
      await recordAudit(trx, ctx, {
        action: 'customer.created',
        resourceType: 'customer',
        resourceId: customer.id,
        after: customer,
      });
      await queueWebhookEvent({ ...ctx, db: trx }, 'customer.created', customer);
      return customer;
    } catch (error) {
      if (isUniqueViolation(error, 'customers_external_uq')) {
        throw new ApiError(
          'customer_external_id_taken',
          `A customer with externalId ${input.externalId} already exists`,
        );
      }
      throw error;
    }
  });
}

export async function getCustomerOrThrow(
  ctx: Pick<DomainContext, 'db' | 'tenantId'>,
  id: string,
): Promise<Customer> {
  const row = await customerById(ctx, id);
  if (!row) throw notFound('customer', id);
  return row;
}

/** The customer, locked until the caller's transaction ends. */
async function lockCustomerOrThrow(
  ctx: Pick<DomainContext, 'db' | 'tenantId'>,
  id: string,
): Promise<Customer> {
  const row = await customerForUpdate(ctx, id);
  if (!row) throw notFound('customer', id);
  return row;
}

const customerForUpdate = rowById('cus', (scope, id) =>
  selectScoped(scope, 'customers').select(CUSTOMER_COLUMNS).where('id', '=', id).forUpdate(),
);

const customerById = rowById('cus', (scope, id) =>
  selectScoped(scope, 'customers').select(CUSTOMER_COLUMNS).where('id', '=', id),
);

/**
 * Changes a customer. A new `partnerId` re-attributes the customer (future commissions go to the
 * new partner; earned ones stay) and is written to the audit log with the old and new partner.
 */
export async function updateCustomer(
  ctx: DomainContext,
  id: string,
  changes: Omit<Partial<CustomerInput>, 'externalId'>,
  ifMatch?: readonly number[],
): Promise<Customer> {
  const partner = changes.partnerId ? await attributableBy(ctx, changes.partnerId) : undefined;
  return transactionWithOutbox(ctx.db, async (trx) => {
    const tx = { ...ctx, db: trx };
    // Read locked: concurrent changes (and events attributing the customer) apply one after the other.
    const before = await lockCustomerOrThrow(tx, id);
    assertVersionMatches(ifMatch, before.version);
    const reattributed = changes.partnerId !== undefined && changes.partnerId !== before.partnerId;
    // A customer moved to another partner (or to none) is that partner's as if its group had
    // brought it: lifetime only in a lifetime group, unless the PATCH says otherwise.
    const lifetime = changes.lifetime ?? (reattributed ? (partner?.lifetime ?? false) : undefined);
    const set = {
      ...(changes.email !== undefined ? { email: changes.email.toLowerCase() } : {}),
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(lifetime !== undefined && lifetime !== before.lifetime ? { lifetime } : {}),
      ...(reattributed
        ? { partnerId: changes.partnerId ?? null, attributedAt: changes.partnerId ? ctx.now : null }
        : {}),
    };
    if (Object.keys(set).length === 0) return before;
    const after = await updateScoped(tx, 'customers')
      .set({ ...set, version: sql`version + 1`, updatedAt: ctx.now })
      .where('id', '=', id)
      .returning(CUSTOMER_COLUMNS)
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: reattributed ? 'customer.reattributed' : 'customer.updated',
      resourceType: 'customer',
      resourceId: id,
      before,
      after,
    });
    await queueWebhookEvent(tx, 'customer.updated', after);
    return after;
  });
}

/** How many customers are attributed to a partner. */
export async function countCustomers(
  ctx: Pick<DomainContext, 'db' | 'tenantId'>,
  partnerId: string,
): Promise<number> {
  const row = await selectScoped(ctx, 'customers')
    .select(sql<number>`count(*)::int`.as('count'))
    .where('partnerId', '=', partnerId)
    .executeTakeFirstOrThrow();
  return row.count;
}

export interface CustomerFilters extends PageRequest {
  partnerId?: string | undefined;
  lifetime?: 'true' | 'false' | undefined;
  q?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

export function listCustomers(ctx: Pick<DomainContext, 'db' | 'tenantId'>, filters: CustomerFilters) {
  let query = selectScoped(ctx, 'customers').select(CUSTOMER_COLUMNS);
  if (filters.partnerId) query = query.where('partnerId', '=', filters.partnerId);
  if (filters.lifetime) query = query.where('lifetime', '=', filters.lifetime === 'true');
  if (filters.q) {
    query = query.where(
      anyContains(
        [sql`lower(coalesce(email, ''))`, sql`lower(coalesce(name, ''))`, sql`lower(external_id)`],
        filters.q,
      ),
    );
  }
  query = withinDates(query, 'created_at', { from: filters.createdFrom, to: filters.createdTo }, [
    'createdFrom',
    'createdTo',
  ]);
  return paginate(query, filters, { idColumn: 'id', idPrefix: 'cus' });
}
