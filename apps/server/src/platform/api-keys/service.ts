import { type Selectable, sql } from 'kysely';
import { diffFields, recordAudit } from '../audit.ts';
import { canonicalAllowList } from '../auth/ip-allowlist.ts';
import { generateKey, hashKey, keyStart, parseKey, safeEqual } from '../auth/key-format.ts';
import { missingScopes, type Scope } from '../auth/scopes.ts';
import { type AuditActor, actorId, type RequestOrigin } from '../context.ts';
import type { ApiKeysTable, Db, KeyQuota, KeyRateLimit } from '../db/index.ts';
import { anyContains } from '../db/like.ts';
import { selectScoped, updateScoped } from '../db/tenant-scope.ts';
import { ApiError, type FieldError, notFound, validationError } from '../errors.ts';
import { assertVersionMatches, staleEtag } from '../http/etag.ts';
import { isId, newId } from '../ids.ts';
import { type PageRequest, paginate } from '../pagination.ts';
import { registerWebhookEventSchemas, type WebhookEventType } from '../webhooks/event-types.ts';
import { queueWebhookEvent, transactionWithOutbox } from '../webhooks/outbox.ts';
import {
  assertWithinRestrictions,
  callerRestrictions,
  inheritRestrictions,
  type KeyRestrictions,
} from './restrictions.ts';
import { ApiKeySchema } from './schemas.ts';

// Registered here, not at app start: the CLI and the first-start bootstrap create keys too.
registerWebhookEventSchemas({
  'api_key.created': ApiKeySchema,
  'api_key.revoked': ApiKeySchema,
  'api_key.expiring': ApiKeySchema,
});

export type KeyStatus = 'active' | 'inactive' | 'expired' | 'revoked';

type Row = Omit<Selectable<ApiKeysTable>, 'tenantId' | 'keyHash' | 'expiryWarnedAt' | 'quotaSince'>;
export type ApiKeyView = Omit<Row, 'version'> & { status: KeyStatus; version: number };

const COLUMNS = [
  'id',
  'name',
  'description',
  'scopes',
  'environment',
  'start',
  'allowedIps',
  'rateLimit',
  'quota',
  'metadata',
  'createdBy',
  'createdAt',
  'updatedAt',
  'lastUsedAt',
  'lastUsedIp',
  'requestCount',
  'expiresAt',
  'deactivatedAt',
  'revokedAt',
  'replacedBy',
  'version',
] as const;

export function keyStatus(row: Pick<Row, 'revokedAt' | 'deactivatedAt' | 'expiresAt'>, now: Date): KeyStatus {
  if (row.revokedAt) return 'revoked';
  if (row.deactivatedAt) return 'inactive';
  if (row.expiresAt && row.expiresAt <= now) return 'expired';
  return 'active';
}

function toView(row: Row, now: Date): ApiKeyView {
  return { ...row, status: keyStatus(row, now) };
}

/** Who acts on keys, and with which scopes: a key may only grant what it holds itself. */
export interface KeyContext {
  db: Db;
  tenantId: string;
  actor: AuditActor;
  /** The caller's scopes; `all` for the platform admin and the CLI. */
  scopes: ReadonlySet<Scope> | 'all';
  keyPrefix: string;
  now: Date;
  origin?: RequestOrigin | undefined;
}

export interface KeySettings {
  name: string;
  scopes: string[];
  environment?: 'live' | 'test' | undefined;
  description?: string | null | undefined;
  expiresAt?: string | null | undefined;
  allowedIps?: string[] | null | undefined;
  rateLimit?: KeyRateLimit | null | undefined;
  quota?: KeyQuota | null | undefined;
  metadata?: Record<string, string> | undefined;
}

function assertGrantable(ctx: KeyContext, scopes: readonly string[]): void {
  if (ctx.scopes === 'all') return;
  const missing = missingScopes(ctx.scopes, scopes);
  if (missing.length > 0) {
    throw new ApiError(
      'insufficient_scope',
      `A key cannot grant scopes it does not hold: ${missing.join(', ')}`,
      {
        extra: { missingScopes: missing },
      },
    );
  }
}

/**
 * Checks the settings that a schema cannot (future expiry, well-formed IPs) and returns them with
 * `allowedIps` in the form it is stored in.
 */
function checkSettings<T extends Partial<KeySettings>>(ctx: KeyContext, input: T): T {
  const errors: FieldError[] = [];
  if (input.expiresAt && new Date(input.expiresAt) <= ctx.now) {
    errors.push({ field: 'expiresAt', code: 'out_of_range', message: 'expiresAt must be in the future' });
  }
  const allowedIps = input.allowedIps && canonicalAllowList(input.allowedIps);
  if (allowedIps) errors.push(...allowedIps.errors);
  if (errors.length > 0) throw validationError(errors);
  return allowedIps ? { ...input, allowedIps: allowedIps.entries } : input;
}

/** The restrictions among a key's settings or changes, as `assertWithinRestrictions` compares them. */
function restrictionsOf(input: Partial<KeySettings>): Partial<KeyRestrictions> {
  return {
    ...(input.allowedIps !== undefined ? { allowedIps: input.allowedIps } : {}),
    ...(input.expiresAt !== undefined
      ? { expiresAt: input.expiresAt ? new Date(input.expiresAt) : null }
      : {}),
    ...(input.rateLimit !== undefined ? { rateLimit: input.rateLimit } : {}),
    ...(input.quota !== undefined ? { quota: input.quota } : {}),
  };
}

const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));

/** Creates a key and returns its plaintext once. */
export async function createApiKey(
  ctx: KeyContext,
  input: KeySettings,
): Promise<ApiKeyView & { key: string }> {
  assertGrantable(ctx, input.scopes);
  const checked = checkSettings(ctx, input);
  const caller = await callerRestrictions(ctx);
  const settings = inheritRestrictions(caller, checked);
  assertWithinRestrictions(caller, restrictionsOf(settings));
  return transactionWithOutbox(ctx.db, async (trx) => {
    const created = await insertKey(trx, ctx, settings);
    await recordAudit(trx, ctx, {
      action: 'api_key.created',
      resourceType: 'api_key',
      resourceId: created.id,
      after: created,
    });
    await queueWebhookEvent({ ...ctx, db: trx }, 'api_key.created', created);
    return created;
  });
}

async function insertKey(db: Db, ctx: KeyContext, input: KeySettings): Promise<ApiKeyView & { key: string }> {
  const id = newId('key');
  const environment = input.environment ?? 'live';
  const suffix = id.slice('key_'.length);
  const key = generateKey(ctx.keyPrefix, environment, suffix);
  const row = await db
    .insertInto('apiKeys')
    .values({
      id,
      tenantId: ctx.tenantId,
      name: input.name,
      description: input.description ?? null,
      scopes: [...new Set(input.scopes)],
      environment,
      start: keyStart(ctx.keyPrefix, environment, suffix),
      keyHash: hashKey(key),
      createdBy: actorId(ctx.actor),
      expiresAt: input.expiresAt ? new Date(input.expiresAt) : null,
      allowedIps: input.allowedIps ?? null,
      rateLimit: json(input.rateLimit),
      quota: json(input.quota),
      quotaSince: input.quota ? ctx.now : null,
      metadata: JSON.stringify(input.metadata ?? {}),
      createdAt: ctx.now,
      updatedAt: ctx.now,
    })
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
  return { ...toView(row, ctx.now), key };
}

/** Inserts a key for the CLI and the first-start bootstrap, which act with every scope. */
export function insertApiKey(
  db: Db,
  input: KeySettings & {
    tenantId: string;
    keyPrefix: string;
    createdBy: 'cli' | 'bootstrap' | 'system';
    now: Date;
  },
): Promise<ApiKeyView & { key: string }> {
  const actor: AuditActor = { type: input.createdBy === 'cli' ? 'cli' : 'system' };
  return createApiKey(
    { db, tenantId: input.tenantId, actor, scopes: 'all', keyPrefix: input.keyPrefix, now: input.now },
    input,
  );
}

export interface KeyFilters extends PageRequest {
  status?: KeyStatus | undefined;
  environment?: 'live' | 'test' | undefined;
  q?: string | undefined;
}

export async function listApiKeys(db: Db, tenantId: string, filters: KeyFilters, now: Date) {
  let query = selectScoped({ db, tenantId }, 'apiKeys').select(COLUMNS);
  if (filters.environment) query = query.where('environment', '=', filters.environment);
  if (filters.q) {
    query = query.where(
      anyContains([sql`lower(name)`, sql`lower(coalesce(description, ''))`, sql`lower(start)`], filters.q),
    );
  }
  if (filters.status === 'revoked') query = query.where('revokedAt', 'is not', null);
  else if (filters.status) {
    query = query.where('revokedAt', 'is', null);
    if (filters.status === 'inactive') query = query.where('deactivatedAt', 'is not', null);
    else {
      query = query.where('deactivatedAt', 'is', null);
      query =
        filters.status === 'expired'
          ? query.where('expiresAt', '<=', now)
          : query.where((eb) => eb.or([eb('expiresAt', 'is', null), eb('expiresAt', '>', now)]));
    }
  }
  const page = await paginate(query, filters, { idColumn: 'id', idPrefix: 'key' });
  return { ...page, data: page.data.map((row) => toView(row, now)) };
}

/**
 * Every tenant's keys, newest first, each with the id of its tenant: for the CLI, whose operator
 * administers all tenants. Paginated like `listApiKeys`.
 */
export async function listAllApiKeys(db: Db, page: PageRequest, now: Date) {
  // Not tenant-scoped on purpose: the list spans the tenants.
  const query = db.selectFrom('apiKeys').select([...COLUMNS, 'tenantId']);
  const result = await paginate(query, page, { idColumn: 'id', idPrefix: 'key' });
  return {
    ...result,
    data: result.data.map(({ tenantId, ...row }) => ({ tenantId, ...toView(row, now) })),
  };
}

/**
 * The id of the tenant that owns key `id`. Key ids are unique across tenants, so the CLI can act
 * on a key named by its id alone; an unknown id is the usual 404.
 */
export async function getApiKeyTenantIdOrThrow(db: Db, id: string): Promise<string> {
  // Not tenant-scoped on purpose: this is how the tenant is found.
  const row = isId('key', id)
    ? await db.selectFrom('apiKeys').select('tenantId').where('id', '=', id).executeTakeFirst()
    : undefined;
  if (!row) throw notFound('API key', id);
  return row.tenantId;
}

/** `lock` (inside a transaction) holds the row until commit, so concurrent changes apply in turn. */
export async function getApiKeyOrThrow(
  db: Db,
  tenantId: string,
  id: string,
  now: Date,
  lock = false,
): Promise<ApiKeyView> {
  let query = selectScoped({ db, tenantId }, 'apiKeys').select(COLUMNS).where('id', '=', id);
  if (lock) query = query.forUpdate();
  const row = isId('key', id) ? await query.executeTakeFirst() : undefined;
  if (!row) throw notFound('API key', id);
  return toView(row, now);
}

/**
 * Applies one change to a key inside a transaction, with its audit entry. `change` gets the key
 * as it is and returns the columns to set, or undefined for nothing to do.
 */
async function changeKey(
  ctx: KeyContext,
  id: string,
  action: string,
  change: (before: ApiKeyView) => Record<string, unknown> | undefined,
  ifMatch?: readonly number[],
  webhookEvent?: WebhookEventType,
): Promise<{ before: ApiKeyView; after: ApiKeyView }> {
  try {
    return await transactionWithOutbox(ctx.db, async (trx) => {
      const before = await getApiKeyOrThrow(trx, ctx.tenantId, id, ctx.now, true);
      assertVersionMatches(ifMatch, before.version);
      assertManageable(ctx, before);
      const set = change(before);
      if (!set) return { before, after: before };
      const row = await updateScoped({ db: trx, tenantId: ctx.tenantId }, 'apiKeys')
        .set({ ...set, version: sql`version + 1`, updatedAt: ctx.now })
        .where('id', '=', id)
        .where('version', '=', before.version)
        .returning(COLUMNS)
        .executeTakeFirst();
      if (!row) throw staleEtag();
      const after = toView(row, ctx.now);
      // Every field sent with the value it had: roll the write back, so nothing is versioned,
      // audited or sent.
      if (Object.keys(diffFields(before, after)).length === 0) throw new Unchanged(before);
      await recordAudit(trx, ctx, { action, resourceType: 'api_key', resourceId: id, before, after });
      if (webhookEvent) await queueWebhookEvent({ ...ctx, db: trx }, webhookEvent, after);
      return { before, after };
    });
  } catch (error) {
    if (error instanceof Unchanged) return { before: error.key, after: error.key };
    throw error;
  }
}

/** Thrown to roll back a change that changed nothing; carries the key as it stays. */
class Unchanged extends Error {
  constructor(readonly key: ApiKeyView) {
    super('unchanged');
  }
}

/**
 * A key may only change, deactivate or revoke keys that hold no scope it lacks, as it may only
 * mint or rotate such keys: otherwise a key that manages keys could revoke or throttle the
 * tenant's admin key.
 */
function assertManageable(ctx: KeyContext, key: ApiKeyView): void {
  if (ctx.scopes === 'all') return;
  const missing = missingScopes(ctx.scopes, key.scopes);
  if (missing.length > 0) {
    throw new ApiError(
      'insufficient_scope',
      `A key cannot manage a key holding scopes it does not hold itself: ${missing.join(', ')}`,
      { extra: { missingScopes: missing } },
    );
  }
}

function assertNotRevoked(key: ApiKeyView): void {
  if (key.status === 'revoked')
    throw new ApiError('invalid_state', 'This key is revoked for good; create a new one');
}

export type KeyChanges = Partial<Omit<KeySettings, 'environment'>>;

/** Changes name, description, scopes (within the caller's own), expiry, allowed IPs, rate limit or quota. */
export async function updateApiKey(
  ctx: KeyContext,
  id: string,
  requested: KeyChanges,
  ifMatch?: readonly number[],
) {
  if (requested.scopes) assertGrantable(ctx, requested.scopes);
  const changes = checkSettings(ctx, requested);
  assertWithinRestrictions(await callerRestrictions(ctx), restrictionsOf(changes));
  return changeKey(
    ctx,
    id,
    'api_key.updated',
    (before) => {
      assertNotRevoked(before);
      if (changes.expiresAt !== undefined) assertGraceNotExtended(before, changes.expiresAt);
      const set = {
        ...(changes.name !== undefined ? { name: changes.name } : {}),
        ...(changes.description !== undefined ? { description: changes.description } : {}),
        ...(changes.scopes !== undefined ? { scopes: [...new Set(changes.scopes)] } : {}),
        ...(changes.expiresAt !== undefined
          ? { expiresAt: changes.expiresAt ? new Date(changes.expiresAt) : null, expiryWarnedAt: null }
          : {}),
        ...(changes.allowedIps !== undefined ? { allowedIps: changes.allowedIps } : {}),
        ...(changes.rateLimit !== undefined ? { rateLimit: json(changes.rateLimit) } : {}),
        ...(changes.quota !== undefined
          ? { quota: json(changes.quota), ...quotaSince(before, changes.quota, ctx.now) }
          : {}),
        ...(changes.metadata !== undefined ? { metadata: JSON.stringify(changes.metadata) } : {}),
      };
      return Object.keys(set).length > 0 ? set : undefined;
    },
    ifMatch,
  );
}

/**
 * A quota counts from the moment it is given or its period changes; a new limit alone keeps the
 * count. Not a field of the key's own: it is never shown, and changes nothing a client sees.
 */
function quotaSince(before: ApiKeyView, quota: KeyQuota | null, now: Date): { quotaSince?: Date | null } {
  if (quota === null) return { quotaSince: null };
  return before.quota?.period === quota.period ? {} : { quotaSince: now };
}

/**
 * A rotated key works until its grace period ends: its expiry may be brought forward, never
 * lifted or pushed back, or both keys would stay valid for as long as anyone liked.
 */
function assertGraceNotExtended(before: ApiKeyView, expiresAt: string | null): void {
  if (before.replacedBy === null || before.expiresAt === null) return;
  if (expiresAt !== null && new Date(expiresAt) <= new Date(before.expiresAt)) return;
  throw new ApiError(
    'invalid_state',
    `This key was rotated into ${before.replacedBy} and expires at ${new Date(before.expiresAt).toISOString()}; its expiry can only be brought forward (or revoke it)`,
  );
}

/** Deactivates (reversibly: 401 `api_key_inactive` meanwhile) or reactivates a key. Idempotent. */
export function setApiKeyActive(ctx: KeyContext, id: string, active: boolean) {
  return changeKey(ctx, id, active ? 'api_key.activated' : 'api_key.deactivated', (before) => {
    assertNotRevoked(before);
    if (active === (before.deactivatedAt === null)) return undefined;
    return { deactivatedAt: active ? null : ctx.now };
  });
}

/** Revokes a key for good; the record stays so lists and logs can still name it. Idempotent. */
export async function revokeApiKey(ctx: KeyContext, id: string): Promise<ApiKeyView> {
  const { after } = await changeKey(
    ctx,
    id,
    'api_key.revoked',
    (before) => (before.revokedAt ? undefined : { revokedAt: ctx.now }),
    undefined,
    'api_key.revoked',
  );
  return after;
}

/**
 * Issues a new key with the same settings and lets the old one work for `gracePeriodSeconds` more
 * (never longer than it would have anyway); after that it gets 401 `api_key_expired`.
 */
export async function rotateApiKey(
  ctx: KeyContext,
  id: string,
  gracePeriodSeconds: number,
): Promise<{ old: ApiKeyView; created: ApiKeyView & { key: string } }> {
  return transactionWithOutbox(ctx.db, async (trx) => {
    // Locked: a concurrent rotation waits, then sees replacedBy and gets 409.
    const old = await getApiKeyOrThrow(trx, ctx.tenantId, id, ctx.now, true);
    if (old.status !== 'active') {
      throw new ApiError('invalid_state', `Only an active key can be rotated; this one is ${old.status}`);
    }
    if (old.replacedBy)
      throw new ApiError('invalid_state', `This key was already rotated into ${old.replacedBy}`);
    assertGrantable(ctx, old.scopes);
    // The caller gets the new key's secret: it may not be a way around its own restrictions.
    assertWithinRestrictions(await callerRestrictions({ ...ctx, db: trx }), {
      allowedIps: old.allowedIps,
      expiresAt: old.expiresAt,
      rateLimit: old.rateLimit,
      quota: old.quota,
    });
    const tx = { ...ctx, db: trx };
    const created = await insertKey(trx, tx, {
      name: old.name,
      scopes: old.scopes,
      environment: old.environment,
      description: old.description,
      expiresAt: old.expiresAt?.toISOString() ?? null,
      allowedIps: old.allowedIps,
      rateLimit: old.rateLimit,
      quota: old.quota,
      metadata: old.metadata,
    });
    const graceEnd = new Date(ctx.now.getTime() + gracePeriodSeconds * 1000);
    const expiresAt = old.expiresAt && old.expiresAt < graceEnd ? old.expiresAt : graceEnd;
    const row = await updateScoped({ db: trx, tenantId: ctx.tenantId }, 'apiKeys')
      .set({ expiresAt, replacedBy: created.id, version: sql`version + 1`, updatedAt: ctx.now })
      .where('id', '=', id)
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
    const after = toView(row, ctx.now);
    await recordAudit(trx, ctx, {
      action: 'api_key.rotated',
      resourceType: 'api_key',
      resourceId: id,
      before: old,
      after,
    });
    await recordAudit(trx, ctx, {
      action: 'api_key.created',
      resourceType: 'api_key',
      resourceId: created.id,
      after: created,
    });
    await queueWebhookEvent(tx, 'api_key.created', created);
    return { old: after, created };
  });
}

/**
 * Revokes every listed key that is real and still usable, each with an audit entry in its tenant.
 * Keys are matched by id and full hash, so a guessed id revokes nothing. Returns the revoked ids.
 */
export async function revokeLeakedKeys(
  db: Db,
  keyPrefix: string,
  presented: readonly string[],
  now: Date,
  origin: RequestOrigin,
): Promise<{ keyId: string; tenantId: string }[]> {
  const candidates = new Map<string, string>();
  for (const key of presented) {
    const parsed = parseKey(key, keyPrefix);
    if (parsed) candidates.set(`key_${parsed.idSuffix}`, hashKey(key));
  }
  if (candidates.size === 0) return [];
  // Not tenant-scoped on purpose: a leaked key names its own tenant, and the reporter has none.
  const rows = await db
    .selectFrom('apiKeys')
    .select(['id', 'tenantId', 'keyHash'])
    .where('id', 'in', [...candidates.keys()])
    .where('revokedAt', 'is', null)
    .execute();
  const revoked: { keyId: string; tenantId: string }[] = [];
  for (const row of rows) {
    if (!safeEqual(row.keyHash, candidates.get(row.id) ?? '')) continue;
    const ctx: KeyContext = {
      db,
      tenantId: row.tenantId,
      actor: { type: 'system' },
      scopes: 'all',
      keyPrefix,
      now,
      origin,
    };
    await changeKey(
      ctx,
      row.id,
      'api_key.revoked_leaked',
      (before) => (before.revokedAt ? undefined : { revokedAt: now }),
      undefined,
      'api_key.revoked',
    );
    revoked.push({ keyId: row.id, tenantId: row.tenantId });
  }
  return revoked;
}

const EXPIRY_WARNING_MS = 7 * 86_400_000;

/**
 * Sends api_key.expiring for every usable key, of any tenant, that expires within 7 days and was
 * not warned about for this expiry date yet (a new expiresAt clears the mark). Keys replaced by a
 * rotation are left out: their expiry is the rotation's grace period. One statement marks them, so
 * several processes running this never warn twice.
 */
export async function warnExpiringKeys(db: Db, now: Date): Promise<number> {
  return transactionWithOutbox(db, async (trx) => {
    const rows = await trx
      .updateTable('apiKeys')
      .set({ expiryWarnedAt: now })
      .where('expiryWarnedAt', 'is', null)
      .where('revokedAt', 'is', null)
      .where('replacedBy', 'is', null)
      .where('expiresAt', '>', now)
      .where('expiresAt', '<=', new Date(now.getTime() + EXPIRY_WARNING_MS))
      .returning([...COLUMNS, 'tenantId'])
      .execute();
    for (const { tenantId, ...row } of rows) {
      await queueWebhookEvent({ db: trx, tenantId, now }, 'api_key.expiring', toView(row, now));
    }
    return rows.length;
  });
}
