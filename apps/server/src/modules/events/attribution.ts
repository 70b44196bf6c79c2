import { sql } from 'kysely';
import { TtlCache } from '../../platform/auth/ttl-cache.ts';
import type { DomainContext } from '../../platform/context.ts';
import { type ScopeContext, selectScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError, type FieldError } from '../../platform/errors.ts';
import { isId } from '../../platform/ids.ts';
import { applicableGroupStamp, groupForPartner, type PartnerGroup } from '../partner-groups/service.ts';
import { PARTNER_COLUMNS, type Partner } from '../partners/service.ts';

const DAY_MS = 86_400_000;

export interface PartnerReference {
  partnerId?: string | undefined;
  referralCode?: string | undefined;
  clickId?: string | undefined;
}

export interface Referral {
  partner: Partner;
  group: PartnerGroup;
  /** Set when the partner came from a click: the click's id. */
  clickId: string | undefined;
  /** False for a click older than the group's attribution window, or a revoked partner. */
  attributable: boolean;
}

function unknownReference(field: string, value: string): ApiError {
  const error: FieldError = { field, code: 'not_found', message: `No partner matches ${field} ${value}` };
  return new ApiError('validation_error', error.message, { errors: [error] });
}

type Ctx = Pick<DomainContext, 'db' | 'tenantId' | 'now'>;

/** Partners with the stamp of the group that applies to each, so the group may come from memory. */
/**
 * The partner an event is about, read in the event's transaction with a share lock (FOR KEY SHARE)
 * until it commits: a revocation (which locks the partner FOR UPDATE) waits for the event, then
 * sees, and with `cancelPending` rejects, its commission; an event that comes second waits for
 * the revocation and reads the revoked partner. Concurrent events of one partner do not wait for
 * each other.
 */
function partnersWithGroupStamp(ctx: Ctx) {
  return selectScoped(ctx, 'partners')
    .select(PARTNER_COLUMNS)
    .select((eb) => applicableGroupStamp(ctx, eb.ref('partners.groupKey')).as('groupStamp'))
    .forKeyShare();
}

async function withGroup(
  ctx: Ctx,
  row: Partner & { groupStamp: string | null },
): Promise<{ partner: Partner; group: PartnerGroup }> {
  const { groupStamp, ...partner } = row;
  return { partner, group: await groupForPartner(ctx, partner.groupKey, groupStamp) };
}

/** A partner of the tenant with the group whose rules apply to it. */
export async function partnerWithGroup(
  ctx: Ctx,
  partnerId: string,
): Promise<{ partner: Partner; group: PartnerGroup }> {
  return withGroup(
    ctx,
    await partnersWithGroupStamp(ctx).where('id', '=', partnerId).executeTakeFirstOrThrow(),
  );
}

/** What a write checks a remembered referral against: its partner's version and group stamp. */
export interface ReferralCheck {
  partnerId: string;
  version: number;
  groupStamp: string;
}

/**
 * Referrals by partnerId as this process last resolved them. A write uses one only together with
 * `referralStillHolds` in its own statement and writes nothing if the partner or its group changed
 * since (each change bumps a version), so no revocation, move or rule change is ever missed.
 */
const rememberedReferrals = new TtlCache<string, { referral: Referral; check: ReferralCheck }>(
  60_000,
  10_000,
);

/** The remembered referral of an event naming its partner by partnerId, if there is one. */
export function rememberedReferral(ctx: Pick<Ctx, 'tenantId'>, ref: PartnerReference) {
  if (ref.partnerId === undefined || ref.referralCode !== undefined || ref.clickId !== undefined) {
    return undefined;
  }
  return rememberedReferrals.get(`${ctx.tenantId}:${ref.partnerId}`);
}

export function forgetReferral(ctx: Pick<Ctx, 'tenantId'>, partnerId: string): void {
  rememberedReferrals.delete(`${ctx.tenantId}:${partnerId}`);
}

/**
 * A query that returns a row while the partner and its group are as `check` has them, locking the
 * partner like partnersWithGroupStamp: a revocation that locked it first is waited for, and then
 * its new version makes the row disappear.
 */
export function referralStillHolds(ctx: ScopeContext, check: ReferralCheck) {
  return selectScoped(ctx, 'partners')
    .select(sql<number>`1`.as('holds'))
    .where('id', '=', check.partnerId)
    .where('version', '=', check.version)
    .where((eb) => eb(applicableGroupStamp(ctx, eb.ref('partners.groupKey')), '=', check.groupStamp))
    .forKeyShare();
}

/**
 * How much earlier than its click an event may be dated and still be attributed by it: clicks and
 * sales are often timed by different machines. Anything earlier happened before the click.
 */
const CLOCK_SKEW_MS = 5 * 60_000;

/** The partner an event names by partnerId, referralCode or clickId; undefined when it names none. */
export async function resolveReferral(
  ctx: Ctx,
  ref: PartnerReference,
  occurredAt: Date,
): Promise<Referral | undefined> {
  const partners = partnersWithGroupStamp(ctx);
  let partner: (Partner & { groupStamp: string | null }) | undefined;
  let click: { id: string; occurredAt: Date } | undefined;
  if (ref.partnerId !== undefined) {
    partner = isId('prt', ref.partnerId)
      ? await partners.where('id', '=', ref.partnerId).executeTakeFirst()
      : undefined;
    if (!partner) throw unknownReference('partnerId', ref.partnerId);
  } else if (ref.referralCode !== undefined) {
    // Codes are unique whatever their case (migration 0013), and found the same way.
    const code = ref.referralCode.toLowerCase();
    partner = await partners.where(sql`lower(partners.referral_code)`, '=', code).executeTakeFirst();
    if (!partner) throw unknownReference('referralCode', ref.referralCode);
  } else if (ref.clickId !== undefined) {
    const row = isId('clk', ref.clickId)
      ? await selectScoped(ctx, 'clicks')
          .select(['id', 'partnerId', 'occurredAt'])
          .where('id', '=', ref.clickId)
          .executeTakeFirst()
      : undefined;
    if (!row) throw unknownReference('clickId', ref.clickId);
    click = row;
    partner = await partners.where('id', '=', row.partnerId).executeTakeFirstOrThrow();
  } else {
    return undefined;
  }
  const { group } = await withGroup(ctx, partner);
  const { groupStamp, ...named } = partner;
  const sinceClick = click === undefined ? 0 : occurredAt.getTime() - click.occurredAt.getTime();
  const windowOpen = sinceClick >= -CLOCK_SKEW_MS && sinceClick <= group.attributionWindowDays * DAY_MS;
  const referral = {
    partner: named,
    group,
    clickId: click?.id,
    attributable: windowOpen && named.status !== 'revoked',
  };
  if (ref.partnerId !== undefined && groupStamp !== null) {
    const check = { partnerId: named.id, version: named.version, groupStamp };
    rememberedReferrals.set(`${ctx.tenantId}:${named.id}`, { referral, check });
  }
  return referral;
}

/** How many identifiers name the partner: an event may use at most one. */
export function referenceCount(ref: PartnerReference): number {
  return [ref.partnerId, ref.referralCode, ref.clickId].filter((v) => v !== undefined).length;
}
