import type { DeleteQueryBuilder, QueryCreator, SelectQueryBuilder, UpdateQueryBuilder } from 'kysely';
import type { DB } from './schema.ts';

/** Tables whose rows belong to one tenant. */
export type TenantTable = { [T in keyof DB]: DB[T] extends { tenantId: string } ? T : never }[keyof DB];

/**
 * Where a scoped query starts: the database or a transaction, or a `with` clause whose common table
 * expressions go to the database in the same statement.
 */
export interface ScopeContext {
  db: QueryCreator<DB>;
  tenantId: string;
}

/**
 * The one way domain code reads, updates or deletes tenant-owned rows: every query these return is
 * already restricted to the caller's tenant.
 */
export function selectScoped<T extends TenantTable>(ctx: ScopeContext, table: T) {
  return (ctx.db.selectFrom(table) as unknown as SelectQueryBuilder<DB, TenantTable, object>).where(
    'tenantId',
    '=',
    ctx.tenantId,
  ) as unknown as SelectQueryBuilder<DB, T, object>;
}

export function updateScoped<T extends TenantTable>(ctx: ScopeContext, table: T) {
  return (
    ctx.db.updateTable(table) as unknown as UpdateQueryBuilder<DB, TenantTable, TenantTable, object>
  ).where('tenantId', '=', ctx.tenantId) as unknown as UpdateQueryBuilder<DB, T, T, object>;
}

export function deleteScoped<T extends TenantTable>(ctx: ScopeContext, table: T) {
  return (ctx.db.deleteFrom(table) as unknown as DeleteQueryBuilder<DB, TenantTable, object>).where(
    'tenantId',
    '=',
    ctx.tenantId,
  ) as unknown as DeleteQueryBuilder<DB, T, object>;
}
