import { Type } from '@sinclair/typebox';
import type { AuditActor } from '../context.ts';
import { withinDates } from '../dates.ts';
import { domainContext } from '../http/domain-context.ts';
import type { App } from '../http/fastify-types.ts';
import {
  DateFilter,
  errorResponses,
  Id,
  ListEnvelope,
  Nullable,
  StringEnum,
  Timestamp,
} from '../http/schemas.ts';
import { PaginationQuery, paginate } from '../pagination.ts';

/** The actor types entries record; written as a Record so that no type of `AuditActor` is left out. */
const ACTOR_TYPES = Object.keys({
  api_key: true,
  admin: true,
  cli: true,
  system: true,
} satisfies Record<AuditActor['type'], true>);

const AuditEntrySchema = Type.Object(
  {
    id: Id('aud'),
    action: Type.String({ examples: ['customer.reattributed'] }),
    actorType: Type.String({ description: '`api_key`, `admin`, `cli` or `system`' }),
    actorId: Nullable(Type.String({ description: 'The key id when a key acted' })),
    resourceType: Type.String(),
    resourceId: Type.String(),
    ip: Nullable(Type.String()),
    userAgent: Nullable(Type.String()),
    requestId: Nullable(Type.String()),
    changes: Type.Record(Type.String(), Type.Object({ before: Type.Unknown(), after: Type.Unknown() }), {
      description: 'Each changed field with its value before and after; secrets are never recorded',
    }),
    createdAt: Timestamp,
  },
  {
    examples: [
      {
        id: 'aud_01jd8x3v4w5y6z7a8b9c0d1e2f',
        action: 'customer.reattributed',
        actorType: 'api_key',
        actorId: 'key_01jd8x3v4w5y6z7a8b9c0d1e2f',
        resourceType: 'customer',
        resourceId: 'cus_01jd8x3v4w5y6z7a8b9c0d1e2f',
        ip: '203.0.113.7',
        userAgent: 'crm-sync/1.4',
        requestId: 'req_01jd8x3v4w5y6z7a8b9c0d1e2f',
        changes: {
          partnerId: { before: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f', after: 'prt_01jd8x3v4w5y6z7a8b9c0d1e3g' },
        },
        createdAt: '2026-05-01T12:00:00.000Z',
      },
    ],
  },
);

const AuditQuery = Type.Object(
  {
    ...PaginationQuery,
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    actorType: Type.Optional(
      StringEnum(ACTOR_TYPES, {
        description:
          'Only entries by this kind of actor: `api_key` (a tenant key), `admin` (the platform admin key), `cli` (the `partnerline` command line) or `system` (the server itself, such as a leaked-key report or an endpoint disabled after failing)',
      }),
    ),
    actorId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Only entries by this API key (`key_…`)' }),
    ),
    resourceType: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    resourceId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    from: Type.Optional(DateFilter),
    to: Type.Optional(DateFilter),
  },
  { additionalProperties: false },
);

const COLUMNS = [
  'id',
  'action',
  'actorType',
  'actorId',
  'resourceType',
  'resourceId',
  'ip',
  'userAgent',
  'requestId',
  'changes',
  'createdAt',
] as const;

/** `GET /audit-log`: read-only by design; no route updates or deletes an entry. */
export function auditLogRoutes(app: App): void {
  app.get(
    '/audit-log',
    {
      config: { scope: 'audit:read' },
      schema: {
        operationId: 'listAuditLog',
        summary: 'List audit log entries',
        description:
          'Every change to keys, tenants, partner status, customer attribution, transactions and payouts, newest first. Append-only. Needs `admin` or `audit:read`.',
        tags: ['Audit log'],
        querystring: AuditQuery,
        response: {
          200: ListEnvelope(AuditEntrySchema),
          ...errorResponses(['validation_error', 'invalid_cursor']),
        },
      },
    },
    (request) => {
      const ctx = domainContext(request);
      const filters = request.query;
      // Platform-level entries have no tenant, so this table is scoped by hand.
      let query = ctx.db.selectFrom('auditLog').select(COLUMNS).where('tenantId', '=', ctx.tenantId);
      if (filters.action) query = query.where('action', '=', filters.action);
      if (filters.actorType) query = query.where('actorType', '=', filters.actorType);
      if (filters.actorId) query = query.where('actorId', '=', filters.actorId);
      if (filters.resourceType) query = query.where('resourceType', '=', filters.resourceType);
      if (filters.resourceId) query = query.where('resourceId', '=', filters.resourceId);
      query = withinDates(query, 'created_at', { from: filters.from, to: filters.to });
      return paginate(query, filters, { idColumn: 'id', idPrefix: 'aud' });
    },
  );
}
