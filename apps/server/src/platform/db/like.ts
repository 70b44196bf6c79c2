import { type RawBuilder, sql } from 'kysely';

/**
 * A LIKE pattern matching values that contain `text`, with `%`, `_` and `\` taken literally, and
 * case-folded by the database's `lower()`: the column it is compared with is folded by the same
 * function (`lower(name) like …`), so the exact stored text always matches itself. JavaScript folds
 * some letters otherwise (a final Σ to ς, İ to i̇), which made such text unfindable.
 */
export function containsPattern(text: string): RawBuilder<string> {
  return sql<string>`lower(${`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`})`;
}
