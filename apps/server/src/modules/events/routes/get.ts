import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../../platform/http/schemas.ts';
import { EventSchema } from '../schemas.ts';
import { eventView, getEventOrThrow } from '../service.ts';

export function getEventRoute(app: App): void {
  app.get(
    '/events/:id',
    {
      config: { scope: 'events:read' },
      schema: {
        operationId: 'getEvent',
        summary: 'Get a conversion event with the commissions it created',
        tags: ['Events'],
        params: IdParams('evt'),
        response: { 200: DataEnvelope(EventSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request) => {
      const ctx = domainContext(request);
      return { data: await eventView(ctx, await getEventOrThrow(ctx, request.params.id)) };
    },
  );
}
