import { Type } from '@sinclair/typebox';
import { REQUEST_METHODS } from '../http/methods.ts';
import { RouteFilterQuery } from '../http/route-filter.ts';
import { DateFilter, Nullable, StringEnum, Timestamp } from '../http/schemas.ts';
import { GRANULARITIES, MAX_POINTS, USAGE_GROUPS } from './query.ts';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

const Milliseconds = Nullable(Type.Number({ minimum: 0 }));

const Counts = {
  requests: Type.Integer({ minimum: 0, description: 'Every request answered' }),
  successes: Type.Integer({ minimum: 0, description: 'Answered with 1xx, 2xx or 3xx' }),
  clientErrors: Type.Integer({
    minimum: 0,
    description: 'Answered with 4xx, rate-limited requests included',
  }),
  serverErrors: Type.Integer({ minimum: 0, description: 'Answered with 5xx' }),
  rateLimited: Type.Integer({
    minimum: 0,
    description: 'Refused with 429 by a rate limit or quota (a part of clientErrors)',
  }),
  errorRate: Nullable(
    Type.Number({
      minimum: 0,
      maximum: 1,
      description:
        'Share of the requests answered with 4xx or 5xx (clientErrors + serverErrors over requests), 0 to 1, to four decimal places; null without requests',
    }),
  ),
  latency: Type.Object(
    { p50: Milliseconds, p95: Milliseconds, p99: Milliseconds },
    {
      description:
        'Response time percentiles in milliseconds, estimated from a histogram (about ±25 %); null without requests',
    },
  ),
};

const countsExample = {
  requests: 1250,
  successes: 1238,
  clientErrors: 12,
  serverErrors: 0,
  rateLimited: 4,
  errorRate: 0.0096,
  latency: { p50: 8.4, p95: 41.2, p99: 96.5 },
};

const pointExample = {
  start: '2026-05-01T00:00:00.000Z',
  end: '2026-05-02T00:00:00.000Z',
  route: '/api/v1/partners',
  method: 'GET',
  ...countsExample,
};

export const UsagePointSchema = Type.Object(
  {
    start: Timestamp,
    end: { ...Timestamp, description: 'End of the bucket (exclusive)' },
    keyId: Type.Optional(
      Nullable(Type.String({ description: 'With groupBy=key: the key, or null for the platform admin key' })),
    ),
    route: Type.Optional(
      Type.String({
        description: 'With groupBy=route: the route template',
        examples: ['/api/v1/partners/{id}'],
      }),
    ),
    method: Type.Optional(Type.String({ description: 'With groupBy=route: the HTTP method' })),
    statusClass: Type.Optional(StringEnum(STATUS_CLASSES, { description: 'With groupBy=status' })),
    ...Counts,
  },
  { examples: [pointExample] },
);

export const UsageReportSchema = Type.Object(
  {
    data: Type.Array(UsagePointSchema, {
      description:
        'One point per bucket (and group) that had requests, oldest first; empty buckets are left out',
    }),
    totals: Type.Object(Counts, { description: 'The whole range, all groups together' }),
    meta: Type.Object({
      granularity: StringEnum(GRANULARITIES),
      groupBy: Nullable(StringEnum(USAGE_GROUPS)),
      from: { ...Timestamp, description: 'Start of the first bucket' },
      to: { ...Timestamp, description: 'End of the last bucket (exclusive)' },
    }),
  },
  {
    examples: [
      {
        data: [pointExample],
        totals: countsExample,
        meta: {
          granularity: 'day',
          groupBy: 'route',
          from: '2026-05-01T00:00:00.000Z',
          to: '2026-05-02T00:00:00.000Z',
        },
      },
    ],
  },
);

const rangeFields = {
  from: Type.Optional({
    ...DateFilter,
    description: 'Start of the range: `YYYY-MM-DD` or a timestamp, rounded down to the start of its bucket',
  }),
  to: Type.Optional({
    ...DateFilter,
    description: 'End of the range, inclusive (`YYYY-MM-DD` covers the whole day); default now',
  }),
  granularity: Type.Optional(
    StringEnum(GRANULARITIES, {
      description: `Bucket size (UTC; weeks start on Monday). Default \`day\`. Without \`from\`: the last 60 minutes, 24 hours, 30 days, 12 weeks or 12 months. At most ${MAX_POINTS} buckets; minutes reach back 7 days, hours 90 days, days for good.`,
    }),
  ),
  route: Type.Optional(RouteFilterQuery),
  method: Type.Optional(StringEnum(REQUEST_METHODS, { description: 'Only this HTTP method' })),
};

export const UsageQuery = Type.Object(
  {
    ...rangeFields,
    groupBy: Type.Optional(
      StringEnum(USAGE_GROUPS, {
        description: 'Split each bucket by key, by route and method, or by status class',
      }),
    ),
    keyId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'Only this key',
        examples: ['key_01jd8x3v4w5y6z7a8b9c0d1e2f'],
      }),
    ),
  },
  { additionalProperties: false },
);

export const KeyUsageQuery = Type.Object(
  {
    ...rangeFields,
    groupBy: Type.Optional(
      StringEnum(['route', 'status'] as const, {
        description: 'Split each bucket by route and method, or by status class',
      }),
    ),
  },
  { additionalProperties: false },
);
