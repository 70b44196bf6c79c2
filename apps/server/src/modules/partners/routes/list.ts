import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DateFilter, errorResponses, ListEnvelope, StringEnum } from '../../../platform/http/schemas.ts';
import { PaginationQuery } from '../../../platform/pagination.ts';
import { GroupKey, PARTNER_STATUSES, PartnerSchema } from '../schemas.ts';
import { listPartners } from '../service.ts';

const ListPartnersQuery = Type.Object(
  {
    ...PaginationQuery,
    status: Type.Optional(StringEnum(PARTNER_STATUSES)),
    groupKey: Type.Optional(GroupKey),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description:
          'Name or email contains (case-insensitive; Ä matches Ä written as A plus a combining mark)',
      }),
    ),
    createdFrom: Type.Optional(DateFilter),
    createdTo: Type.Optional(DateFilter),
  },
  { additionalProperties: false },
);

export function listPartnersRoute(app: App): void {
  app.get(
    '/partners',
    {
      config: { scope: 'partners:read' },
      schema: {
        operationId: 'listPartners',
        summary: 'List partners',
        description: 'Newest first. Page with `page`/`limit`, or with `cursor`/`limit` for large sets.',
        tags: ['Partners'],
        querystring: ListPartnersQuery,
        response: {
          200: ListEnvelope(PartnerSchema),
          ...errorResponses(['validation_error', 'invalid_cursor']),
        },
      },
    },
    (request) => listPartners(domainContext(request), request.query),
  );
}
