import { withinAllowList } from '../auth/ip-allowlist.ts';
import type { KeyQuota, KeyRateLimit } from '../db/index.ts';
import { selectScoped } from '../db/tenant-scope.ts';
import { ApiError, type FieldError } from '../errors.ts';
import type { KeyContext, KeySettings } from './service.ts';

/** What limits a key beyond its scopes: where it may be used from, until when, and how often. */
export interface KeyRestrictions {
  allowedIps: readonly string[] | null;
  expiresAt: Date | null;
  rateLimit: KeyRateLimit | null;
  quota: KeyQuota | null;
}

const RESTRICTIONS = ['allowedIps', 'expiresAt', 'rateLimit', 'quota'] as const;

/**
 * The restrictions of the key that acts, when a key acts (not the platform admin key or the CLI):
 * a key may give a key only what it has itself, as with scopes. Otherwise a key allowed from one
 * address, or until next week, or 5 times a minute, could mint a key without those limits, or lift
 * them from itself.
 */
export async function callerRestrictions(
  ctx: Pick<KeyContext, 'db' | 'tenantId' | 'actor'>,
): Promise<KeyRestrictions | undefined> {
  if (ctx.actor.type !== 'api_key') return undefined;
  return selectScoped(ctx, 'apiKeys')
    .select(['allowedIps', 'expiresAt', 'rateLimit', 'quota'])
    .where('id', '=', ctx.actor.keyId)
    .executeTakeFirst();
}

/** A new key's settings with each restriction the request leaves out taken from the caller's. */
export function inheritRestrictions(caller: KeyRestrictions | undefined, input: KeySettings): KeySettings {
  if (!caller) return input;
  return {
    ...input,
    allowedIps:
      input.allowedIps === undefined ? caller.allowedIps && [...caller.allowedIps] : input.allowedIps,
    expiresAt: input.expiresAt === undefined ? (caller.expiresAt?.toISOString() ?? null) : input.expiresAt,
    rateLimit: input.rateLimit === undefined ? caller.rateLimit : input.rateLimit,
    quota: input.quota === undefined ? caller.quota : input.quota,
  };
}

/**
 * Refuses (403 `key_restrictions_exceeded`) a key's restrictions that are wider than the caller's:
 * each one the caller has must be there, at least as narrow. Only the fields present in `key` are
 * compared, so a change is held to the fields it changes.
 */
export function assertWithinRestrictions(
  caller: KeyRestrictions | undefined,
  key: Partial<KeyRestrictions>,
): void {
  if (!caller) return;
  const errors: FieldError[] = [];
  for (const field of RESTRICTIONS) {
    if (!(field in key) || caller[field] === null) continue;
    const message = wider(field, caller, key);
    if (message) errors.push({ field, code: 'exceeds_caller', message });
  }
  if (errors.length > 0) {
    throw new ApiError(
      'key_restrictions_exceeded',
      `A key can only give a key restrictions at least as narrow as its own: ${errors.map((e) => e.message).join('; ')}`,
      { errors },
    );
  }
}

/** Why `key`'s value of `field` is wider than the caller's (which is set), or undefined. */
function wider(
  field: (typeof RESTRICTIONS)[number],
  caller: KeyRestrictions,
  key: Partial<KeyRestrictions>,
): string | undefined {
  switch (field) {
    case 'allowedIps': {
      const list = caller.allowedIps ?? [];
      if (!key.allowedIps) return `allowedIps must stay within ${list.join(', ')}`;
      const outside = key.allowedIps.find((entry) => !withinAllowList(entry, list));
      return outside && `${outside} is outside the allowed IPs ${list.join(', ')}`;
    }
    case 'expiresAt': {
      const limit = caller.expiresAt as Date;
      const at = key.expiresAt;
      return at && at <= limit ? undefined : `expiresAt must be no later than ${limit.toISOString()}`;
    }
    case 'rateLimit': {
      const own = caller.rateLimit as KeyRateLimit;
      const rate = key.rateLimit;
      const fits =
        rate && rate.limit <= own.limit && rate.limit * own.windowSeconds <= own.limit * rate.windowSeconds;
      return fits ? undefined : `rateLimit must be at most ${own.limit} requests per ${own.windowSeconds} s`;
    }
    case 'quota': {
      const own = caller.quota as KeyQuota;
      const quota = key.quota;
      const fits = quota && quota.limit <= own.limit && quota.period === own.period;
      return fits ? undefined : `quota must be at most ${own.limit} requests per ${own.period}`;
    }
  }
}
