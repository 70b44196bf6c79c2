import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldError } from '../errors.ts';

// ajv-formats ships CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

function createAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

// Query strings and path parameters arrive as text and are coerced; JSON bodies are taken as sent.
const coercing = createAjv(true);
const exact = createAjv(false);

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'querystring' || httpPart === 'params' ? coercing : exact;
  return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
};

function describe(limit: unknown, unit: string, plural = `${unit}s`): string {
  return `${String(limit)} ${limit === 1 ? unit : plural}`;
}

function toFieldError(error: ErrorObject, part: string | undefined): FieldError {
  const path = error.instancePath.split('/').filter(Boolean).join('.');
  const params = error.params as Record<string, unknown>;
  const join = (name: unknown) => [path, String(name)].filter(Boolean).join('.');
  const field = path || part || 'body';
  switch (error.keyword) {
    case 'required':
      return {
        field: join(params.missingProperty),
        code: 'required',
        message: `${join(params.missingProperty)} is required`,
      };
    case 'additionalProperties':
      return {
        field: join(params.additionalProperty),
        code: 'unknown_field',
        message: `${join(params.additionalProperty)} is not a known field`,
      };
    case 'type':
      return { field, code: 'invalid_type', message: `${field} must be of type ${String(params.type)}` };
    case 'format':
      return { field, code: 'invalid_format', message: `${field} must be a valid ${String(params.format)}` };
    case 'pattern':
      return { field, code: 'invalid_format', message: `${field} has an invalid format` };
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
      return {
        field: join(params.propertyName),
        code: 'invalid_format',
        message: `${join(params.propertyName)} is not an allowed name (1-40 characters of A-Z a-z 0-9 _ . -)`,
      };
    default:
      return { field, code: 'invalid_value', message: `${field} is not valid` };
  }
}

/** Ajv's errors as one entry per field and problem, for the `errors` array of a 400 problem. */
export function fieldErrors(errors: ErrorObject[], part: string | undefined): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  // anyOf/oneOf report each failed branch too; the branch errors say more than the summary.
  // A bad object key yields a `propertyNames` error naming the key plus the failed rule on the
  // name itself (`propertyName` set); the first says it better.
  const specific = errors.filter(
    (e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.propertyName === undefined,
  );
  for (const error of specific.length > 0 ? specific : errors) {
    const mapped = toFieldError(error, part);
    const id = `${mapped.field}|${mapped.code}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(mapped);
    }
  }
  return out;
}
