import { sql } from 'kysely';
import { changedFields, recordAudit } from '../audit.ts';
import { RESERVED_SLUGS, SLUG_PATTERN } from '../config.ts';
import type { AuditActor, RequestOrigin } from '../context.ts';
import { isUniqueViolation } from '../db/errors.ts';
import type { Db } from '../db/index.ts';
import { ApiError, notFound } from '../errors.ts';
import { assertVersionMatches } from '../http/etag.ts';
import { isId, newId } from '../ids.ts';
import { type PageRequest, paginate } from '../pagination.ts';
import type { PlanName } from '../plans.ts';

export interface TenantRecord {
  id: string;
  slug: string;
  name: string;
  plan: string;
  status: 'active' | 'suspended';
  /** Bumped by every change: the tenant's ETag. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = ['id', 'slug', 'name', 'plan', 'status', 'version', 'createdAt', 'updatedAt'] as const;
const SLUG = new RegExp(SLUG_PATTERN);

/**
 * Names a deployment's own hosts commonly use: with BASE_DOMAIN, a tenant slug is a subdomain, and a
 * tenant `www` or `api` would take over that host's requests.
 */

/** Who manages tenants: the platform admin, the CLI or the server's first start. */
export interface TenantAuditContext {
  actor: AuditActor;
  now: Date;
  origin?: RequestOrigin | undefined;
}

export async function createTenant(
  db: Db,
  input: { slug: string; name: string; plan?: PlanName | undefined },
  by: TenantAuditContext = { actor: { type: 'system' }, now: new Date() },
): Promise<TenantRecord> {
  if (RESERVED_SLUGS.has(input.slug)) {
    const message = `slug ${input.slug} is reserved for the deployment's own hosts; choose another`;
    throw new ApiError('validation_error', message, {
      errors: [{ field: 'slug', code: 'invalid_value', message }],
    });
  }
  try {
    return await db.transaction().execute(async (trx) => {
      const tenant = await trx
        .insertInto('tenants')
        .values({ id: newId('ten'), slug: input.slug, name: input.name, plan: input.plan ?? 'default' })
        .returning(COLUMNS)
        .executeTakeFirstOrThrow();
      await recordAudit(
        trx,
        { ...by, tenantId: tenant.id },
        {
          action: 'tenant.created',
          resourceType: 'tenant',
          resourceId: tenant.id,
          after: tenant,
        },
      );
      return tenant;
    });
  } catch (error) {
    if (isUniqueViolation(error))
      throw new ApiError('tenant_slug_taken', `The slug ${input.slug} is already taken`);
    throw error;
  }
}

export function listTenants(db: Db, page: PageRequest) {
  return paginate(db.selectFrom('tenants').select(COLUMNS), page, { idColumn: 'id', idPrefix: 'ten' });
}

/**
 * Finds a tenant by id or slug. A value of neither shape names no tenant: it is answered like an
 * unknown slug without a query (PostgreSQL could not even compare some of them, such as U+0000).
 */
/** The tenant by id or slug; with `lock`, locked until the caller's transaction ends. */
export async function getTenantOrThrow(
  db: Db,
  idOrSlug: string,
  options: { lock?: boolean } = {},
): Promise<TenantRecord> {
  const column = idOrSlug.startsWith('ten_') ? 'id' : 'slug';
  if (column === 'id' && !isId('ten', idOrSlug)) throw notFound('tenant', idOrSlug);
  const row =
    column === 'slug' && !SLUG.test(idOrSlug)
      ? undefined
      : await db
          .selectFrom('tenants')
          .select(COLUMNS)
          .where(column, '=', idOrSlug)
          .$if(options.lock === true, (qb) => qb.forUpdate())
          .executeTakeFirst();
  if (!row) throw new ApiError('tenant_not_found', `No tenant ${idOrSlug}`);
  return row;
}

export async function updateTenant(
  db: Db,
  idOrSlug: string,
  changes: { name?: string; plan?: PlanName; status?: 'active' | 'suspended' },
  by: TenantAuditContext,
  ifMatch?: readonly number[],
): Promise<{ before: TenantRecord; after: TenantRecord }> {
  // Read locked, so that concurrent changes apply one after the other and each audits what it replaced.
  return db.transaction().execute(async (trx) => {
    const before = await getTenantOrThrow(trx, idOrSlug, { lock: true });
    assertVersionMatches(ifMatch, before.version);
    // Only what differs is written: a PATCH that changes nothing is not audited.
    const differing = changedFields(before, changes);
    if (Object.keys(differing).length === 0) return { before, after: before };
    const after = await trx
      .updateTable('tenants')
      .set({ ...differing, version: sql`version + 1`, updatedAt: by.now })
      .where('id', '=', before.id)
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
    await recordAudit(
      trx,
      { ...by, tenantId: after.id },
      {
        action: 'tenant.updated',
        resourceType: 'tenant',
        resourceId: after.id,
        before,
        after,
      },
    );
    return { before, after };
  });
}
