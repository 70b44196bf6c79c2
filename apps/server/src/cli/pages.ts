import type { PageRequest, Pagination } from '../platform/pagination.ts';

const PAGE_SIZE = 100;

/** Every row of a cursor-paginated list, read page by page. */
export async function readAllPages<Row>(
  readPage: (page: PageRequest) => Promise<{ data: Row[]; pagination: Pagination }>,
): Promise<Row[]> {
  const rows: Row[] = [];
  let cursor: string | undefined;
  do {
    const page = await readPage(cursor ? { cursor, limit: PAGE_SIZE } : { limit: PAGE_SIZE });
    rows.push(...page.data);
    cursor = page.pagination.nextCursor ?? undefined;
  } while (cursor);
  return rows;
}
