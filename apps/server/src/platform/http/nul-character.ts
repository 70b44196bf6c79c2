import type { ErrorObject } from 'ajv';

const NUL = '\u0000';

// Both walks keep their own stack instead of recursing: a JSON body of arrays nested a million
// deep parses fine and would overflow the call stack.

/** Whether a parsed request part holds U+0000 in any string or object key, however deep. */
export function holdsNulCharacter(data: unknown): boolean {
  const pending: unknown[] = [data];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (value.includes(NUL)) return true;
    } else if (Array.isArray(value)) {
      for (const item of value) pending.push(item);
    } else if (typeof value === 'object' && value !== null) {
      for (const key in value) {
        if (key.includes(NUL)) return true;
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

/**
 * One Ajv-style `nulCharacter` error per string or object key holding U+0000, in document order,
 * so the problem response names each field like any other validation error. Called only once
 * `holdsNulCharacter` has found one: this walk builds a path for every value it passes.
 */
export function findNulCharacters(data: unknown): ErrorObject[] {
  const errors: ErrorObject[] = [];
  // Each entry: a value, its JSON Pointer, and whether the key it sits under holds U+0000.
  const pending: [unknown, string, boolean][] = [[data, '', false]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path, badKey] = next;
    if (badKey || (typeof value === 'string' && value.includes(NUL))) {
      errors.push({
        keyword: 'nulCharacter',
        instancePath: path,
        schemaPath: '',
        params: {},
        message: 'must not contain the NUL character (U+0000)',
      });
    }
    // Children go on the stack last first, so they come off it in document order.
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) pending.push([value[i], path + segment(i), false]);
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value).reverse()) {
        pending.push([item, path + segment(key), key.includes(NUL)]);
      }
    }
  }
  return errors;
}
