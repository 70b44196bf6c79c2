import { createHash } from 'node:crypto';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { canonicalJson } from './canonical-json.ts';
import { actorId } from './context.ts';
import type { Db } from './db/index.ts';
import { ApiError, isRetryable } from './errors.ts';
import type { Job } from './jobs.ts';
import type { Clock } from './services.ts';

const RETENTION_MS = 24 * 60 * 60 * 1000;
/** How long a claimed key blocks duplicates before a crashed request's claim counts as abandoned. */
const LOCK_MS = 60_000;
const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;
const REPLAYED_HEADERS = ['content-type', 'etag', 'location', 'cache-control'];

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyKey?: string;
    /** When this request claimed its key: which claim of the key is its own. */
    idempotencyClaimedAt?: Date;
  }
  interface FastifyContextConfig {
    /**
     * Dotted paths of response fields that hold a secret shown only once (`data.key` of a new
     * API key, `invite` of an invitation). Only hashes of secrets are ever stored, so they are cut
     * from the stored response: a replay returns the rest without them.
     */
    idempotencySecretFields?: readonly string[];
    /**
     * Whose keys a route's Idempotency-Key is among when no tenant is authenticated: the admin
     * API's (ADMIN_IDEMPOTENCY_SCOPE). A tenant route's keys are its tenant's.
     */
    idempotencyScope?: string;
  }
}

/**
 * What makes two requests "the same" for an idempotency key: the caller (`key_…`, or `admin` for
 * the platform admin key), method, path (the `/api/t/{slug}` and `/api` spellings of one tenant URL
 * count as one) and the body regardless of key order. With the caller in it, a key never receives
 * the stored answer to another key's request, which its own scopes might not have allowed.
 */
export function requestFingerprint(caller: string, method: string, url: string, body: unknown): string {
  return `v2:${sha256(`${caller} ${method} ${tenantPath(url)}\n${canonicalJson(body)}`)}`;
}

/**
 * The fingerprint before the caller was part of it (bare hex, no `v2:`): answers stored by an
 * earlier version of the server still replay to the same request for the 24 hours they are kept.
 */
function legacyFingerprint(method: string, url: string, body: unknown): string {
  return sha256(`${method} ${tenantPath(url)}\n${canonicalJson(body)}`);
}

function sameRequest(stored: string, hash: string, request: FastifyRequest): boolean {
  if (stored === hash) return true;
  return !stored.startsWith('v2:') && stored === legacyFingerprint(request.method, request.url, request.body);
}

function tenantPath(url: string): string {
  return (url.split('?')[0] ?? '').replace(/^\/api\/t\/[^/]+\/v1\//, '/api/v1/');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The scope of the admin API's idempotency keys: never a tenant id, which starts with `ten_`. */
export const ADMIN_IDEMPOTENCY_SCOPE = 'admin';

/** Whose idempotency keys the request's is among: its tenant's, or its route's scope. */
function idempotencyScope(request: FastifyRequest): string | undefined {
  return request.auth?.tenant.id ?? request.routeOptions.config.idempotencyScope;
}

/** Claims the key for this request, or answers from the stored response of the first one. */
export async function claimIdempotencyKey(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const key = request.headers['idempotency-key'];
  const tenantId = idempotencyScope(request);
  if (request.method !== 'POST' || key === undefined || tenantId === undefined) return;
  if (typeof key !== 'string' || !KEY_SHAPE.test(key)) {
    throw new ApiError('validation_error', 'Idempotency-Key must be 1-255 visible ASCII characters', {
      errors: [
        {
          field: 'Idempotency-Key',
          code: 'invalid_format',
          message: 'Idempotency-Key must be 1-255 visible ASCII characters',
        },
      ],
    });
  }
  const { db, clock } = request.server.services;
  // Outside the tenant API only the platform admin key gets this far.
  const caller = request.auth ? actorId(request.auth.actor) : 'admin';
  const hash = requestFingerprint(caller, request.method, request.url, request.body);
  const now = clock.now();
  const lockedUntil = new Date(now.getTime() + LOCK_MS);
  const claimed = await db
    .insertInto('idempotencyKeys')
    .values({ tenantId, key, requestHash: hash, status: 'in_flight', lockedUntil, createdAt: now })
    .onConflict((oc) =>
      // An expired entry, or an abandoned claim of the same request, is taken over.
      oc
        .columns(['tenantId', 'key'])
        .doUpdateSet({
          requestHash: hash,
          status: 'in_flight',
          lockedUntil,
          createdAt: now,
          responseStatus: null,
          responseBody: null,
          responseHeaders: null,
        })
        .where((eb) =>
          eb.or([
            eb('idempotencyKeys.createdAt', '<', new Date(now.getTime() - RETENTION_MS)),
            eb.and([
              eb('idempotencyKeys.status', '=', 'in_flight'),
              eb('idempotencyKeys.lockedUntil', '<', now),
              eb('idempotencyKeys.requestHash', '=', hash),
            ]),
          ]),
        ),
    )
    .returning('key')
    .executeTakeFirst();
  if (claimed) {
    request.idempotencyKey = key;
    request.idempotencyClaimedAt = now;
    return;
  }
  const existing = await db
    .selectFrom('idempotencyKeys')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('key', '=', key)
    .executeTakeFirst();
  // Gone between the two statements: the first request failed and released it. Ask for a retry.
  if (!existing) {
    throw new ApiError(
      'idempotency_key_in_flight',
      'A request with this Idempotency-Key just finished; retry',
      {
        headers: { 'retry-after': '1' },
      },
    );
  }
  if (!sameRequest(existing.requestHash, hash, request)) {
    throw new ApiError(
      'idempotency_key_reused',
      'This Idempotency-Key was used with another request; use a new key',
    );
  }
  if (existing.status === 'in_flight' || existing.responseStatus === null) {
    throw new ApiError(
      'idempotency_key_in_flight',
      'A request with this Idempotency-Key is still being processed',
      {
        headers: { 'retry-after': '1' },
      },
    );
  }
  reply.code(existing.responseStatus).headers({ ...existing.responseHeaders, 'idempotent-replayed': 'true' });
  return reply.send(existing.responseBody);
}

/**
 * Stores the response of a claimed request so retries replay it. An answer about a passing state
 * (a 5xx, or a code marked retryable: a sale not recorded yet, a concurrent change) releases the
 * key instead, so the client's retry with the same key runs the request again.
 *
 * The write happened already; when the database does not take the stored answer (or the release),
 * the client still gets its answer, and PendingIdempotencyWrites writes it once the database takes
 * it. Until then the key stays claimed, so a retry gets `409 idempotency_key_in_flight` instead of
 * applying the write a second time.
 */
export async function storeIdempotentResponse(
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
): Promise<unknown> {
  const key = request.idempotencyKey;
  const claimedAt = request.idempotencyClaimedAt;
  const tenantId = idempotencyScope(request);
  if (key === undefined || claimedAt === undefined || tenantId === undefined) return payload;
  // Fastify runs onSend again for the error answer when this hook fails; the key is dealt with once.
  request.idempotencyKey = undefined;
  const { db, idempotencyWrites } = request.server.services;
  // Only this request's own claim: one taken over since (after LOCK_MS) is another request's.
  const ownClaim = <Q extends ClaimFilter<Q>>(query: Q) =>
    query
      .where('tenantId', '=', tenantId)
      .where('key', '=', key)
      .where('status', '=', 'in_flight')
      .where('createdAt', '=', claimedAt);
  let write: () => Promise<unknown>;
  if (reply.statusCode >= 500 || (reply.errorCode !== null && isRetryable(reply.errorCode))) {
    write = () => ownClaim(db.deleteFrom('idempotencyKeys')).execute();
  } else {
    const headers: Record<string, string> = {};
    for (const name of REPLAYED_HEADERS) {
      const value = reply.getHeader(name);
      if (value !== undefined) headers[name] = String(value);
    }
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload ?? null);
    const answer = {
      status: 'done' as const,
      responseStatus: reply.statusCode,
      responseBody: withoutSecrets(body, request.routeOptions.config.idempotencySecretFields),
      responseHeaders: JSON.stringify(headers),
    };
    write = () => ownClaim(db.updateTable('idempotencyKeys').set(answer)).execute();
  }
  try {
    await write();
  } catch (error) {
    idempotencyWrites.add(`${tenantId}\u0000${key}`, write, error);
  }
  return payload;
}

/** A query on idempotency_keys that takes `where` on its columns. */
interface ClaimFilter<Q> {
  where(column: 'tenantId' | 'key' | 'status' | 'createdAt', op: '=', value: string | Date): Q;
}

/** At most this many answers wait to be written; a claim left unwritten expires after LOCK_MS. */
const MAX_PENDING_WRITES = 10_000;

/**
 * The stored answers and key releases that the database did not take when their request ended
 * (its connection broke, or it did not answer), written again every half second until it takes
 * them, and once more as the process stops.
 */
export class PendingIdempotencyWrites {
  readonly #pending = new Map<string, () => Promise<unknown>>();

  constructor(private readonly log: FastifyBaseLogger) {}

  get pendingCount(): number {
    return this.#pending.size;
  }

  add(id: string, write: () => Promise<unknown>, error: unknown): void {
    if (this.#pending.size >= MAX_PENDING_WRITES && !this.#pending.has(id)) {
      this.log.error({ err: error }, 'idempotency key left claimed: too many answers wait to be stored');
      return;
    }
    this.log.warn(
      { err: error },
      'could not store an idempotent answer; it is written once the database takes it',
    );
    this.#pending.set(id, write);
  }

  /** Tries the waiting writes in turn, until one fails: the database does not take the others either. */
  async retry(): Promise<void> {
    for (const [id, write] of [...this.#pending]) {
      try {
        await write();
      } catch {
        // The next round tries again.
        return;
      }
      this.#pending.delete(id);
    }
  }

  job(): Job {
    return { name: 'idempotency-pending-writes', intervalMs: 500, run: () => this.retry() };
  }
}

/**
 * The response body as stored, without the route's secret fields: dotted paths into the JSON body
 * (`data.key`, `invite`). Only hashes of secrets are ever kept, so a replay omits them.
 */
function withoutSecrets(body: string, secretFields: readonly string[] | undefined): string {
  if (!secretFields?.length) return body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    // Not JSON, so no field can be cut: store nothing of it rather than risk a secret.
    return 'null';
  }
  for (const path of secretFields) {
    const parts = path.split('.');
    const last = parts.pop() as string;
    let holder: unknown = parsed;
    for (const part of parts) holder = (holder as Record<string, unknown> | null)?.[part];
    if (typeof holder === 'object' && holder !== null) delete (holder as Record<string, unknown>)[last];
  }
  return JSON.stringify(parsed);
}

/** Deletes stored responses older than 24 hours. */
export function idempotencyCleanupJob(db: Db, clock: Clock): Job {
  return {
    name: 'idempotency-cleanup',
    intervalMs: 10 * 60_000,
    run: () =>
      db
        .deleteFrom('idempotencyKeys')
        .where('createdAt', '<', new Date(clock.now().getTime() - RETENTION_MS))
        .execute(),
  };
}
