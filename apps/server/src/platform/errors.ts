import { type TSchema, Type } from '@sinclair/typebox';

/**
 * Every error code the API returns, with its HTTP status and title. The OpenAPI problem schema and
 * the `ErrorCode` union are derived from this table, so documented and returned codes cannot differ.
 * `retryable` marks answers about a passing state (something not there yet, a concurrent change, a
 * limit, an outage): the very same request may succeed later, so such an answer is never stored
 * for its Idempotency-Key.
 */
export const ERROR_CODES = {
  validation_error: { status: 400, title: 'Validation failed' },
  invalid_json: { status: 400, title: 'Malformed JSON body' },
  invalid_cursor: { status: 400, title: 'Invalid cursor' },
  tenant_slug_missing: { status: 400, title: 'Tenant not specified' },
  api_key_missing: { status: 401, title: 'API key missing' },
  api_key_invalid: { status: 401, title: 'API key invalid' },
  api_key_revoked: { status: 401, title: 'API key revoked' },
  api_key_expired: { status: 401, title: 'API key expired' },
  api_key_inactive: { status: 401, title: 'API key inactive' },
  insufficient_scope: { status: 403, title: 'Insufficient scope' },
  tenant_suspended: { status: 403, title: 'Tenant suspended' },
  ip_not_allowed: { status: 403, title: 'IP address not allowed' },
  key_restrictions_exceeded: { status: 403, title: "Beyond the key's own restrictions" },
  not_found: { status: 404, title: 'Not found' },
  tenant_not_found: { status: 404, title: 'Tenant not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  request_timeout: { status: 408, title: 'Request timeout', retryable: true },
  conflict: { status: 409, title: 'Conflict', retryable: true },
  tenant_slug_taken: { status: 409, title: 'Tenant slug taken' },
  partner_email_taken: { status: 409, title: 'Partner email taken' },
  referral_code_taken: { status: 409, title: 'Referral code taken' },
  group_key_taken: { status: 409, title: 'Group key taken' },
  customer_external_id_taken: { status: 409, title: 'Customer external id taken' },
  sale_not_found: { status: 409, title: 'Sale not found', retryable: true },
  refund_exceeds_sale: { status: 409, title: 'Refund exceeds sale' },
  invalid_state: { status: 409, title: 'Invalid state for this action' },
  partner_not_eligible: { status: 409, title: 'Partner cannot earn' },
  nothing_to_pay: { status: 409, title: 'Nothing to pay', retryable: true },
  invite_invalid: { status: 410, title: 'Invite no longer valid' },
  idempotency_key_in_flight: { status: 409, title: 'Idempotent request in progress', retryable: true },
  precondition_failed: { status: 412, title: 'Precondition failed' },
  idempotency_key_reused: { status: 422, title: 'Idempotency key reused' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  expectation_failed: { status: 417, title: 'Expectation failed' },
  headers_too_large: { status: 431, title: 'Request headers too large' },
  rate_limited: { status: 429, title: 'Too many requests', retryable: true },
  quota_exceeded: { status: 429, title: 'Quota exceeded', retryable: true },
  internal_error: { status: 500, title: 'Internal server error', retryable: true },
  service_unavailable: { status: 503, title: 'Service unavailable', retryable: true },
} as const satisfies Record<string, { status: number; title: string; retryable?: true }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Whether the same request may succeed later (see ERROR_CODES). */
export function isRetryable(code: ErrorCode): boolean {
  return 'retryable' in ERROR_CODES[code];
}

export const PROBLEM_TYPE_BASE = 'https://partnerline.dev/problems/';

export interface FieldError {
  field: string;
  code: string;
  message: string;
}

/** The one error type domain code throws; the error handler renders it as RFC 9457 problem+json. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string> | undefined;
  readonly extra: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    detail: string,
    options: {
      errors?: FieldError[];
      headers?: Record<string, string>;
      extra?: Record<string, unknown>;
    } = {},
  ) {
    super(detail);
    this.name = 'ApiError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.errors = options.errors;
    this.headers = options.headers;
    this.extra = options.extra;
  }
}

export function notFound(resource: string, id: string): ApiError {
  return new ApiError('not_found', `No ${resource} with id ${id}`);
}

/** How much of a name or value from the request an error quotes. */
const MAX_QUOTED_LENGTH = 64;

/**
 * A name or value from the request as an error quotes it: its first 64 characters, then `…`. A
 * refused request's answer stays small however long the text it sent.
 */
export function quoted(text: string): string {
  if (text.length <= MAX_QUOTED_LENGTH) return text;
  // Not between the two halves of a surrogate pair.
  const last = text.charCodeAt(MAX_QUOTED_LENGTH - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? MAX_QUOTED_LENGTH - 1 : MAX_QUOTED_LENGTH;
  return `${text.slice(0, end)}…`;
}

/** A field deeper than this many keys is named by its last ones. */
export const MAX_FIELD_KEYS = 8;

/**
 * A field as errors name it: its keys joined with `.`, each quoted (`quoted`); one nested deeper
 * than MAX_FIELD_KEYS is named `…` and its last keys.
 */
export function fieldPath(keys: readonly string[]): string {
  const named = keys.length > MAX_FIELD_KEYS ? ['…', ...keys.slice(-MAX_FIELD_KEYS)] : keys;
  return named.map(quoted).join('.');
}

/** A 400 lists this many field errors at most; its detail says how many more there were. */
const MAX_LISTED_ERRORS = 20;

/**
 * A `400 validation_error` naming each field error, the first MAX_LISTED_ERRORS of them: a refused
 * request's answer stays small however many errors its body holds. `more` says that there were
 * more than `errors` holds, uncounted.
 */
export function validationError(errors: FieldError[], options: { more?: boolean } = {}): ApiError {
  const listed = errors.length > MAX_LISTED_ERRORS ? errors.slice(0, MAX_LISTED_ERRORS) : errors;
  const unlisted = errors.length - listed.length;
  let detail = listed.map((e) => e.message).join('; ');
  if (options.more) detail += '; and more';
  else if (unlisted > 0) detail += `; and ${unlisted} more`;
  return new ApiError('validation_error', detail, { errors: listed });
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  requestId: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export function problemBody(error: ApiError, requestId: string): Problem {
  return {
    ...error.extra,
    type: `${PROBLEM_TYPE_BASE}${error.code}`,
    title: ERROR_CODES[error.code].title,
    status: error.status,
    code: error.code,
    detail: error.message,
    requestId,
    ...(error.errors ? { errors: error.errors } : {}),
  };
}

const FieldErrorSchema = Type.Object({
  field: Type.String({ description: 'The request field, as a dotted path (`metadata.plan`)' }),
  code: Type.String({ description: 'What is wrong with it: required, invalid_type, invalid_format, …' }),
  message: Type.String(),
});

/** The OpenAPI schema of a problem document carrying one of the given codes. */
/** What `insufficient_scope` adds: the route's scope, or the scopes a new key may not be given. */
const SCOPE_PROBLEM_FIELDS = {
  requiredScope: Type.Optional(
    Type.String({
      description: 'The scope the route requires and the key lacks',
      examples: ['partners:write'],
    }),
  ),
  missingScopes: Type.Optional(
    Type.Array(Type.String(), {
      description: "The requested scopes beyond the caller's own (creating or changing a key)",
      examples: [['admin']],
    }),
  ),
};

export function problemSchema(codes: readonly ErrorCode[]): TSchema {
  const first = codes[0] ?? 'internal_error';
  const status = ERROR_CODES[first].status;
  return Type.Object(
    {
      type: Type.String({ format: 'uri' }),
      title: Type.String(),
      status: Type.Integer(),
      code: Type.Union(codes.map((code) => Type.Literal(code))),
      detail: Type.String(),
      requestId: Type.String(),
      errors: Type.Optional(Type.Array(FieldErrorSchema)),
      ...(codes.includes('insufficient_scope') ? SCOPE_PROBLEM_FIELDS : {}),
    },
    {
      additionalProperties: true,
      description: `RFC 9457 problem details; \`code\` is one of: ${codes.join(', ')}`,
      examples: [
        {
          type: `${PROBLEM_TYPE_BASE}${first}`,
          title: ERROR_CODES[first].title,
          status,
          code: first,
          detail: ERROR_CODES[first].title,
          requestId: 'req_01jd8x3v4w5y6z7a8b9c0d1e2f',
        },
      ],
    },
  );
}
