import type { Expression, Selectable } from 'kysely';
import { sql } from 'kysely';
import { recordAudit } from '../../platform/audit.ts';
import { TtlCache } from '../../platform/auth/ttl-cache.ts';
import type { DomainContext } from '../../platform/context.ts';
import { isUniqueViolation } from '../../platform/db/errors.ts';
import type { PartnerGroupsTable } from '../../platform/db/schema.ts';
import { type ScopeContext, selectScoped, updateScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError, notFound } from '../../platform/errors.ts';
import { assertVersionMatches } from '../../platform/http/etag.ts';
import { isId, newId } from '../../platform/ids.ts';
import { type PageRequest, paginate } from '../../platform/pagination.ts';
import {
  leadRuleFromInput,
  leadRuleToWire,
  type MoneyInput,
  type SaleRuleInput,
  saleRuleFromInput,
  saleRuleToWire,
} from './rules.ts';

export type PartnerGroup = Omit<Selectable<PartnerGroupsTable>, 'tenantId'>;

const COLUMNS = [
  'id',
  'key',
  'name',
  'holdbackDays',
  'attributionWindowDays',
  'saleCommission',
  'leadCommission',
  'recurring',
  'recurringMonths',
  'isDefault',
  'version',
  'createdAt',
  'updatedAt',
] as const;

export interface GroupInput {
  name?: string | undefined;
  holdbackDays?: number | undefined;
  attributionWindowDays?: number | undefined;
  saleCommission?: SaleRuleInput | null | undefined;
  leadCommission?: { amounts: MoneyInput[] } | null | undefined;
  recurring?: boolean | undefined;
  recurringMonths?: number | null | undefined;
}

/** The group as the API shows it: rules with decimal amounts. */
export function groupView(group: PartnerGroup) {
  return {
    ...group,
    saleCommission: saleRuleToWire(group.saleCommission),
    leadCommission: leadRuleToWire(group.leadCommission),
  };
}

function columnsFrom(input: GroupInput) {
  return {
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.holdbackDays !== undefined ? { holdbackDays: input.holdbackDays } : {}),
    ...(input.attributionWindowDays !== undefined
      ? { attributionWindowDays: input.attributionWindowDays }
      : {}),
    ...(input.saleCommission !== undefined
      ? { saleCommission: JSON.stringify(saleRuleFromInput(input.saleCommission)) }
      : {}),
    ...(input.leadCommission !== undefined
      ? { leadCommission: JSON.stringify(leadRuleFromInput(input.leadCommission)) }
      : {}),
    ...(input.recurring !== undefined ? { recurring: input.recurring } : {}),
    ...(input.recurringMonths !== undefined ? { recurringMonths: input.recurringMonths } : {}),
  };
}

/** The tenant's default group, created on first use. */
export async function ensureDefaultGroup(
  ctx: Pick<DomainContext, 'db' | 'tenantId' | 'now'>,
): Promise<PartnerGroup> {
  const existing = await selectScoped(ctx, 'partnerGroups')
    .select(COLUMNS)
    .where('isDefault', '=', true)
    .executeTakeFirst();
  if (existing) return existing;
  await ctx.db
    .insertInto('partnerGroups')
    .values({
      id: newId('grp'),
      tenantId: ctx.tenantId,
      key: 'default',
      name: 'Default',
      holdbackDays: 30,
      attributionWindowDays: 30,
      saleCommission: null,
      leadCommission: null,
      recurring: false,
      recurringMonths: null,
      isDefault: true,
      createdAt: ctx.now,
      updatedAt: ctx.now,
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
  return selectScoped(ctx, 'partnerGroups')
    .select(COLUMNS)
    .where('isDefault', '=', true)
    .executeTakeFirstOrThrow();
}

export async function createGroup(ctx: DomainContext, input: GroupInput & { key: string; name: string }) {
  await ensureDefaultGroup(ctx);
  try {
    return await ctx.db.transaction().execute(async (trx) => {
      const group = await trx
        .insertInto('partnerGroups')
        .values({
          id: newId('grp'),
          tenantId: ctx.tenantId,
          key: input.key,
          name: input.name,
          holdbackDays: 30,
          attributionWindowDays: 30,
          saleCommission: null,
          leadCommission: null,
          recurring: false,
          recurringMonths: null,
          isDefault: false,
          createdAt: ctx.now,
          updatedAt: ctx.now,
          ...columnsFrom(input),
        })
        .returning(COLUMNS)
        .executeTakeFirstOrThrow();
      await recordAudit(trx, ctx, {
        action: 'partner_group.created',
        resourceType: 'partner_group',
        resourceId: group.id,
        after: groupView(group),
      });
      return group;
    });
  } catch (error) {
    if (isUniqueViolation(error, 'partner_groups_key_uq')) {
      throw new ApiError('group_key_taken', `A group with key ${input.key} already exists`);
    }
    throw error;
  }
}

export async function listGroups(ctx: DomainContext, page: PageRequest) {
  await ensureDefaultGroup(ctx);
  return paginate(selectScoped(ctx, 'partnerGroups').select(COLUMNS), page, {
    idColumn: 'id',
    idPrefix: 'grp',
  });
}

/** Finds a group by id (`grp_…`) or by key. */
export async function getGroupOrThrow(ctx: DomainContext, idOrKey: string): Promise<PartnerGroup> {
  await ensureDefaultGroup(ctx);
  return findGroupOrThrow(ctx, idOrKey, false);
}

/** The group by id or key; with `lock`, locked until the caller's transaction ends. */
async function findGroupOrThrow(ctx: DomainContext, idOrKey: string, lock: boolean): Promise<PartnerGroup> {
  const byId = idOrKey.startsWith('grp_');
  if (byId && !isId('grp', idOrKey)) throw notFound('partner group', idOrKey);
  const row = await selectScoped(ctx, 'partnerGroups')
    .select(COLUMNS)
    .where(byId ? 'id' : 'key', '=', idOrKey)
    .$if(lock, (qb) => qb.forUpdate())
    .executeTakeFirst();
  if (!row) throw notFound('partner group', idOrKey);
  return row;
}

export async function updateGroup(
  ctx: DomainContext,
  idOrKey: string,
  input: GroupInput,
  ifMatch?: readonly number[],
) {
  await ensureDefaultGroup(ctx);
  // Read locked, so that concurrent changes apply one after the other and each audits what it replaced.
  return ctx.db.transaction().execute(async (trx) => {
    const before = await findGroupOrThrow({ ...ctx, db: trx }, idOrKey, true);
    assertVersionMatches(ifMatch, before.version);
    const set = columnsFrom(input);
    if (Object.keys(set).length === 0) return { before, after: before };
    const after = await updateScoped({ ...ctx, db: trx }, 'partnerGroups')
      .set({ ...set, version: sql`version + 1`, updatedAt: ctx.now })
      .where('id', '=', before.id)
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
    // Rule changes move money: who changed which rule is kept with the before and after values.
    await recordAudit(trx, ctx, {
      action: 'partner_group.updated',
      resourceType: 'partner_group',
      resourceId: after.id,
      before: groupView(before),
      after: groupView(after),
    });
    return { before, after };
  });
}

/**
 * Groups as this process last read them, by `id:version`. Every change of a group bumps its version,
 * and an entry is only looked up under the stamp a caller has just read from the database, so a
 * changed rule is never served from here; old versions simply age out.
 */
const groupsByStamp = new TtlCache<string, PartnerGroup>(600_000, 1_000);

/**
 * A scalar subquery for the group whose rules apply to a partner (its `groupKey`'s group, else the
 * tenant's default) as `id:version`, null while the tenant has no default group yet. Selected with
 * the partner and passed to `groupForPartner`, it spares a query for the group itself.
 */
export function applicableGroupStamp(ctx: ScopeContext, groupKey: Expression<string | null>) {
  return selectScoped(ctx, 'partnerGroups')
    .select(sql<string>`id || ':' || version`.as('stamp'))
    .where((eb) => eb.or([eb('key', '=', groupKey), eb('isDefault', '=', true)]))
    .orderBy('isDefault')
    .limit(1);
}

/** Whether a group's customers earn its partners recurring commissions for life. */
export function isLifetimeGroup(group: PartnerGroup): boolean {
  return group.recurring && group.recurringMonths === null;
}

/**
 * The group whose rules apply to a partner: its `groupKey`'s group, else the tenant's default.
 * With the partner's `applicableGroupStamp`, an unchanged group comes from memory.
 */
export async function groupForPartner(
  ctx: Pick<DomainContext, 'db' | 'tenantId' | 'now'>,
  groupKey: string | null,
  stamp?: string | null,
): Promise<PartnerGroup> {
  if (stamp) {
    const cached = groupsByStamp.get(stamp);
    if (cached) return cached;
    const group = await selectScoped(ctx, 'partnerGroups')
      .select(COLUMNS)
      .where('id', '=', stamp.slice(0, stamp.lastIndexOf(':')))
      .executeTakeFirst();
    if (group) {
      groupsByStamp.set(`${group.id}:${group.version}`, group);
      return group;
    }
  }
  if (groupKey !== null) {
    const group = await selectScoped(ctx, 'partnerGroups')
      .select(COLUMNS)
      .where('key', '=', groupKey)
      .executeTakeFirst();
    if (group) return group;
  }
  return ensureDefaultGroup(ctx);
}
