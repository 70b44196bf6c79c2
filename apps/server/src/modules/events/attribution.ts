import type { DomainContext } from '../../platform/context.ts';
import { selectScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError, type FieldError } from '../../platform/errors.ts';
import { isId } from '../../platform/ids.ts';
import { groupForPartner, type PartnerGroup } from '../partner-groups/service.ts';
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

/** The partner an event names by partnerId, referralCode or clickId; undefined when it names none. */
export async function resolveReferral(
  ctx: Ctx,
  ref: PartnerReference,
  occurredAt: Date,
): Promise<Referral | undefined> {
  const partners = selectScoped(ctx, 'partners').select(PARTNER_COLUMNS);
  let partner: Partner | undefined;
  let click: { id: string; occurredAt: Date } | undefined;
  if (ref.partnerId !== undefined) {
    partner = isId('prt', ref.partnerId)
      ? await partners.where('id', '=', ref.partnerId).executeTakeFirst()
      : undefined;
    if (!partner) throw unknownReference('partnerId', ref.partnerId);
  } else if (ref.referralCode !== undefined) {
    partner = await partners.where('referralCode', '=', ref.referralCode).executeTakeFirst();
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
  const group = await groupForPartner(ctx, partner.groupKey);
  const windowOpen =
    click === undefined ||
    occurredAt.getTime() - click.occurredAt.getTime() <= group.attributionWindowDays * DAY_MS;
  return { partner, group, clickId: click?.id, attributable: windowOpen && partner.status !== 'revoked' };
}

/** How many identifiers name the partner: an event may use at most one. */
export function referenceCount(ref: PartnerReference): number {
  return [ref.partnerId, ref.referralCode, ref.clickId].filter((v) => v !== undefined).length;
}
