import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { dateBound, withinDates } from '../dates.ts';
import type { App } from '../http/fastify-types.ts';
import { REQUEST_METHODS } from '../http/methods.ts';
import { RouteFilterQuery, routeFilter } from '../http/route-filter.ts';
import {
  DateFilter,
  errorResponses,
  Id,
  ListEnvelope,
  Nullable,
  StringEnum,
  Timestamp,
} from '../http/schemas.ts';
import { authOf } from '../http/tenant-api.ts';
import { PaginationQuery, paginate } from '../pagination.ts';
import { BUCKET_LENGTH, type RequestLogsTable, requestLogDb } from './table.ts';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const DAY_MS = 86_400_000;

const RequestLogSchema = Type.Object(
  {
    id: Id('req', { description: 'The request id, as returned in `X-Request-Id`' }),
    createdAt: Timestamp,
    keyId: Nullable(Type.String({ description: 'The key that called; null for the platform admin key' })),
    method: Type.String(),
    path: Type.String({ description: 'The URL path as requested, without the query string' }),
    route: Nullable(Type.String({ description: 'The route template that answered' })),
    status: Type.Integer({
      description: 'The status answered; 499 when the client closed the connection before an answer went out',
    }),
    latencyMs: Type.Number({ description: 'Time to the last byte of the response, in milliseconds' }),
    ip: Nullable(Type.String()),
    userAgent: Nullable(Type.String({ description: 'The first 512 characters of `User-Agent`' })),
    responseBytes: Nullable(
      Type.Integer({ description: 'Size of the response body; null when no answer went out whole' }),
    ),
    errorCode: Nullable(
      Type.String({
        description: 'The problem `code` of an error response (`client_closed_request` with status 499)',
      }),
    ),
  },
  {
    examples: [
      {
        id: 'req_01jd8x3v4w5y6z7a8b9c0d1e2f',
        createdAt: '2026-05-01T12:00:00.000Z',
        keyId: 'key_01jd8x3v4w5y6z7a8b9c0d1e2f',
        method: 'GET',
        path: '/api/v1/partners/prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
        route: '/api/v1/partners/{id}',
        status: 404,
        latencyMs: 3.412,
        ip: '203.0.113.7',
        userAgent: 'crm-sync/1.4',
        responseBytes: 231,
        errorCode: 'not_found',
      },
    ],
  },
);

const RequestLogQuery = Type.Object(
  {
    ...PaginationQuery,
    keyId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Only this key' })),
    status: Type.Optional(Type.Integer({ minimum: 100, maximum: 599, description: 'Only this status code' })),
    statusClass: Type.Optional(StringEnum(STATUS_CLASSES, { description: 'Only this status class' })),
    route: Type.Optional(RouteFilterQuery),
    method: Type.Optional(StringEnum(REQUEST_METHODS, { description: 'Only this HTTP method' })),
    requestId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Only this request' })),
    from: Type.Optional(DateFilter),
    to: Type.Optional(DateFilter),
  },
  { additionalProperties: false },
);

const COLUMNS = [
  'id',
  'createdAt',
  'keyId',
  'method',
  'path',
  'route',
  'status',
  'latencyMs',
  'ip',
  'userAgent',
  'responseBytes',
  'errorCode',
] as const;

/** The predicate of `request_logs_status_idx` (migrations 0009 and 0010), word for word. */
const NOT_SUCCESS = sql<boolean>`(status < 200 or status >= 300)`;

type LogRow = Pick<RequestLogsTable, (typeof COLUMNS)[number]>;

/** `GET /request-logs`: the tenant's recent requests, newest first. */
export function requestLogRoutes(app: App): void {
  app.get(
    '/request-logs',
    {
      config: { scope: 'logs:read' },
      schema: {
        operationId: 'listRequestLogs',
        summary: 'List request logs',
        description:
          "Every request made with the tenant's live keys (and test keys, when the server sets `REQUEST_LOG_TEST_KEYS=true`) or the platform admin key, newest first. Lines appear about a second after the response and are kept `REQUEST_LOG_RETENTION_DAYS` days (default 30). Query strings are never stored. Needs `admin` or `logs:read`.",
        tags: ['Request logs'],
        querystring: RequestLogQuery,
        response: {
          200: ListEnvelope(RequestLogSchema),
          ...errorResponses(['validation_error', 'invalid_cursor']),
        },
      },
    },
    (request) => {
      const { db } = request.server.services;
      const filters = request.query;
      const route = routeFilter(filters.route, request.server.tenantRouteLabels);
      const tenantId = authOf(request).tenant.id;
      const logs = requestLogDb(db);
      // The request log is tenant-owned: every query is restricted to the caller's tenant here.
      // A key or route filter finds its rows through their postings (migration 0016), newest bucket
      // first; the other filters apply to the rows.
      const posted: { field: 'key' | 'route'; value: string } | undefined = filters.keyId
        ? { field: 'key', value: filters.keyId }
        : route
          ? { field: 'route', value: route }
          : undefined;
      let query = posted
        ? logs
            .selectFrom([
              'requestLogPostings as p',
              sql<{ u: string }>`unnest(string_to_array(p.ids, ','))`.as('u'),
            ])
            // Each id's row, looked up in the partition of its posting's day alone: a subquery of
            // its own (`offset 0` keeps it one) takes the day as a parameter, so only that
            // partition is searched, where a plain join searches every day's for each id.
            .crossJoinLateral((eb) =>
              eb
                .selectFrom('requestLogs')
                .selectAll()
                .where(sql<boolean>`tenant_id = p.tenant_id and id = u.u`)
                .where(sql<boolean>`created_at >= p.day and created_at < p.day + interval '1 day'`)
                .offset(0)
                .as('r'),
            )
            .select(COLUMNS.map((column) => `r.${column}` as const))
            .where('p.tenantId', '=', tenantId)
            .where('p.field', '=', posted.field)
            .where('p.value', '=', posted.value)
        : logs
            .selectFrom('requestLogs as r')
            .select(COLUMNS.map((column) => `r.${column}` as const))
            .where('r.tenantId', '=', tenantId);
      if (filters.keyId && route) query = query.where('r.route', '=', route);
      // Filters that exclude 2xx say so literally, so that even a prepared statement's plan can use
      // the index of such rows.
      let excludesSuccess = false;
      if (filters.status !== undefined) {
        query = query.where('r.status', '=', filters.status);
        excludesSuccess = filters.status < 200 || filters.status >= 300;
      }
      if (filters.statusClass) {
        const floor = Number(filters.statusClass[0]) * 100;
        query = query.where('r.status', '>=', floor).where('r.status', '<', floor + 100);
        excludesSuccess ||= filters.statusClass !== '2xx';
      }
      if (excludesSuccess) query = query.where(NOT_SUCCESS);
      if (filters.method) query = query.where('r.method', '=', filters.method);
      if (filters.requestId) query = query.where('r.id', '=', filters.requestId);
      query = withinDates(query, 'r.created_at', { from: filters.from, to: filters.to });
      if (posted && filters.from) {
        // Only the postings of the days in range: their partitions are the ones read.
        const { at } = dateBound('from', filters.from, 'from');
        query = query.where('p.day', '>=', new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS));
      }
      if (posted && filters.to) query = query.where('p.day', '<=', dateBound('to', filters.to, 'to').at);
      // paginate() is typed for the domain schema; the query is the same builder over more tables.
      return paginate<LogRow>(
        query as never,
        filters,
        posted
          ? { idColumn: 'u.u', idPrefix: 'req', bucket: { column: 'p.bucket', length: BUCKET_LENGTH } }
          : { idColumn: 'r.id', idPrefix: 'req' },
      );
    },
  );
}
