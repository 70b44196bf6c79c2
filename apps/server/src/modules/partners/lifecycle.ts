import { createHash, randomBytes } from 'node:crypto';
import type { DomainContext } from '../../platform/context.ts';
import { selectScoped } from '../../platform/db/tenant-scope.ts';
import { ApiError } from '../../platform/errors.ts';
import { transactionWithOutbox } from '../../platform/webhooks/outbox.ts';
import { rejectUnpaidCommissions } from '../commissions/service.ts';
import { lockPartnerOrThrow, PARTNER_COLUMNS, type Partner, transition } from './service.ts';

/** How long an invite link stays valid. */
const INVITE_TTL_MS = 7 * 86_400_000;

/** Only this hash of an invite token is stored; the token itself is shown once. */
function hashInviteToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export interface Invite {
  url: string;
  expiresAt: Date;
}

/**
 * Invites an active or invited partner: a new single-use token (any earlier one stops working),
 * valid for 7 days, returned only here as `${publicUrl}/invite/<token>`.
 */
export async function invitePartner(
  ctx: DomainContext,
  id: string,
  options: { publicUrl: string },
): Promise<{ partner: Partner; invite: Invite }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(ctx.now.getTime() + INVITE_TTL_MS);
  const partner = await transactionWithOutbox(ctx.db, async (trx) => {
    const tx = { ...ctx, db: trx };
    const before = await lockPartnerOrThrow(tx, id);
    if (before.status === 'revoked') {
      throw new ApiError('invalid_state', 'A revoked partner cannot be invited; activate the partner first');
    }
    return transition(tx, before, 'invited', 'partner.invited', {
      invitedAt: ctx.now,
      inviteTokenHash: hashInviteToken(token),
      inviteExpiresAt: expiresAt,
    });
  });
  return { partner, invite: { url: `${options.publicUrl}/invite/${token}`, expiresAt } };
}

/** Redeems an invite token of this tenant: the partner becomes active and the token is spent. */
export async function acceptInvite(ctx: DomainContext, token: string): Promise<Partner> {
  return transactionWithOutbox(ctx.db, async (trx) => {
    const tx = { ...ctx, db: trx };
    const row = await selectScoped(tx, 'partners')
      .select([...PARTNER_COLUMNS, 'inviteExpiresAt'])
      .where('inviteTokenHash', '=', hashInviteToken(token))
      .forUpdate()
      .executeTakeFirst();
    if (row?.status !== 'invited' || row.inviteExpiresAt === null || row.inviteExpiresAt <= ctx.now) {
      throw new ApiError(
        'invite_invalid',
        'The invite is unknown, already used, replaced by a newer one or expired; ask for a new invite',
      );
    }
    const { inviteExpiresAt: _, ...before } = row;
    return transition(tx, before, 'active', 'partner.activated');
  });
}

/** Activates an invited or revoked partner; an active one is returned unchanged. */
export async function activatePartner(ctx: DomainContext, id: string): Promise<Partner> {
  return transactionWithOutbox(ctx.db, async (trx) => {
    const tx = { ...ctx, db: trx };
    const before = await lockPartnerOrThrow(tx, id);
    if (before.status === 'active') return before;
    return transition(tx, before, 'active', 'partner.activated');
  });
}

/**
 * Revokes a partner: no new attribution or commissions from now on, and the open invite is void.
 * With `cancelPending`, its pending commissions are rejected with `reason`; approved and paid ones
 * are never touched. A revoked partner is returned unchanged.
 */
export async function revokePartner(
  ctx: DomainContext,
  id: string,
  options: { cancelPending?: boolean | undefined; reason?: string | undefined },
): Promise<{ partner: Partner; canceledCommissions: number }> {
  return transactionWithOutbox(ctx.db, async (trx) => {
    const tx = { ...ctx, db: trx };
    const before = await lockPartnerOrThrow(tx, id);
    if (before.status === 'revoked') return { partner: before, canceledCommissions: 0 };
    const partner = await transition(tx, before, 'revoked', 'partner.revoked');
    const canceled = options.cancelPending
      ? await rejectUnpaidCommissions(
          tx,
          { partnerId: id, onlyPending: true },
          options.reason ?? 'partner revoked',
        )
      : [];
    return { partner, canceledCommissions: canceled.length };
  });
}
