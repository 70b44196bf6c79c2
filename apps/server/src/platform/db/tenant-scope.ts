import type { DeleteQueryBuilder, SelectQueryBuilder, UpdateQueryBuilder } from 'kysely';
import type { DomainContext } from '../context.ts';
import type { DB } from './schema.ts';

/** Tables whose rows belong to one tenant. */
export type TenantTable = { [T in keyof DB]: DB[T] extends { tenantId: string } ? T : never }[keyof DB];

/**
 * The one way domain code reads, updates or deletes tenant-owned rows: every query these return is
 * already restricted to the caller's tenant.
 */
export function selectScoped<T extends TenantTable>(ctx: Pick<DomainContext, 'db' | 'tenantId'>, table: T) {
  return (ctx.db.selectFrom(table) as unknown as SelectQueryBuilder<DB, TenantTable, object>).where(
    'tenantId',
    '=',
    ctx.tenantId,
  ) as unknown as SelectQueryBuilder<DB, T, object>;
}

export function updateScoped<T extends TenantTable>(ctx: Pick<DomainContext, 'db' | 'tenantId'>, table: T) {
  return (
    ctx.db.updateTable(table) as unknown as UpdateQueryBuilder<DB, TenantTable, TenantTable, object>
  ).where('tenantId', '=', ctx.tenantId) as unknown as UpdateQueryBuilder<DB, T, T, object>;
}

export function deleteScoped<T extends TenantTable>(ctx: Pick<DomainContext, 'db' | 'tenantId'>, table: T) {
  return (ctx.db.deleteFrom(table) as unknown as DeleteQueryBuilder<DB, TenantTable, object>).where(
    'tenantId',
    '=',
    ctx.tenantId,
  ) as unknown as DeleteQueryBuilder<DB, T, object>;
}
