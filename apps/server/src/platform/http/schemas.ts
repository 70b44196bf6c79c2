import { type SchemaOptions, type Static, type TSchema, Type } from '@sinclair/typebox';
import { DATE_FILTER_RULE } from '../dates.ts';
import { ERROR_CODES, type ErrorCode, problemSchema } from '../errors.ts';
import { type IdPrefix, idPattern } from '../ids.ts';
import { AmountSchema, CurrencySchema } from '../money.ts';
import { matching } from './pattern-rule.ts';

/** A string enum rendered as JSON-schema `enum` (clear errors, clean OpenAPI). */
export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

export function Nullable<T extends TSchema>(schema: T, options: SchemaOptions = {}) {
  return Type.Union([schema, Type.Null()], options);
}

export function Id(prefix: IdPrefix, options: SchemaOptions = {}) {
  return Type.String({
    ...matching(
      idPattern(prefix),
      `must be an id of the form ${prefix}_ then 26 characters of 0-9 and a-z but i, l, o and u, the first 0-7`,
    ),
    examples: [`${prefix}_01jd8x3v4w5y6z7a8b9c0d1e2f`],
    ...options,
  });
}

/** An ISO 8601 UTC timestamp; handlers may return a Date, which the serializer renders as such. */
export const Timestamp = Type.Unsafe<Date | string>({
  type: 'string',
  format: 'date-time',
  examples: ['2026-05-01T12:00:00.000Z'],
});

/** A timestamp sent by the client. */
export const TimestampInput = Type.String({ format: 'date-time', examples: ['2027-01-01T00:00:00.000Z'] });

/**
 * A filter date: `YYYY-MM-DD` (the whole UTC day) or a timestamp with a time zone, written as a
 * body's `date-time` may be (RFC 3339: `t`/`z` in either case, a space for the `T`, any number of
 * fraction digits, `+0100` or `+01:00`); the seconds may be left out. Hour 24 is not one.
 */
export const DateFilter = Type.String({
  ...matching(
    '^\\d{4}-\\d{2}-\\d{2}([Tt ]([01]\\d|2[0-3]):[0-5]\\d(:[0-5]\\d(\\.\\d+)?)?([Zz]|[+-]\\d{2}:?\\d{2}))?$',
    DATE_FILTER_RULE,
  ),
  description: '`YYYY-MM-DD` (whole day, UTC, inclusive) or an ISO 8601 timestamp',
  examples: ['2026-05-01'],
});

/**
 * Free-form string pairs a tenant attaches to a resource: at most 50 keys, 500 characters a value.
 * Written as plain JSON schema: TypeBox's Record turns the key pattern into `patternProperties`
 * without `additionalProperties: false`, which let any other key through with any value (nested
 * objects included) and dropped it again from responses.
 */
export const Metadata = Type.Unsafe<Record<string, string>>({
  type: 'object',
  propertyNames: {
    type: 'string',
    minLength: 1,
    maxLength: 40,
    ...matching('^[A-Za-z0-9_.-]+$', 'must be 1-40 characters of A-Z a-z 0-9 _ . -'),
  },
  additionalProperties: { type: 'string', maxLength: 500 },
  maxProperties: 50,
  description: 'Up to 50 string values keyed by names of up to 40 characters (`A-Z a-z 0-9 _ . -`)',
  examples: [{ crmId: 'hs-4411' }],
});

/**
 * The `{id}` path parameter. Deliberately without length or pattern limits: an id of the wrong
 * shape names nothing, so it is a 404 like any unknown id rather than a 400 that tells shapes apart.
 */
export const IdParams = (prefix: IdPrefix) =>
  Type.Object({
    id: Type.String({
      description: `The \`${prefix}_…\` id`,
      examples: [`${prefix}_01jd8x3v4w5y6z7a8b9c0d1e2f`],
    }),
  });

/** The schema's first example, lifted into an envelope so every documented response shows one. */
function envelopeExample<T extends TSchema>(schema: T, wrap: (example: unknown) => unknown): SchemaOptions {
  const example = (schema.examples as unknown[] | undefined)?.[0];
  return example === undefined ? {} : { examples: [wrap(example)] };
}

export function DataEnvelope<T extends TSchema>(schema: T) {
  return Type.Object(
    { data: schema },
    envelopeExample(schema, (data) => ({ data })),
  );
}

export const PaginationSchema = Type.Object(
  {
    page: Type.Optional(Type.Integer({ minimum: 1 })),
    limit: Type.Integer(),
    total: Type.Optional(Type.Integer({ minimum: 0 })),
    pages: Type.Optional(Type.Integer({ minimum: 0 })),
    nextCursor: Type.Optional(Nullable(Type.String())),
  },
  {
    description:
      'Classic mode: page, limit, total and pages. Cursor mode: nextCursor (null on the last page) and limit.',
  },
);

export function ListEnvelope<T extends TSchema>(schema: T) {
  return Type.Object(
    { data: Type.Array(schema), pagination: PaginationSchema },
    envelopeExample(schema, (row) => ({
      data: [row],
      pagination: { page: 1, limit: 50, total: 1, pages: 1, nextCursor: null },
    })),
  );
}

/** Codes every tenant route can answer with, besides its own. */
const COMMON_TENANT_ERRORS: ErrorCode[] = [
  'tenant_slug_missing',
  // An unknown query parameter, or a path that is not valid percent-encoding.
  'validation_error',
  // The admin key under /api/t/{slug}/v1 with a slug no tenant has.
  'tenant_not_found',
  'api_key_missing',
  'api_key_invalid',
  'api_key_revoked',
  'api_key_expired',
  'api_key_inactive',
  'insufficient_scope',
  'tenant_suspended',
  'ip_not_allowed',
  'rate_limited',
  'quota_exceeded',
  // An Expect header other than 100-continue.
  'expectation_failed',
  'internal_error',
  'service_unavailable',
];

const COMMON_ADMIN_ERRORS: ErrorCode[] = [
  'validation_error',
  'api_key_missing',
  'api_key_invalid',
  'rate_limited',
  'expectation_failed',
  'internal_error',
  'service_unavailable',
];

/** Codes every route can answer with: a wrong Expect, a fault, a request that came as the server stops. */
const COMMON_PUBLIC_ERRORS: ErrorCode[] = ['expectation_failed', 'internal_error', 'service_unavailable'];

/** The codes a documented problem response was made from, so more can be added to it later. */
const PROBLEM_CODES = Symbol('problemCodes');

type ProblemResponse = {
  description: string;
  content: Record<string, unknown>;
  [PROBLEM_CODES]: ErrorCode[];
};

function problemResponse(codes: ErrorCode[]): ProblemResponse {
  const schema = problemSchema(codes);
  const { examples, ...rest } = schema;
  return {
    description: schema.description as string,
    content: { 'application/problem+json': { schema: rest, example: examples?.[0] } },
    [PROBLEM_CODES]: codes,
  };
}

/** The codes grouped into one problem response per status, each code once. */
function byStatus(codes: readonly ErrorCode[]): Map<number, ErrorCode[]> {
  const grouped = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_CODES[code].status;
    grouped.set(status, [...(grouped.get(status) ?? []), code]);
  }
  return grouped;
}

/**
 * One problem response per status code for the given error codes, documented as what the error
 * handler sends: `application/problem+json` (RFC 9457), not `application/json`.
 */
export function errorResponses(codes: readonly ErrorCode[], scope: 'tenant' | 'admin' | 'public' = 'tenant') {
  const common =
    scope === 'tenant'
      ? COMMON_TENANT_ERRORS
      : scope === 'admin'
        ? COMMON_ADMIN_ERRORS
        : COMMON_PUBLIC_ERRORS;
  return Object.fromEntries(
    [...byStatus([...codes, ...common])].map(([status, list]) => [status, problemResponse(list)]),
  );
}

/**
 * Adds error codes to a route's documented responses, merged into the problem response of their
 * status: for answers that come from the platform around a route (body parsing, idempotency keys)
 * rather than from the route itself.
 */
export function addErrorResponses(
  response: Record<string | number, unknown> | undefined,
  codes: readonly ErrorCode[],
): Record<string | number, unknown> {
  const merged: Record<string | number, unknown> = { ...response };
  for (const [status, list] of byStatus(codes)) {
    const existing = merged[status] as Partial<ProblemResponse> | undefined;
    if (existing !== undefined && existing[PROBLEM_CODES] === undefined) continue;
    merged[status] = problemResponse([...new Set([...(existing?.[PROBLEM_CODES] ?? []), ...list])]);
  }
  return merged;
}

export type StaticOf<T extends TSchema> = Static<T>;

/** Money on the wire: a decimal string in the currency's own precision plus its ISO 4217 code. */
export const MoneySchema = Type.Object(
  {
    amount: AmountSchema,
    currency: CurrencySchema,
  },
  { additionalProperties: false, examples: [{ amount: '12.00', currency: 'EUR' }] },
);

export const BooleanQuery = StringEnum(['true', 'false'] as const);

/** The query string of a route that takes no parameters: an unknown one is a 400 like everywhere. */
export const NoQuery = Type.Object({}, { additionalProperties: false });
