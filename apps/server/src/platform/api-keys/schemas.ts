import { Type } from '@sinclair/typebox';
import { MAX_ALLOWED_IPS } from '../auth/ip-allowlist.ts';
import { SCOPE_NAMES } from '../auth/scopes.ts';
import { NOT_BLANK } from '../http/pattern-rule.ts';
import { Id, Metadata, Nullable, StringEnum, Timestamp, TimestampInput } from '../http/schemas.ts';

export const KEY_STATUSES = ['active', 'inactive', 'expired', 'revoked'] as const;

export const ScopeList = Type.Array(StringEnum(SCOPE_NAMES), {
  minItems: 1,
  maxItems: SCOPE_NAMES.length,
  uniqueItems: true,
  description: '`resource:action` scopes or the shorthands `read`, `write`, `admin`',
  examples: [['partners:read', 'partners:write']],
});

export const KeyName = Type.String({ minLength: 1, maxLength: 100, ...NOT_BLANK, examples: ['CRM sync'] });
export const KeyDescription = Type.String({ maxLength: 500 });

export const AllowedIps = Type.Array(Type.String({ minLength: 2, maxLength: 49 }), {
  // An empty list would shut the key out everywhere: null is the way to allow every address.
  minItems: 1,
  maxItems: MAX_ALLOWED_IPS,
  description:
    'IP addresses or CIDR blocks (IPv4 and IPv6) the key may be used from; other addresses get 403 `ip_not_allowed`. `null` allows every address. Each entry is an address (IPv4 in dotted decimal, IPv6 without a `%zone`) or `address/prefix` with a prefix length in plain decimal (no leading zero) of at most 32 or 128, with nothing around it; anything else is a 400 naming `allowedIps.<index>`. Stored with IPv6 in lower case and compressed (`2001:DB8:0::1` becomes `2001:db8::1`) and each entry once',
  examples: [['203.0.113.7', '10.0.0.0/8', '2001:db8::/32']],
});

export const KeyRateLimitSchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Requests allowed per window' }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
  },
  {
    additionalProperties: false,
    description: "Overrides the tenant plan's limit for this key",
    examples: [{ limit: 100, windowSeconds: 60 }],
  },
);

export const KeyQuotaSchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Requests allowed per period' }),
    period: StringEnum(['day', 'month'] as const, {
      description: 'Calendar day or month in UTC; the count starts again at 00:00 UTC (on the 1st)',
    }),
  },
  {
    additionalProperties: false,
    description:
      'A budget of requests per calendar period on top of the rate limit; when spent, requests get 429 `quota_exceeded` until the period ends',
    examples: [{ limit: 100_000, period: 'month' }],
  },
);

export const ExpiresAtInput = { ...TimestampInput, description: 'When the key stops working' };

const keyExample = {
  id: 'key_01jd8x3v4w5y6z7a8b9c0d1e2f',
  name: 'CRM sync',
  description: 'Nightly sync of partners into the CRM',
  scopes: ['read'],
  environment: 'live',
  start: 'plk_live_01jd8x3v4w5y6z7a8b9c0d1e2f',
  status: 'active',
  allowedIps: ['203.0.113.0/24'],
  rateLimit: null,
  quota: { limit: 100_000, period: 'month' },
  metadata: {},
  createdBy: 'key_01jd8x0000000000000000000a',
  createdAt: '2026-05-01T12:00:00.000Z',
  updatedAt: '2026-05-01T12:00:00.000Z',
  lastUsedAt: '2026-05-02T08:30:00.000Z',
  lastUsedIp: '203.0.113.7',
  requestCount: 1234,
  expiresAt: null,
  deactivatedAt: null,
  revokedAt: null,
  replacedBy: null,
};

const keyFields = {
  id: Id('key'),
  name: Type.String(),
  description: Nullable(Type.String()),
  scopes: Type.Array(Type.String()),
  environment: StringEnum(['live', 'test'] as const),
  start: Type.String({ description: 'The non-secret beginning of the key, to recognise it in lists' }),
  status: StringEnum(KEY_STATUSES, {
    description:
      '`inactive`: deactivated, can be activated again; `expired`: past expiresAt; `revoked`: for good',
  }),
  allowedIps: Nullable(Type.Array(Type.String())),
  rateLimit: Nullable(KeyRateLimitSchema),
  quota: Nullable(KeyQuotaSchema),
  metadata: Metadata,
  createdBy: Nullable(
    Type.String({ description: 'The key id, `admin`, `cli` or `bootstrap` that created it' }),
  ),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  lastUsedAt: Nullable({ ...Timestamp, description: 'Updated about once a minute' }),
  lastUsedIp: Nullable(Type.String()),
  requestCount: Type.Integer({ description: 'Requests made with this key (a few seconds behind)' }),
  expiresAt: Nullable(Timestamp),
  deactivatedAt: Nullable(Timestamp),
  revokedAt: Nullable(Timestamp),
  replacedBy: Nullable(Id('key', { description: 'After a rotation: the key that replaced this one' })),
};

export const ApiKeySchema = Type.Object(keyFields, { examples: [keyExample] });

export const CreatedApiKeySchema = Type.Object(
  {
    ...keyFields,
    key: Type.Optional(
      Type.String({
        description:
          'The plaintext key. Returned only in this response: store it now. Absent from an idempotent replay (`idempotent-replayed: true`).',
      }),
    ),
  },
  {
    examples: [{ ...keyExample, key: 'plk_live_01jd8x3v4w5y6z7a8b9c0d1e2f_Xy7…' }],
  },
);
