import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import type { FastifySchemaCompiler } from 'fastify';
import { isSupportedInstant, SUPPORTED_DATES } from '../dates.ts';
import { ApiError, type FieldError, fieldPath, quoted, validationError } from '../errors.ts';
import { findUnstorableText, holdsUnstorableText } from './nul-character.ts';
import { PATTERN_RULE } from './pattern-rule.ts';

// ajv-formats ships CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const rfc3339 = fullFormats['date-time'] as { validate: (value: string) => boolean };

function createAjv(coerce: boolean, allErrors: boolean): Ajv {
  const ajv = new Ajv({
    allErrors,
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    strict: false,
    // Errors carry the schema they failed (`parentSchema`), for the words of a pattern. Only the
    // code that reports an error grows; a valid value is checked as fast.
    verbose: true,
  });
  addFormats(ajv);
  ajv.addKeyword({ keyword: PATTERN_RULE, schemaType: 'string' });
  // RFC 3339 also allows timestamps JavaScript cannot parse (`23:59:60`, `+01`) or PostgreSQL
  // cannot store once JavaScript writes them (`0000-…`, `+010000-…`); handlers turn a timestamp
  // into a Date and the database stores it, so it must be neither.
  ajv.addFormat('date-time', {
    type: 'string',
    validate: (value: string) => rfc3339.validate(value) && isSupportedInstant(Date.parse(value)),
  });
  return ajv;
}

// Query strings and path parameters arrive as text and are coerced; JSON bodies are taken as sent.
// Each pair stops at a value's first error, or finds them all.
const coercing = { first: createAjv(true, false), all: createAjv(true, true) };
const exact = { first: createAjv(false, false), all: createAjv(false, true) };

/**
 * A refused value of at most this many values (array items, object fields, scalars) is checked
 * again for all its errors; a larger one is answered with its first. Finding every error costs time
 * and memory in proportion to the errors (a 1 MiB body can hold half a million bad array items),
 * which no refused request may cost.
 */
const ALL_ERRORS_MAX_VALUES = 10_000;

/** Whether `data` holds at most `limit` values, counted until the limit is passed. */
function holdsAtMost(data: unknown, limit: number): boolean {
  const stack = [data];
  let count = 0;
  while (stack.length > 0) {
    if (++count > limit) return false;
    const value = stack.pop();
    if (typeof value === 'object' && value !== null) {
      for (const child of Object.values(value)) stack.push(child);
    }
  }
  return true;
}

/**
 * Ajv for each request part, refusing U+0000 and lone surrogates anywhere in it (values and object
 * keys): PostgreSQL text and JSON cannot hold them, so they must never reach a handler. In a path
 * parameter such a character names nothing, so it is a 404 like any id of the wrong shape;
 * elsewhere it is a 400 naming the field. A value is checked up to its first error; a refused one
 * is checked again for all of them when it is small enough (ALL_ERRORS_MAX_VALUES).
 */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'querystring' || httpPart === 'params' ? coercing : exact;
  const validate = ajv.first.compile(schema as object);
  // Compiled when a value is first refused: most schemas of a running server never are.
  let thorough: ValidateFunction | undefined;
  const errorsOf = (data: unknown): ErrorObject[] => {
    if (!holdsAtMost(data, ALL_ERRORS_MAX_VALUES)) {
      validate(data);
      return validate.errors ?? [];
    }
    thorough ??= ajv.all.compile(schema as object);
    thorough(data);
    return thorough.errors ?? [];
  };
  const integers = httpPart === 'querystring' ? integerFields(schema) : [];
  const singles = httpPart === 'querystring' ? singleValueFields(schema) : [];
  const refusedErrors = (data: unknown): ErrorObject[] =>
    singles.length > 0 ? [...repeatedParameters(singles, data), ...errorsOf(data)] : errorsOf(data);
  return (data: unknown) => {
    const written = integers.length > 0 ? nonDecimalIntegers(integers, data) : [];
    if (written.length > 0) return { error: written };
    if (!holdsUnstorableText(data)) return validate(data) || { error: refusedErrors(data) };
    if (httpPart === 'params') {
      return {
        error: new ApiError(
          'not_found',
          'No resource matches this path: a path segment contains the NUL character (U+0000)',
        ),
      };
    }
    return { error: [...findUnstorableText(data, MAX_AJV_ERRORS + 1), ...refusedErrors(data)] };
  };
};

/** Whether a schema takes a list, alone or as one branch of a union. */
function takesList(schema: unknown): boolean {
  const node = (schema ?? {}) as { type?: unknown; anyOf?: unknown[]; oneOf?: unknown[] };
  return (
    node.type === 'array' ||
    (Array.isArray(node.type) && node.type.includes('array')) ||
    [...(node.anyOf ?? []), ...(node.oneOf ?? [])].some(takesList)
  );
}

/** The fields of a query string's schema that take one value, not a list. */
function singleValueFields(schema: unknown): string[] {
  const properties = (schema as { properties?: Record<string, unknown> }).properties ?? {};
  return Object.keys(properties).filter((key) => !takesList(properties[key]));
}

/**
 * A parameter that takes one value but is given more than once arrives as a list, which its own
 * type refuses ("limit must be of type integer"); the error says what happened instead. Looked
 * for only once the query string is refused: a valid one never holds such a list.
 */
function repeatedParameters(fields: readonly string[], data: unknown): ErrorObject[] {
  if (typeof data !== 'object' || data === null) return [];
  return fields
    .filter((field) => Array.isArray((data as Record<string, unknown>)[field]))
    .map((field) => ({
      instancePath: `/${field.replaceAll('~', '~0').replaceAll('/', '~1')}`,
      schemaPath: `#/properties/${field}`,
      keyword: 'duplicateParameter',
      params: {},
      message: 'is given more than once',
    }));
}

/** A query integer as people write one: decimal digits, no sign but `-`. */
const DECIMAL_INTEGER = /^-?\d+$/;

/** The integer fields of a query string's schema. */
function integerFields(schema: unknown): string[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  return Object.keys(properties).filter((key) => properties[key]?.type === 'integer');
}

/**
 * Ajv would coerce any text JavaScript reads as a number (`0x10`, `1e1`, ` 5`, `+5`, `2.0`) into an
 * integer field; a query integer must be written in plain decimal digits, or it is refused like
 * any other value that is not an integer.
 */
function nonDecimalIntegers(fields: readonly string[], data: unknown): ErrorObject[] {
  if (typeof data !== 'object' || data === null) return [];
  const errors: ErrorObject[] = [];
  for (const field of fields) {
    const value = (data as Record<string, unknown>)[field];
    if (typeof value !== 'string' || DECIMAL_INTEGER.test(value)) continue;
    errors.push({
      instancePath: `/${field}`,
      schemaPath: `#/properties/${field}/type`,
      keyword: 'type',
      params: { type: 'integer' },
      message: 'must be integer',
    });
  }
  return errors;
}

function describe(limit: unknown, unit: string, plural = `${unit}s`): string {
  return `${String(limit)} ${limit === 1 ? unit : plural}`;
}

function toFieldError(error: ErrorObject, part: string | undefined): FieldError {
  // instancePath is a JSON Pointer: `/` inside a key is written `~1`, `~` is written `~0`.
  // Keys come from the request: each is quoted at its first characters only (`fieldPath`).
  const path = fieldPath(
    error.instancePath
      .split('/')
      .filter(Boolean)
      .map((key) => key.replaceAll('~1', '/').replaceAll('~0', '~')),
  );
  const params = error.params as Record<string, unknown>;
  const join = (name: unknown) => [path, quoted(String(name))].filter(Boolean).join('.');
  const field = path || part || 'body';
  switch (error.keyword) {
    case 'required':
      return {
        field: join(params.missingProperty),
        code: 'required',
        message: `${join(params.missingProperty)} is required`,
      };
    case 'additionalProperties':
      if (params.additionalProperty === '') {
        return { field, code: 'unknown_field', message: `${field} has a field with an empty name` };
      }
      return {
        field: join(params.additionalProperty),
        code: 'unknown_field',
        message: `${join(params.additionalProperty)} is not a known field`,
      };
    case 'type':
      return { field, code: 'invalid_type', message: `${field} must be of type ${String(params.type)}` };
    case 'format':
      if (params.format === 'date-time') {
        return {
          field,
          code: 'invalid_format',
          message: `${field} must be an ISO 8601 timestamp from ${SUPPORTED_DATES}`,
        };
      }
      return { field, code: 'invalid_format', message: `${field} must be a valid ${String(params.format)}` };
    case 'nulCharacter':
    case 'loneSurrogate':
      return { field, code: 'invalid_format', message: `${field} ${String(error.message)}` };
    case 'pattern': {
      const rule = (error.parentSchema as Record<string, unknown> | undefined)?.[PATTERN_RULE];
      return {
        field,
        code: 'invalid_format',
        message: typeof rule === 'string' ? `${field} ${rule}` : `${field} has an invalid format`,
      };
    }
    case 'duplicateParameter':
      return { field, code: 'duplicate_parameter', message: `${field} ${String(error.message)}` };
    case 'minLength':
      return {
        field,
        code: 'too_short',
        message: `${field} must be at least ${describe(params.limit, 'character')}`,
      };
    case 'maxLength':
      return {
        field,
        code: 'too_long',
        message: `${field} must be at most ${describe(params.limit, 'character')}`,
      };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return {
        field,
        code: 'out_of_range',
        message: `${field} must be ${String(params.comparison)} ${String(params.limit)}`,
      };
    case 'enum':
      return {
        field,
        code: 'invalid_value',
        message: `${field} must be one of ${(params.allowedValues as unknown[]).join(', ')}`,
      };
    case 'const':
      return { field, code: 'invalid_value', message: `${field} must be ${String(params.allowedValue)}` };
    case 'maxItems':
    case 'maxProperties':
      return {
        field,
        code: 'too_many',
        message: `${field} must have at most ${describe(params.limit, 'entry', 'entries')}`,
      };
    case 'minItems':
    case 'minProperties':
      return {
        field,
        code: 'too_few',
        message: `${field} must have at least ${describe(params.limit, 'entry', 'entries')}`,
      };
    case 'uniqueItems':
      return { field, code: 'duplicate', message: `${field} must not contain duplicates` };
    case 'propertyNames':
      if (params.propertyName === '') {
        return {
          field,
          code: 'invalid_format',
          message: `${field} must not have an empty name: names are 1-40 characters of A-Z a-z 0-9 _ . -`,
        };
      }
      return {
        field: join(params.propertyName),
        code: 'invalid_format',
        message: `${join(params.propertyName)} is not an allowed name (1-40 characters of A-Z a-z 0-9 _ . -)`,
      };
    default:
      return { field, code: 'invalid_value', message: `${field} is not valid` };
  }
}

/**
 * The errors of a union (anyOf/oneOf) from the branch the value meant, the others' left out: a
 * branch the value's type does not fit, or whose discriminator (a `const`, such as `type`) it does
 * not match, was not meant; of the rest, the one with the fewest errors. When no branch is left,
 * all errors stay.
 */
function meantBranches(errors: ErrorObject[]): ErrorObject[] {
  let kept = errors;
  for (const union of errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')) {
    const prefix = `${union.schemaPath}/`;
    const branches = new Map<string, ErrorObject[]>();
    for (const error of kept) {
      if (!error.schemaPath.startsWith(prefix)) continue;
      const branch = error.schemaPath.slice(prefix.length).split('/')[0] as string;
      branches.set(branch, [...(branches.get(branch) ?? []), error]);
    }
    const meant = [...branches.values()]
      .filter(
        (list) =>
          !list.some(
            (e) =>
              (e.instancePath === union.instancePath && e.keyword === 'type') ||
              (e.keyword === 'const' && e.instancePath.startsWith(`${union.instancePath}/`)),
          ),
      )
      .sort((a, b) => a.length - b.length)[0];
    if (meant === undefined) continue;
    const unmeant = new Set([...branches.values()].filter((list) => list !== meant).flat());
    kept = kept.filter((error) => !unmeant.has(error));
  }
  return kept;
}

/**
 * At most this many of Ajv's errors become field errors: matching a union's errors to its branches
 * takes time in proportion to unions times errors.
 */
const MAX_AJV_ERRORS = 1_000;

/** The `400 validation_error` of a value Ajv refused. */
export function validationFailure(all: ErrorObject[], part: string | undefined): ApiError {
  const more = all.length > MAX_AJV_ERRORS;
  return validationError(fieldErrors(more ? all.slice(0, MAX_AJV_ERRORS) : all, part), { more });
}

/** Ajv's errors as one entry per field and problem, for the `errors` array of a 400 problem. */
function fieldErrors(all: ErrorObject[], part: string | undefined): FieldError[] {
  const errors = meantBranches(all);
  const seen = new Set<string>();
  const out: FieldError[] = [];
  // anyOf/oneOf report each failed branch too; the branch errors say more than the summary.
  // A bad object key yields a `propertyNames` error naming the key plus the failed rule on the
  // name itself (`propertyName` set); the first says it better.
  // A nullable field (a union with null) that holds a wrong value also fails the null branch;
  // "must be of type null" says nothing once the other branch says what is wrong.
  const explained = new Set(
    errors
      .filter(
        (e) => !['anyOf', 'oneOf'].includes(e.keyword) && !(e.keyword === 'type' && e.params.type === 'null'),
      )
      .map((e) => e.instancePath),
  );
  // A value of the wrong type fails its enum too; "must be of type string" says it.
  const wrongType = new Set(
    errors.filter((e) => e.keyword === 'type' && e.params.type !== 'null').map((e) => e.instancePath),
  );
  const specific = errors.filter(
    (e) =>
      e.keyword !== 'anyOf' &&
      e.keyword !== 'oneOf' &&
      e.propertyName === undefined &&
      !(e.keyword === 'type' && e.params.type === 'null' && explained.has(e.instancePath)) &&
      !(e.keyword === 'enum' && wrongType.has(e.instancePath)),
  );
  // One error per field, the first: a value too short for a pattern fails both, and the first
  // (Ajv checks length before pattern) says what to change.
  for (const error of specific.length > 0 ? specific : errors) {
    const mapped = toFieldError(error, part);
    if (!seen.has(mapped.field)) {
      seen.add(mapped.field);
      out.push(mapped);
    }
  }
  return out;
}
