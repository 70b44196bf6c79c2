import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DateFilter, errorResponses, Id, ListEnvelope, StringEnum } from '../../../platform/http/schemas.ts';
import { PaginationQuery } from '../../../platform/pagination.ts';
import { EVENT_TYPES, EventSchema } from '../schemas.ts';
import { eventView, listEvents } from '../service.ts';

const ListEventsQuery = Type.Object(
  {
    ...PaginationQuery,
    type: Type.Optional(StringEnum(EVENT_TYPES)),
    partnerId: Type.Optional(Id('prt')),
    customerId: Type.Optional(Id('cus')),
    externalId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    from: Type.Optional(DateFilter),
    to: Type.Optional(DateFilter),
  },
  { additionalProperties: false },
);

export function listEventsRoute(app: App): void {
  app.get(
    '/events',
    {
      config: { scope: 'events:read' },
      schema: {
        operationId: 'listEvents',
        summary: 'List conversion events',
        tags: ['Events'],
        querystring: ListEventsQuery,
        response: {
          200: ListEnvelope(EventSchema),
          ...errorResponses(['validation_error', 'invalid_cursor']),
        },
      },
    },
    async (request) => {
      const ctx = domainContext(request);
      const page = await listEvents(ctx, request.query);
      return { ...page, data: await Promise.all(page.data.map((event) => eventView(ctx, event, false))) };
    },
  );
}
