import { Type } from '@sinclair/typebox';
import { type SelectQueryBuilder, sql } from 'kysely';
import type { DB } from './db/index.ts';
import { ApiError } from './errors.ts';
import { type IdPrefix, idPattern } from './ids.ts';

export const PaginationQuery = {
  page: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Classic mode: the page number, from 1' }),
  ),
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 100, default: 50, description: 'Rows per page, 1-100 (default 50)' }),
  ),
  cursor: Type.Optional(
    // No maxLength: text of any length that is not a cursor of this list is 400 invalid_cursor.
    Type.String({ minLength: 1, description: 'Cursor mode: `nextCursor` of the previous page' }),
  ),
};

export interface PageRequest {
  page?: number;
  limit?: number;
  cursor?: string;
}

export interface Pagination {
  page?: number;
  limit: number;
  total?: number;
  pages?: number;
  nextCursor?: string | null;
}

const CURSOR_VERSION = 'v1';

function encodeCursor(id: string): string {
  return Buffer.from(`${CURSOR_VERSION}:${id}`).toString('base64url');
}

/**
 * The id a cursor stands for: a position in the list, the last row of the page before, so it stays
 * valid whatever rows come and go. Only the exact text `encodeCursor` makes for an id of this
 * list's kind is one: Node's base64url decoding skips characters it does not know, so the cursor
 * must also be the canonical encoding of what it decodes to.
 */
function decodeCursor(cursor: string, idPrefix: string): string {
  const bytes = Buffer.from(cursor, 'base64url');
  const text = bytes.toString('utf8');
  const id = text.slice(CURSOR_VERSION.length + 1);
  if (
    bytes.toString('base64url') !== cursor ||
    text !== `${CURSOR_VERSION}:${id}` ||
    !new RegExp(idPattern(idPrefix as IdPrefix)).test(id)
  ) {
    throw new ApiError('invalid_cursor', 'The cursor is not one this list returned; start again without it');
  }
  return id;
}

// biome-ignore lint/suspicious/noExplicitAny: a query over any table whose rows have a text `id`
type ListQuery<Row extends { id: string }> = SelectQueryBuilder<DB, any, Row>;

export interface PageOrder {
  /** The id column (`p.id`) as the query refers to it. */
  idColumn: string;
  idPrefix: string;
  /**
   * A column holding the first `length` characters of the id, which the query reads in order (an
   * index's leading column ahead of the ids): rows are sorted by it first, which orders them the
   * same, so the database sorts only the ids within each of its values, and stops at the page.
   */
  bucket?: { column: string; length: number };
}

/**
 * Runs a filtered list query in one of the two modes. Cursor mode is keyset pagination on the
 * time-sortable id (newest first): it never counts, and rows inserted later never shift a page.
 */
export async function paginate<Row extends { id: string }>(
  query: ListQuery<Row>,
  request: PageRequest,
  options: PageOrder,
): Promise<{ data: Row[]; pagination: Pagination }> {
  const limit = request.limit ?? 50;
  const id = sql.ref(options.idColumn);
  const { bucket } = options;
  const ordered = (rows: ListQuery<Row>) =>
    (bucket ? rows.orderBy(sql.ref(bucket.column), 'desc') : rows).orderBy(id, 'desc');
  if (request.cursor !== undefined && request.page !== undefined) {
    throw new ApiError('validation_error', 'Use either page or cursor, not both', {
      errors: [{ field: 'cursor', code: 'conflict', message: 'cursor cannot be combined with page' }],
    });
  }
  if (request.cursor !== undefined) {
    const after = decodeCursor(request.cursor, options.idPrefix);
    let rows = query.where(sql<boolean>`${id} < ${after}`);
    if (bucket)
      rows = rows.where(sql<boolean>`${sql.ref(bucket.column)} <= ${after.slice(0, bucket.length)}`);
    const page = await ordered(rows)
      .limit(limit + 1)
      .execute();
    return { data: page.slice(0, limit), pagination: { nextCursor: nextCursor(page, limit), limit } };
  }
  const page = request.page ?? 1;
  const [rows, counted] = await Promise.all([
    ordered(query)
      .limit(limit + 1)
      .offset((page - 1) * limit)
      .execute(),
    query.clearSelect().select(sql<number>`count(*)::int`.as('total')).executeTakeFirstOrThrow(),
  ]);
  const total = Number((counted as unknown as { total: number }).total);
  const pagination: Pagination = { page, limit, total, pages: Math.ceil(total / limit) };
  if (request.page === undefined) pagination.nextCursor = nextCursor(rows, limit);
  return { data: rows.slice(0, limit), pagination };
}

function nextCursor(rows: { id: string }[], limit: number): string | null {
  const last = rows.length > limit ? rows[limit - 1] : undefined;
  return last ? encodeCursor(last.id) : null;
}
