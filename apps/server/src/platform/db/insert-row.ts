import { type Insertable, type InsertQueryBuilder, type InsertResult, type QueryCreator, sql } from 'kysely';
import type { DB } from './schema.ts';

/**
 * `insert into <table> (…) values (…)` of one row; with `onlyIf`, the name of a common table
 * expression of the same statement, `insert into <table> (…) select … from <onlyIf>` instead: the
 * row is written only if the write behind `onlyIf` returned a row, as one statement can only chain
 * its writes through what they return.
 */
export function insertRow<T extends keyof DB & string>(
  db: QueryCreator<DB>,
  table: T,
  row: Insertable<DB[T]>,
  onlyIf?: string,
): InsertQueryBuilder<DB, T, InsertResult> {
  const insert = db.insertInto(table);
  if (onlyIf === undefined) return insert.values(row as never);
  const entries = Object.entries(row).filter(([, value]) => value !== undefined);
  // The values are parameters of unknown type; PostgreSQL gives each its column's type.
  return insert
    .columns(entries.map(([column]) => column) as never)
    .expression(sql`select ${sql.join(entries.map(([, value]) => value))} from ${sql.table(onlyIf)}`);
}
