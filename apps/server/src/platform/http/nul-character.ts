import type { ErrorObject } from 'ajv';

/**
 * What PostgreSQL text and JSON cannot hold: U+0000, and a UTF-16 surrogate without its partner
 * (JSON lets `"\ud800"` through, but it is no character at all). A paired surrogate is one code
 * point in a `u` pattern, so it does not match.
 */
const UNSTORABLE = /[\0\p{Cs}]/u;
const NUL = '\u0000';

// Both walks keep their own stack instead of recursing: a JSON body of arrays nested a million
// deep parses fine and would overflow the call stack.

/** Whether a parsed request part holds an unstorable character in any string or key, however deep. */
export function holdsUnstorableText(data: unknown): boolean {
  const pending: unknown[] = [data];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (UNSTORABLE.test(value)) return true;
    } else if (Array.isArray(value)) {
      for (const item of value) pending.push(item);
    } else if (typeof value === 'object' && value !== null) {
      for (const key in value) {
        if (UNSTORABLE.test(key)) return true;
        pending.push((value as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}

/** A JSON Pointer segment, escaped as Ajv escapes the `instancePath` of its own errors. */
function segment(key: string | number): string {
  return `/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

/** The Ajv-style error of one string or key, or undefined when it can be stored. */
function textError(text: string, instancePath: string): ErrorObject | undefined {
  if (!UNSTORABLE.test(text)) return undefined;
  const nul = text.includes(NUL);
  return {
    keyword: nul ? 'nulCharacter' : 'loneSurrogate',
    instancePath,
    schemaPath: '',
    params: {},
    message: nul
      ? 'must not contain the NUL character (U+0000)'
      : 'must be valid Unicode: it contains half of a surrogate pair',
  };
}

/**
 * One Ajv-style error per string or object key holding an unstorable character, in document
 * order, so the problem response names each field like any other validation error. Called only
 * once `holdsUnstorableText` has found one: this walk builds a path for every value it passes. It
 * stops at `limit` errors.
 */
export function findUnstorableText(data: unknown, limit = Number.POSITIVE_INFINITY): ErrorObject[] {
  const errors: ErrorObject[] = [];
  // Each entry: a value, its JSON Pointer, and the error of the key it sits under.
  const pending: [unknown, string, ErrorObject | undefined][] = [[data, '', undefined]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path, keyError] = next;
    const error = keyError ?? (typeof value === 'string' ? textError(value, path) : undefined);
    if (error && errors.push(error) >= limit) break;
    // Children go on the stack last first, so they come off it in document order.
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) pending.push([value[i], path + segment(i), undefined]);
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value).reverse()) {
        const itemPath = path + segment(key);
        pending.push([item, itemPath, textError(key, itemPath)]);
      }
    }
  }
  return errors;
}
