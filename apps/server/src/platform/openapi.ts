import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { matching } from './http/pattern-rule.ts';
import { idPattern } from './ids.ts';

const DESCRIPTION = `Partnerline's public API: partners, customers, conversion events, transactions, commissions and payouts of a partner program, secured by scoped API keys.

**Base URLs.** \`/api/v1/…\` acts on the API key's own tenant. \`/api/t/{slug}/v1/…\` names the tenant in the path (the paths below work under either, but for \`POST /api/v1/api-keys/revoke-leaked\`, which takes keys of any tenant), and \`{slug}.<BASE_DOMAIN>/api/v1/…\` names it by host when the server sets \`BASE_DOMAIN\`. The platform admin key (\`ADMIN_API_KEY\`) manages tenants under \`/api/admin\` and may call any tenant URL that names its tenant.

**Errors** are RFC 9457 problem documents (\`application/problem+json\`) with a stable \`code\`. **Lists** page classically (\`page\`, \`limit\`) or by cursor (\`cursor\`, \`limit\`). **Money** is a decimal string plus an ISO 4217 currency code.

**Headers.** Every response carries \`X-Request-Id\`. Requests made with a tenant key take from its rate limit and report it in \`X-RateLimit-*\`, \`RateLimit-Policy\` and \`RateLimit\` (and its quota in \`X-Quota-*\` when it has one); requests without a key take from a budget per client IP. The platform admin key is not limited, nor are the health probes. A \`429\` says when to retry in \`Retry-After\`.`;

/** An OpenAPI Header Object, as `components.headers` holds it. */
interface HeaderObject {
  description: string;
  required?: true;
  schema: { type: 'string' | 'integer'; pattern?: string; minimum?: number; examples: unknown[] };
}

const integerHeader = (description: string, examples: number[]): HeaderObject => ({
  description,
  schema: { type: 'integer', minimum: 0, examples },
});

/** Every response header the document declares, each once: responses refer to them by name. */
const RESPONSE_HEADERS = {
  'X-Request-Id': {
    description:
      "The request's id (`req_…`), also the problem's `requestId` (but in a replayed answer, `Idempotent-Replayed: true`, whose body is the first answer's): quote it when reporting a problem.",
    required: true,
    schema: { type: 'string', pattern: idPattern('req'), examples: ['req_01jd8x3v4w5y6z7a8b9c0d1e2f'] },
  },
  'X-RateLimit-Limit': integerHeader('Requests per window of the budget the request took from.', [600]),
  'X-RateLimit-Remaining': integerHeader('Requests of that budget that would fit right now.', [599]),
  'X-RateLimit-Reset': integerHeader('Unix time (seconds) at which that budget is full again.', [1777636861]),
  'RateLimit-Policy': {
    description:
      'That budget, IETF draft format `"<policy>";q=<limit>;w=<windowSeconds>`. The policy is the tenant plan, `key` (the key\'s own `rateLimit`), a route the operator limits, or a budget per client IP: `unauthenticated` for requests without a key or with a refused one, `leak-reports` for `POST /api-keys/revoke-leaked`, `auth-failures` for the 429 of the failed-authentication guard.',
    schema: { type: 'string', pattern: '^"[^"]+";q=\\d+;w=\\d+$', examples: ['"default";q=600;w=60'] },
  },
  RateLimit: {
    description:
      'What is left of that budget, IETF draft format `"<policy>";r=<remaining>;t=<seconds until full again>`.',
    schema: { type: 'string', pattern: '^"[^"]+";r=\\d+;t=\\d+$', examples: ['"default";r=599;t=1'] },
  },
  'X-Quota-Limit': integerHeader(
    'Present only when the key has a quota: its requests per calendar day or month (UTC).',
    [10000],
  ),
  'X-Quota-Remaining': integerHeader(
    'Present only when the key has a quota: its requests left in the current period.',
    [9999],
  ),
  'X-Quota-Reset': integerHeader(
    'Present only when the key has a quota: unix time (seconds) at which the current period ends.',
    [1777680000],
  ),
  'Retry-After': {
    description: 'Seconds to wait before the request can succeed.',
    required: true,
    schema: { type: 'integer', minimum: 1, examples: [1] },
  },
  'Retry-After-If-In-Flight': {
    description:
      'Seconds to wait before sending the request again: on `idempotency_key_in_flight` only, while the first request with the same `Idempotency-Key` runs.',
    schema: { type: 'integer', minimum: 1, examples: [1] },
  },
  ETag: {
    description: 'The version of the resource, to send back as `If-Match` on PATCH.',
    schema: { type: 'string', pattern: '^"v\\d+"$', examples: ['"v3"'] },
  },
  'Idempotent-Replayed': {
    description:
      'Present, `true`, when the answer replays the first one given to the same `Idempotency-Key` and body.',
    schema: { type: 'string', pattern: '^true$', examples: ['true'] },
  },
  'Accept-Encoding': {
    description:
      '`identity`: on a `415` refusing a body sent with `Content-Encoding`, the body must be sent uncompressed.',
    schema: { type: 'string', pattern: '^identity$', examples: ['identity'] },
  },
  'WWW-Authenticate': {
    description:
      'The RFC 6750 challenge: `Bearer realm="partnerline"`, plus `error="invalid_token"` and the problem code as `error_description` when a key was refused.',
    required: true,
    schema: { type: 'string', examples: ['Bearer realm="partnerline"'] },
  },
} satisfies Record<string, HeaderObject>;

type HeaderName = keyof typeof RESPONSE_HEADERS;

/** Header components named otherwise than the header they describe. */
const HEADER_OF: Partial<Record<HeaderName, string>> = { 'Retry-After-If-In-Flight': 'Retry-After' };

const RATE_LIMIT_HEADERS: HeaderName[] = [
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'RateLimit-Policy',
  'RateLimit',
];
const QUOTA_HEADERS: HeaderName[] = ['X-Quota-Limit', 'X-Quota-Remaining', 'X-Quota-Reset'];
/** Set by the error handler (401, 503), by every refusal of a budget (429) and of an encoded body (415). */
const STATUS_HEADERS: Record<string, HeaderName[]> = {
  '401': ['WWW-Authenticate'],
  '429': ['Retry-After'],
  '503': ['Retry-After'],
  '415': ['Accept-Encoding'],
};

/** Marks an operation as behind the tenant key gate; consumed, and removed, by `declareResponseHeaders`. */
const KEY_GATED = 'x-partnerline-key-gated';

/**
 * Marks a tenant API route, whose key gate sets the rate-limit and quota headers: the document then
 * declares them on every response of its operation.
 */
export function documentKeyGate(schema: FastifySchema | undefined, scope: string | undefined): FastifySchema {
  return { ...schema, [KEY_GATED]: true, ...(scope ? { [SCOPE]: scope } : {}) } as FastifySchema;
}

/** The scope a tenant route requires; consumed, and removed, by `declareResponseHeaders`. */
const SCOPE = 'x-partnerline-scope';

/**
 * States the scope an operation requires: as the role of both security schemes (OpenAPI 3.1 lets
 * schemes other than OAuth name roles), and in its description unless that names it already.
 */
function declareScope(operation: OpenApiOperation, scope: string): void {
  operation.security = [{ ApiKeyHeader: [scope] }, { BearerAuth: [scope] }];
  const description = operation.description ?? '';
  if (!description.includes(`\`${scope}\``)) {
    operation.description = `${description}${description ? '\n\n' : ''}Requires the scope \`${scope}\`.`;
  }
}

/** Marks a POST outside the tenant API that takes Idempotency-Key (the admin API's). */
const IDEMPOTENT = 'x-partnerline-idempotent';

export function documentIdempotencyKey(schema: FastifySchema | undefined): FastifySchema {
  return { ...schema, [IDEMPOTENT]: true } as FastifySchema;
}

/** Marks a route outside the tenant API every answer of which takes from a budget per client IP. */
const IP_LIMITED = 'x-partnerline-ip-limited';

export function documentIpLimit<T extends FastifySchema>(schema: T): T {
  return { ...schema, [IP_LIMITED]: true };
}

/** Marks a route whose successful answers carry the resource's ETag (route config `etag`). */
const ETAGGED = 'x-partnerline-etag';

export function documentEtag(schema: FastifySchema | undefined): FastifySchema {
  return { ...schema, [ETAGGED]: true } as FastifySchema;
}

/**
 * Marks a route that takes an absent body as `{}` (the tenant API's POSTs and DELETEs): its body is
 * then optional wherever `{}` is a valid body, which `declareOptionalBody` works out from the schema.
 */
const ABSENT_BODY_IS_EMPTY = 'x-partnerline-absent-body-is-empty';

export function documentAbsentBodyAsEmpty(schema: FastifySchema | undefined): FastifySchema {
  return { ...schema, [ABSENT_BODY_IS_EMPTY]: true } as FastifySchema;
}

interface RequestBodyObject {
  required?: boolean;
  content?: Record<string, { schema?: { type?: unknown; required?: unknown[] }; example?: unknown }>;
}

/**
 * @fastify/swagger marks every request body required. Where an absent body counts as `{}` and the
 * schema needs no field, a client may send none: the body is optional, and `{}` is its example
 * when the schema gives none.
 */
function declareOptionalBody(operation: OpenApiOperation): void {
  const body = operation.requestBody;
  const media = Object.values(body?.content ?? {});
  if (body === undefined || media.length === 0) return;
  const acceptsEmptyObject = media.every(
    ({ schema }) => schema?.type === 'object' && (schema.required?.length ?? 0) === 0,
  );
  if (!acceptsEmptyObject) return;
  body.required = false;
  for (const item of media) item.example ??= {};
}

/**
 * The headers a response may carry. Past the key gate every answer reports the key's budgets; on
 * other routes a request without a valid key takes from a budget per client IP, which refuses it
 * (401 or 429), except the leak report, every answer of which takes from one. Successful answers
 * of versioned resources carry their ETag; POST answers may be replays.
 */
function responseHeaderNames(
  status: string,
  operation: { keyGated: boolean; ipLimited: boolean; idempotentPost: boolean; etag: boolean },
): HeaderName[] {
  const code = Number(status);
  const limits = operation.keyGated
    ? [...RATE_LIMIT_HEADERS, ...QUOTA_HEADERS]
    : operation.ipLimited || status === '401' || status === '429'
      ? RATE_LIMIT_HEADERS
      : [];
  const names: HeaderName[] = ['X-Request-Id', ...limits, ...(STATUS_HEADERS[status] ?? [])];
  if (operation.etag && code >= 200 && code < 300) names.push('ETag');
  if (operation.idempotentPost) {
    // Answers are kept and replayed but for those a retry may change (5xx, 429, 409 in flight).
    if (code < 500 && code !== 429) names.push('Idempotent-Replayed');
    if (code === 409) names.push('Retry-After-If-In-Flight');
  }
  return names;
}

interface OpenApiOperation {
  parameters?: unknown[];
  requestBody?: RequestBodyObject;
  responses?: Record<string, { headers?: Record<string, unknown> }>;
  description?: string;
  security?: Record<string, string[]>[];
  [KEY_GATED]?: boolean;
  [IDEMPOTENT]?: boolean;
  [ETAGGED]?: boolean;
  [IP_LIMITED]?: boolean;
  [SCOPE]?: string;
  [ABSENT_BODY_IS_EMPTY]?: boolean;
}

/** The header every POST of the tenant and admin APIs takes (see idempotency.ts). */
const IDEMPOTENCY_KEY = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Applies the POST at most once: the same key with the same body within 24 hours replays the first answer (`Idempotent-Replayed: true`); with another body it is 422 `idempotency_key_reused`, and 409 `idempotency_key_in_flight` while the first request runs',
  schema: {
    type: 'string',
    minLength: 1,
    maxLength: 255,
    ...matching('^[\\x21-\\x7e]+$', 'must be 1-255 visible ASCII characters'),
  },
  example: 'order-4711-payout',
};

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/**
 * Completes the generated document from the markers the routes left: each response gets a `$ref`
 * to every header it may carry, POSTs their Idempotency-Key, tenant operations their scope, bodies
 * a client may leave out `required: false`.
 */
function declareResponseHeaders<T extends { paths?: object }>(document: T): T {
  for (const pathItem of Object.values(document.paths ?? {}) as Record<string, OpenApiOperation>[]) {
    for (const [method, operation] of Object.entries(pathItem)) {
      if (!HTTP_METHODS.has(method)) continue;
      const keyGated = operation[KEY_GATED] === true;
      const idempotentPost = method === 'post' && (keyGated || operation[IDEMPOTENT] === true);
      const etag = operation[ETAGGED] === true;
      const ipLimited = operation[IP_LIMITED] === true;
      delete operation[IP_LIMITED];
      delete operation[KEY_GATED];
      delete operation[IDEMPOTENT];
      delete operation[ETAGGED];
      const scope = operation[SCOPE];
      delete operation[SCOPE];
      if (scope) declareScope(operation, scope);
      if (operation[ABSENT_BODY_IS_EMPTY] === true) declareOptionalBody(operation);
      delete operation[ABSENT_BODY_IS_EMPTY];
      if (idempotentPost) operation.parameters = [...(operation.parameters ?? []), IDEMPOTENCY_KEY];
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const names = responseHeaderNames(status, { keyGated, ipLimited, idempotentPost, etag });
        const refs = names.map((name) => [HEADER_OF[name] ?? name, { $ref: `#/components/headers/${name}` }]);
        response.headers = { ...Object.fromEntries(refs), ...response.headers };
      }
    }
  }
  return document;
}

/** The OpenAPI 3.1 document at /api/doc.json, generated from the route schemas, and Swagger UI at /api/doc. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Partnerline API',
        version: '1.0.0',
        description: DESCRIPTION,
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      // Relative: the document describes whichever host serves it, so Swagger UI's "Try it out"
      // calls that host and no deployment is told to call localhost.
      servers: [{ url: '/', description: 'The server this document was fetched from' }],
      tags: [
        { name: 'API keys', description: 'Scoped keys: created once, shown once, revocable' },
        { name: 'Partners', description: 'The people and companies who refer customers' },
        { name: 'Partner groups', description: 'Groups of partners and the commission rules they earn by' },
        { name: 'Customers', description: 'The customers partners referred, attributed to a partner' },
        {
          name: 'Events',
          description: 'Conversion events the tenant reports: clicks, leads, sales and refunds',
        },
        { name: 'Transactions', description: 'Sales and refunds, approved or rejected before they pay out' },
        {
          name: 'Commissions',
          description: 'What partners earned on transactions, by the rules of their group',
        },
        {
          name: 'Payouts',
          description: "Gather a partner's approved commissions per currency and month, then mark them paid",
        },
        {
          name: 'Usage',
          description:
            'Requests per minute, hour, day, week or month: by key, route and status, with latency',
        },
        { name: 'Request logs', description: 'Every request of the last days, with its status and timing' },
        { name: 'Audit log', description: 'Who changed what, when and from where' },
        {
          name: 'Webhooks',
          description:
            'Endpoints subscribed to events, signed per Standard Webhooks, retried, logged and resendable',
        },
        { name: 'Tenants', description: 'Platform administration with ADMIN_API_KEY' },
        { name: 'Health', description: 'Liveness and readiness probes' },
      ],
      components: {
        securitySchemes: {
          ApiKeyHeader: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-Key',
            description: 'The API key in a header',
          },
          BearerAuth: { type: 'http', scheme: 'bearer', description: 'The API key as a bearer token' },
        },
        headers: RESPONSE_HEADERS,
      },
      security: [{ ApiKeyHeader: [] }, { BearerAuth: [] }],
    },
    transformObject: (document) =>
      'openapiObject' in document ? declareResponseHeaders(document.openapiObject) : document.swaggerObject,
  });
  // The UI's pages and files: a content security policy (the UI's own scripts and styles only),
  // not to be framed by other sites nor sniffed as another type. A key given to Authorize lasts as
  // long as the page: it is not kept in the browser's storage. No spec validator is called: it
  // would send the document's address to a third party.
  await app.register(async (docs) => {
    docs.addHook('onSend', async (_request, reply) => {
      reply.header('x-content-type-options', 'nosniff');
      reply.header('x-frame-options', 'SAMEORIGIN');
      reply.header('referrer-policy', 'no-referrer');
    });
    await docs.register(swaggerUi, {
      routePrefix: '/api/doc',
      uiConfig: { displayRequestDuration: true, validatorUrl: null },
      staticCSP: true,
      // Plain-HTTP deployments (a local server, a private network) must still load the UI's files.
      transformStaticCSP: (policy) => policy.replace(/\s*upgrade-insecure-requests;/, ''),
    });
  });
  // The documented address of the document; Swagger UI keeps its own copy at /api/doc/json.
  app.get('/api/doc.json', { schema: { hide: true } }, async () => app.swagger());
}
