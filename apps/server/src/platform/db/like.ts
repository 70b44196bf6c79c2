import { type Expression, type ExpressionBuilder, type RawBuilder, type SqlBool, sql } from 'kysely';
import type { DB } from './schema.ts';

/**
 * A LIKE pattern matching values that contain `text`, with `%`, `_` and `\` taken literally, and
 * case-folded by the database's `lower()`: the column it is compared with is folded by the same
 * function (`lower(name) like …`), so the exact stored text always matches itself. JavaScript folds
 * some letters otherwise (a final Σ to ς, İ to i̇), which made such text unfindable.
 */
function containsPattern(text: string): RawBuilder<string> {
  return sql<string>`lower(${`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`})`;
}

/**
 * The patterns of `text` as written and in both Unicode normal forms: a letter typed as a base
 * letter and a combining mark (`A` + U+0308, as some keyboards send `Ä`) finds the same letter
 * stored as one character, and the other way round.
 */
function containsPatterns(text: string): RawBuilder<string>[] {
  return [...new Set([text, text.normalize('NFC'), text.normalize('NFD')])].map(containsPattern);
}

/** A `where` that holds when any of `columns` (each folded by `lower()`) contains `text`. */
export function anyContains(columns: readonly RawBuilder<unknown>[], text: string) {
  const patterns = containsPatterns(text);
  return <TB extends keyof DB>(eb: ExpressionBuilder<DB, TB>): Expression<SqlBool> =>
    eb.or(columns.flatMap((column) => patterns.map((pattern) => eb(column, 'like', pattern))));
}
