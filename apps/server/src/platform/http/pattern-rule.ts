/**
 * The schema keyword that says in words what a string's `pattern` takes, as the end of a sentence
 * about the field ("must be a month written YYYY-MM"): the error of a refused value states it,
 * where the pattern alone would only say that the format is wrong. Every `pattern` of a request
 * schema comes with one (`matching`).
 */
export const PATTERN_RULE = 'x-pattern-rule';

/** The options of a string that must match `pattern`; `rule` says what it takes (PATTERN_RULE). */
export function matching(pattern: string, rule: string): { pattern: string; [PATTERN_RULE]: string } {
  return { pattern, [PATTERN_RULE]: rule };
}

/** The options of a name or title: some text, not white space only. */
export const NOT_BLANK = matching('\\S', 'must not be blank');
