type Cell = string | number | Date | null | undefined;

function text(cell: Cell): string {
  if (cell === null || cell === undefined) return '-';
  return cell instanceof Date ? cell.toISOString() : String(cell);
}

export type Column<Row> = [header: string, cell: (row: Row) => Cell];

/** Rows as aligned plain-text columns under a header line; `(none)` for an empty list. */
export function formatTable<Row>(rows: readonly Row[], columns: Column<Row>[]): string[] {
  if (rows.length === 0) return ['(none)'];
  const grid = [
    columns.map(([header]) => header),
    ...rows.map((row) => columns.map(([, cell]) => text(cell(row)))),
  ];
  const widths = columns.map((_, i) => Math.max(...grid.map((line) => (line[i] ?? '').length)));
  return grid.map((line) =>
    line
      .map((value, i) => value.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

/** JSON with dates as ISO strings, as the API renders them. */
export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
