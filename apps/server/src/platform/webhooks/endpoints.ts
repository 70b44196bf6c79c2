import { type Selectable, sql } from 'kysely';
import { recordAudit } from '../audit.ts';
import type { WebhookSettings } from '../config.ts';
import type { AuditActor, DomainContext } from '../context.ts';
import type { Db, WebhookDisabledReason, WebhookEndpointsTable } from '../db/index.ts';
import { deleteScoped, selectScoped, updateScoped } from '../db/tenant-scope.ts';
import { ApiError, notFound, validationError } from '../errors.ts';
import { assertVersionMatches, staleEtag } from '../http/etag.ts';
import { isId, newId } from '../ids.ts';
import { type PageRequest, paginate } from '../pagination.ts';
import { isLocalName, literalAddress, refusedAddressReason } from './address-policy.ts';
import { generateWebhookSecret } from './signing.ts';
import { urlCredentials } from './transport.ts';

/** How long the previous secret keeps signing beside the new one after a rotation. */
export const SECRET_OVERLAP_MS = 24 * 3_600_000;

export type EndpointRow = Omit<Selectable<WebhookEndpointsTable>, 'tenantId'>;

export const ENDPOINT_COLUMNS = [
  'id',
  'url',
  'description',
  'eventTypes',
  'enabled',
  'disabledReason',
  'disabledAt',
  'metadata',
  'secret',
  'previousSecret',
  'previousSecretExpiresAt',
  'failingSince',
  'version',
  'createdAt',
  'updatedAt',
] as const;

/** An endpoint as the API and the audit log show it: never a secret, nor a password in its URL. */
export function endpointView(row: EndpointRow) {
  const { secret: _s, previousSecret: _p, ...rest } = row;
  return { ...rest, url: shownUrl(rest.url) };
}

/** What a password in an endpoint URL is shown as: it is a secret like the signing secret. */
const MASKED_PASSWORD = '****';

function shownUrl(url: string): string {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  if (parsed.password === '') return url;
  parsed.password = MASKED_PASSWORD;
  return parsed.href;
}

/**
 * The URL to store for one a PATCH sent. A `****` password stands for the stored one, which is kept
 * only when everything else in the URL is exactly as stored: on any other URL (another scheme, user,
 * host, port, path or query) it would send the hidden password where its owner never sent it.
 * There it is a 400, as it is when no password is stored; the password must be sent again.
 */
function withStoredPassword(sent: string, stored: string): string {
  if (!URL.canParse(sent) || new URL(sent).password !== MASKED_PASSWORD) return sent;
  const refuse = (message: string) => validationError([{ field: 'url', code: 'required', message }]);
  const before = URL.canParse(stored) ? new URL(stored) : undefined;
  if (!before || before.password === '') {
    throw refuse(
      "url's password **** stands for a stored password, and the endpoint has none; send the password",
    );
  }
  const next = new URL(sent);
  next.password = before.password;
  if (next.href !== before.href) {
    throw refuse(
      "url's password must be sent again when the url changes: **** keeps the stored password only for the unchanged url",
    );
  }
  return stored;
}

type Ctx = Pick<DomainContext, 'db' | 'tenantId' | 'actor' | 'now' | 'origin'>;

/**
 * Checks an endpoint URL when it is set: http(s) only, https unless plain http is allowed, and no
 * host that is a private, loopback or otherwise non-public address by its literal form or name.
 * Names are resolved and vetted again at every delivery, which is what actually protects.
 */
export function assertEndpointUrl(raw: string, settings: WebhookSettings): void {
  const invalid = (code: string, message: string) => validationError([{ field: 'url', code, message }]);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('invalid_format', 'url must be an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid('invalid_format', 'url must be an http:// or https:// URL');
  }
  if (url.protocol === 'http:' && !settings.allowHttp) {
    throw invalid('https_required', 'url must use https:// (this server refuses plain http endpoints)');
  }
  if (url.hash !== '') throw invalid('invalid_format', 'url must not contain a #fragment');
  // The URL parser takes port 0, which no connection can reach.
  if (url.port === '0') throw invalid('invalid_format', 'url must not name port 0');
  if (urlCredentials(url) === null) {
    throw invalid('invalid_format', "url's user name and password must be valid percent-encoded UTF-8");
  }
  if (settings.allowPrivateTargets) return;
  const literal = literalAddress(url.hostname);
  const reason = literal ? refusedAddressReason(literal) : isLocalName(url.hostname) ? 'loopback' : undefined;
  if (reason) {
    throw invalid(
      'forbidden_target',
      `url must reach a public address; ${url.hostname} is a ${reason} address`,
    );
  }
}

export interface EndpointInput {
  url: string;
  description?: string | null | undefined;
  eventTypes: string[];
  enabled?: boolean | undefined;
  metadata?: Record<string, string> | undefined;
}

function normalizeEventTypes(types: string[]): string[] {
  const unique = [...new Set(types)];
  if (unique.includes('*') && unique.length > 1) {
    throw validationError([
      { field: 'eventTypes', code: 'conflict', message: 'eventTypes is either ["*"] or a list of types' },
    ]);
  }
  return unique;
}

export async function createEndpoint(ctx: Ctx, input: EndpointInput, settings: WebhookSettings) {
  assertEndpointUrl(input.url, settings);
  const enabled = input.enabled ?? true;
  return ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('webhookEndpoints')
      .values({
        id: newId('whe'),
        tenantId: ctx.tenantId,
        url: input.url,
        description: input.description ?? null,
        eventTypes: normalizeEventTypes(input.eventTypes),
        enabled,
        disabledReason: enabled ? null : 'manual',
        disabledAt: enabled ? null : ctx.now,
        metadata: JSON.stringify(input.metadata ?? {}),
        secret: generateWebhookSecret(),
        previousSecret: null,
        previousSecretExpiresAt: null,
        failingSince: null,
        createdAt: ctx.now,
        updatedAt: ctx.now,
      })
      .returning(ENDPOINT_COLUMNS)
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'webhook_endpoint.created',
      resourceType: 'webhook_endpoint',
      resourceId: row.id,
      after: endpointView(row),
    });
    return row;
  });
}

export async function getEndpointOrThrow(
  ctx: Pick<DomainContext, 'db' | 'tenantId'>,
  id: string,
  options: { lock?: boolean } = {},
): Promise<EndpointRow> {
  const row = isId('whe', id)
    ? await selectScoped(ctx, 'webhookEndpoints')
        .select(ENDPOINT_COLUMNS)
        .where('id', '=', id)
        .$if(options.lock === true, (qb) => qb.forUpdate())
        .executeTakeFirst()
    : undefined;
  if (!row) throw notFound('webhook endpoint', id);
  return row;
}

export interface EndpointFilters extends PageRequest {
  enabled?: 'true' | 'false' | undefined;
}

export function listEndpoints(ctx: Pick<DomainContext, 'db' | 'tenantId'>, filters: EndpointFilters) {
  let query = selectScoped(ctx, 'webhookEndpoints').select(ENDPOINT_COLUMNS);
  if (filters.enabled) query = query.where('enabled', '=', filters.enabled === 'true');
  return paginate(query, filters, { idColumn: 'id', idPrefix: 'whe' });
}

/** Marks the endpoint's pending messages failed: a disabled endpoint is sent nothing. */
async function failPendingMessages(db: Db, tenantId: string, endpointId: string, now: Date) {
  await db
    .updateTable('webhookMessages')
    .set({ status: 'failed', nextAttemptAt: null, lockedUntil: null, leaseToken: null, updatedAt: now })
    .where('tenantId', '=', tenantId)
    .where('endpointId', '=', endpointId)
    .where('status', '=', 'pending')
    .execute();
}

/**
 * Changes the fields sent. Disabling (enabled: false) fails the endpoint's pending messages; they
 * can be sent again with POST …/recover once it is enabled. Enabling clears the failure streak.
 */
export async function updateEndpoint(
  ctx: Ctx,
  id: string,
  changes: Partial<EndpointInput>,
  settings: WebhookSettings,
  ifMatch?: readonly number[],
) {
  if (changes.url !== undefined) assertEndpointUrl(changes.url, settings);
  return ctx.db.transaction().execute(async (trx) => {
    const before = await getEndpointOrThrow({ db: trx, tenantId: ctx.tenantId }, id, { lock: true });
    assertVersionMatches(ifMatch, before.version);
    const toggled = changes.enabled !== undefined && changes.enabled !== before.enabled;
    const set = {
      ...(changes.url !== undefined ? { url: withStoredPassword(changes.url, before.url) } : {}),
      ...(changes.description !== undefined ? { description: changes.description } : {}),
      ...(changes.eventTypes !== undefined ? { eventTypes: normalizeEventTypes(changes.eventTypes) } : {}),
      ...(changes.metadata !== undefined ? { metadata: JSON.stringify(changes.metadata) } : {}),
      ...(toggled && changes.enabled
        ? { enabled: true, disabledReason: null, disabledAt: null, failingSince: null }
        : {}),
      ...(toggled && !changes.enabled
        ? { enabled: false, disabledReason: 'manual' as const, disabledAt: ctx.now }
        : {}),
    };
    if (Object.keys(set).length === 0) return before;
    const after = await updateScoped({ db: trx, tenantId: ctx.tenantId }, 'webhookEndpoints')
      .set({ ...set, version: sql`version + 1`, updatedAt: ctx.now })
      .where('id', '=', id)
      .returning(ENDPOINT_COLUMNS)
      .executeTakeFirst();
    if (!after) throw staleEtag();
    if (toggled && !changes.enabled) await failPendingMessages(trx, ctx.tenantId, id, ctx.now);
    await recordAudit(trx, ctx, {
      action: 'webhook_endpoint.updated',
      resourceType: 'webhook_endpoint',
      resourceId: id,
      before: endpointView(before),
      after: endpointView(after),
    });
    return after;
  });
}

/** Deletes an endpoint with its messages and attempts. */
export async function deleteEndpoint(ctx: Ctx, id: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const before = await getEndpointOrThrow({ db: trx, tenantId: ctx.tenantId }, id, { lock: true });
    await deleteScoped({ db: trx, tenantId: ctx.tenantId }, 'webhookEndpoints')
      .where('id', '=', id)
      .execute();
    await recordAudit(trx, ctx, {
      action: 'webhook_endpoint.deleted',
      resourceType: 'webhook_endpoint',
      resourceId: id,
      before: endpointView(before),
    });
  });
}

/**
 * Issues a new secret. The one it replaces keeps signing beside it for 24 hours, so receivers can
 * switch without losing a message; a second rotation within that time drops the oldest secret.
 */
export async function rotateEndpointSecret(ctx: Ctx, id: string) {
  return ctx.db.transaction().execute(async (trx) => {
    const before = await getEndpointOrThrow({ db: trx, tenantId: ctx.tenantId }, id, { lock: true });
    const after = await updateScoped({ db: trx, tenantId: ctx.tenantId }, 'webhookEndpoints')
      .set({
        secret: generateWebhookSecret(),
        previousSecret: before.secret,
        previousSecretExpiresAt: new Date(ctx.now.getTime() + SECRET_OVERLAP_MS),
        version: sql`version + 1`,
        updatedAt: ctx.now,
      })
      .where('id', '=', id)
      .returning(ENDPOINT_COLUMNS)
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'webhook_endpoint.secret_rotated',
      resourceType: 'webhook_endpoint',
      resourceId: id,
      before: endpointView(before),
      after: endpointView(after),
    });
    return after;
  });
}

const SYSTEM: AuditActor = { type: 'system' };

/**
 * Disables endpoints the dispatcher gave up on — a 410 Gone (`gone`) or failures for the whole
 * disable window (`failing`) — with an audit entry each, and fails their pending messages. Only
 * endpoints still enabled (and, for `failing`, still failing since before `failingBefore`) change.
 */
export async function disableEndpoints(
  db: Db,
  ids: string[],
  reason: Exclude<WebhookDisabledReason, 'manual'>,
  now: Date,
  failingBefore?: Date,
): Promise<number> {
  if (ids.length === 0) return 0;
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .updateTable('webhookEndpoints')
      .set({
        enabled: false,
        disabledReason: reason,
        disabledAt: now,
        version: sql`version + 1`,
        updatedAt: now,
      })
      .where('id', 'in', ids)
      .where('enabled', '=', true)
      .$if(failingBefore !== undefined, (qb) => qb.where('failingSince', '<=', failingBefore as Date))
      .returning([...ENDPOINT_COLUMNS, 'tenantId'])
      .execute();
    for (const { tenantId, ...after } of rows) {
      await failPendingMessages(trx, tenantId, after.id, now);
      await recordAudit(
        trx,
        { tenantId, actor: SYSTEM, now },
        {
          action: 'webhook_endpoint.disabled',
          resourceType: 'webhook_endpoint',
          resourceId: after.id,
          before: { enabled: true, disabledReason: null },
          after: { enabled: false, disabledReason: reason },
        },
      );
    }
    return rows.length;
  });
}

export function assertEndpointEnabled(endpoint: EndpointRow, action: string): void {
  if (!endpoint.enabled) {
    throw new ApiError(
      'invalid_state',
      `The endpoint is disabled (${endpoint.disabledReason}); enable it to ${action}`,
    );
  }
}
