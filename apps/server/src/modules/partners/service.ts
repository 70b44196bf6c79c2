import { randomInt } from 'node:crypto';
import { sql } from 'kysely';
import { changedFields, recordAudit } from '../../platform/audit.ts';
import type { DomainContext } from '../../platform/context.ts';
import { withinDates } from '../../platform/dates.ts';
import { isUniqueViolation } from '../../platform/db/errors.ts';
import { anyContains } from '../../platform/db/like.ts';
import { rowById } from '../../platform/db/precompiled.ts';
import { selectScoped, updateScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError, notFound } from '../../platform/errors.ts';
import { assertVersionMatches } from '../../platform/http/etag.ts';
import { newId } from '../../platform/ids.ts';
import { type PageRequest, paginate } from '../../platform/pagination.ts';
import { queueWebhookEvent, transactionWithOutbox } from '../../platform/webhooks/outbox.ts';
import type { PartnerStatus } from './schemas.ts';

export interface Partner {
  id: string;
  email: string;
  name: string | null;
  status: PartnerStatus;
  groupKey: string | null;
  referralCode: string;
  metadata: Record<string, string>;
  version: number;
  invitedAt: Date | null;
  activatedAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const PARTNER_COLUMNS = [
  'id',
  'email',
  'name',
  'status',
  'groupKey',
  'referralCode',
  'metadata',
  'version',
  'invitedAt',
  'activatedAt',
  'revokedAt',
  'createdAt',
  'updatedAt',
] as const;

export interface PartnerInput {
  email: string;
  name?: string | null | undefined;
  status?: PartnerStatus | undefined;
  groupKey?: string | null | undefined;
  referralCode?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

function generateReferralCode(): string {
  let code = '';
  for (let i = 0; i < 8; i++) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return code;
}

/**
 * The fields that go with moving a partner from one status to another: when it was invited,
 * activated or revoked. A partner that is no longer invited has no open invite.
 */
export function statusChangeFields(from: PartnerStatus, to: PartnerStatus, now: Date) {
  if (from === to) return {};
  if (to === 'invited') return { invitedAt: now, revokedAt: null };
  const closedInvite = { inviteTokenHash: null, inviteExpiresAt: null };
  if (to === 'active') return { activatedAt: now, revokedAt: null, ...closedInvite };
  return { revokedAt: now, ...closedInvite };
}

function conflict(
  error: unknown,
  input: { email?: string | undefined; referralCode?: string | undefined },
): never {
  if (isUniqueViolation(error, 'partners_email_uq')) {
    throw new ApiError('partner_email_taken', `A partner with email ${input.email} already exists`);
  }
  if (isUniqueViolation(error, 'partners_referral_code_uq')) {
    throw new ApiError('referral_code_taken', `The referral code ${input.referralCode} is already in use`);
  }
  throw error;
}

export async function createPartner(ctx: DomainContext, input: PartnerInput): Promise<Partner> {
  const email = input.email.trim().toLowerCase();
  const status = input.status ?? 'active';
  // A generated code that collides (1 in 10^12 per pair) is drawn again; a given one is a 409.
  for (let attempt = 0; ; attempt++) {
    const referralCode = input.referralCode ?? generateReferralCode();
    try {
      return await transactionWithOutbox(ctx.db, async (trx) => {
        const partner = await trx
          .insertInto('partners')
          .values({
            id: newId('prt'),
            tenantId: ctx.tenantId,
            email,
            name: input.name ?? null,
            status,
            groupKey: input.groupKey ?? null,
            referralCode,
            metadata: JSON.stringify(input.metadata ?? {}),
            invitedAt: status === 'invited' ? ctx.now : null,
            activatedAt: status === 'active' ? ctx.now : null,
            revokedAt: status === 'revoked' ? ctx.now : null,
            createdAt: ctx.now,
            updatedAt: ctx.now,
          })
          .returning(PARTNER_COLUMNS)
          .executeTakeFirstOrThrow();
        await queueWebhookEvent({ ...ctx, db: trx }, 'partner.created', partner);
        return partner;
      });
    } catch (error) {
      const generatedCollision =
        input.referralCode === undefined &&
        isUniqueViolation(error, 'partners_referral_code_uq') &&
        attempt < 3;
      if (!generatedCollision) conflict(error, { email, referralCode });
    }
  }
}

export async function getPartnerOrThrow(
  ctx: Pick<DomainContext, 'db' | 'tenantId'>,
  id: string,
): Promise<Partner> {
  const row = await partnerById(ctx, id);
  if (!row) throw notFound('partner', id);
  return row;
}

/** The most frequent read of the API (`GET /partners/{id}`, and before every change). */
const partnerById = rowById('prt', (scope, id) =>
  selectScoped(scope, 'partners').select(PARTNER_COLUMNS).where('id', '=', id),
);

export interface PartnerFilters extends PageRequest {
  status?: PartnerStatus | undefined;
  groupKey?: string | undefined;
  q?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

export function listPartners(ctx: DomainContext, filters: PartnerFilters) {
  let query = selectScoped(ctx, 'partners').select(PARTNER_COLUMNS);
  if (filters.status) query = query.where('status', '=', filters.status);
  if (filters.groupKey) query = query.where('groupKey', '=', filters.groupKey);
  if (filters.q) {
    query = query.where(anyContains([sql`lower(email)`, sql`lower(coalesce(name, ''))`], filters.q));
  }
  query = withinDates(query, 'created_at', { from: filters.createdFrom, to: filters.createdTo }, [
    'createdFrom',
    'createdTo',
  ]);
  return paginate(query, filters, { idColumn: 'id', idPrefix: 'prt' });
}

export type PartnerChanges = Partial<Omit<PartnerInput, 'email'>> & { email?: string | undefined };

/**
 * Applies the given fields and records the change in the audit log. With `ifMatch` (from
 * If-Match) the write only happens if nobody changed the partner since; otherwise 412. A new status
 * sets its timestamp (invitedAt, activatedAt, revokedAt) as the lifecycle actions do.
 */
export async function updatePartner(
  ctx: DomainContext,
  id: string,
  changes: PartnerChanges,
  ifMatch?: readonly number[],
): Promise<{ before: Partner; after: Partner }> {
  const email = changes.email?.trim().toLowerCase();
  try {
    // The partner is read locked, so that concurrent changes apply one after the other: each sees
    // (and audits) the values it replaces, and a status change happens once.
    return await transactionWithOutbox(ctx.db, async (trx) => {
      const tx = { ...ctx, db: trx };
      const before = await lockPartnerOrThrow(tx, id);
      assertVersionMatches(ifMatch, before.version);
      // Only what differs is written: a PATCH that changes nothing writes, audits and sends nothing.
      const { status, metadata, ...fields } = changedFields(before, { ...changes, email });
      const set = { ...fields, ...(metadata !== undefined ? { metadata: JSON.stringify(metadata) } : {}) };
      if (status === 'invited') {
        throw new ApiError(
          'invalid_state',
          'Invite a partner with POST /partners/{id}/invite, which returns the invite link',
        );
      }
      let after = before;
      if (Object.keys(set).length > 0) {
        after = (await updateScoped(tx, 'partners')
          .set({ ...set, version: sql`version + 1`, updatedAt: ctx.now })
          .where('id', '=', id)
          .returning(PARTNER_COLUMNS)
          .executeTakeFirst()) as Partner;
        await recordAudit(trx, ctx, {
          action: 'partner.updated',
          resourceType: 'partner',
          resourceId: id,
          before: { ...before },
          after: { ...after },
        });
        // With a status change as well, the transition's message alone carries the partner as
        // this PATCH leaves it: one change, one message, never an intermediate state.
        if (status === undefined) await queueWebhookEvent(tx, 'partner.updated', after);
      }
      // A status change is the same transition as POST /activate or /revoke, audited and sent as one.
      if (status !== undefined) {
        const action = status === 'active' ? 'partner.activated' : 'partner.revoked';
        after = await transition(tx, after, status, action);
      }
      return { before, after };
    });
  } catch (error) {
    if (error instanceof ApiError) throw error;
    return conflict(error, { email, referralCode: changes.referralCode });
  }
}

/** The partner, locked until the caller's transaction ends. */
export async function lockPartnerOrThrow(
  ctx: Pick<DomainContext, 'db' | 'tenantId'>,
  id: string,
): Promise<Partner> {
  const row = await partnerForUpdate(ctx, id);
  if (!row) throw notFound('partner', id);
  return row;
}

const partnerForUpdate = rowById('prt', (scope, id) =>
  selectScoped(scope, 'partners').select(PARTNER_COLUMNS).where('id', '=', id).forUpdate(),
);

/**
 * Moves a partner to `status` and writes the audit entry, both in `ctx.db`'s transaction, in which
 * the caller has locked the partner (lockPartnerOrThrow).
 */
export async function transition(
  ctx: DomainContext,
  before: Partner,
  status: PartnerStatus,
  action: 'partner.invited' | 'partner.activated' | 'partner.revoked',
  extra: { invitedAt?: Date; inviteTokenHash?: string; inviteExpiresAt?: Date } = {},
): Promise<Partner> {
  const after = await updateScoped(ctx, 'partners')
    .set({
      status,
      ...statusChangeFields(before.status, status, ctx.now),
      ...extra,
      version: sql`version + 1`,
      updatedAt: ctx.now,
    })
    .where('id', '=', before.id)
    .returning(PARTNER_COLUMNS)
    .executeTakeFirstOrThrow();
  await recordAudit(ctx.db, ctx, {
    action,
    resourceType: 'partner',
    resourceId: before.id,
    before: { ...before },
    after: { ...after },
  });
  // Activation has no event type of its own: to a subscriber it is a change of the partner.
  await queueWebhookEvent(ctx, action === 'partner.activated' ? 'partner.updated' : action, after);
  return after;
}
