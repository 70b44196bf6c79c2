import { isUtf8 } from 'node:buffer';
import type { FastifyRequest } from 'fastify';
import { ApiError, fieldPath, MAX_FIELD_KEYS, validationError } from '../errors.ts';

type Done = (error: Error | null, body?: unknown) => void;

/** Fastify's own JSON parser (`getDefaultJsonParser`): empty bodies, syntax and prototype poisoning. */
export type JsonTextParser = (request: FastifyRequest, body: string, done: Done) => void;

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;
const UTF8_NAMES: ReadonlySet<string> = new Set(['utf-8', 'utf8']);

/**
 * The parser of `application/json` bodies. JSON travels as UTF-8 (RFC 8259): a body declared in
 * another charset, or sent with a content coding, is a 415 that says what to send instead, and bytes
 * that are not UTF-8 are a 400, rather than text silently stored with U+FFFD where they were. What
 * remains is parsed by `parseText`.
 */
export function jsonBodyParser(
  parseText: JsonTextParser,
): (request: FastifyRequest, body: Buffer, done: Done) => void {
  return (request, body, done) => {
    const coding = request.headers['content-encoding']?.trim().toLowerCase();
    if (coding !== undefined && coding !== '' && coding !== 'identity') {
      done(
        new ApiError('unsupported_media_type', 'Send the request body without a Content-Encoding', {
          headers: { 'accept-encoding': 'identity' },
        }),
      );
      return;
    }
    const charset = CHARSET.exec(request.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && !UTF8_NAMES.has(charset)) {
      done(
        new ApiError(
          'unsupported_media_type',
          'Send the request body as application/json in UTF-8 (charset=utf-8, or no charset)',
        ),
      );
      return;
    }
    if (!isUtf8(body)) {
      done(new ApiError('invalid_json', 'The request body is not valid UTF-8, which JSON must be'));
      return;
    }
    const text = body.toString('utf8');
    parseText(request, text, (error, parsed) => {
      if (error !== null && (error as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
        done(prototypeRefusal(text) ?? error);
        return;
      }
      done(error, parsed);
    });
  };
}

/** A value met on the walk of a parsed body: its key and the value holding it. */
interface Visit {
  node: unknown;
  key?: string;
  parent?: Visit;
}

/** The path of `name` in the value visited, as errors name a field (`fieldPath`). */
function pathOf(visit: Visit, name: string): string {
  const keys = [name];
  // One key more than a field names shows that there are more.
  for (let at = visit; at.key !== undefined && at.parent && keys.length <= MAX_FIELD_KEYS; at = at.parent) {
    keys.push(at.key);
  }
  return fieldPath(keys.reverse());
}

/**
 * The parser refuses JSON that holds `__proto__`, or `constructor` holding `prototype`, in any
 * object: such names would reach an object's prototype in code that copies them. That JSON is
 * valid, so the answer is a 400 naming the property rather than "not valid JSON". Looked for
 * only once the parser has refused the body.
 */
function prototypeRefusal(text: string): ApiError | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  // A stack, not recursion: a body nested a million deep parses fine. Each entry links to its
  // parent's, so the path is built only for the property found.
  const pending: Visit[] = [{ node: value }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { node } = next;
    if (typeof node !== 'object' || node === null) continue;
    const held = (node as { constructor?: unknown }).constructor;
    if (Object.hasOwn(node, '__proto__')) {
      const field = pathOf(next, '__proto__');
      return validationError([
        { field, code: 'forbidden_name', message: `${field} is not an allowed property name` },
      ]);
    }
    if (
      Object.hasOwn(node, 'constructor') &&
      typeof held === 'object' &&
      held !== null &&
      Object.hasOwn(held, 'prototype')
    ) {
      const field = pathOf(next, 'constructor');
      return validationError([
        {
          field,
          code: 'forbidden_name',
          message: `${field} must not hold prototype: constructor.prototype is not an allowed property name`,
        },
      ]);
    }
    // Children go on the stack last first, so the first in the body is found first.
    for (const [key, child] of Object.entries(node).reverse())
      pending.push({ node: child, key, parent: next });
  }
  return undefined;
}
