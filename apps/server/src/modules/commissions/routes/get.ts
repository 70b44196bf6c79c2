import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../../platform/http/schemas.ts';
import { CommissionSchema } from '../schemas.ts';
import { commissionView, getCommissionOrThrow } from '../service.ts';

export function getCommissionRoute(app: App): void {
  app.get(
    '/commissions/:id',
    {
      config: { scope: 'commissions:read' },
      schema: {
        operationId: 'getCommission',
        summary: 'Get a commission',
        tags: ['Commissions'],
        params: IdParams('com'),
        response: { 200: DataEnvelope(CommissionSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request) => ({
      data: commissionView(await getCommissionOrThrow(domainContext(request), request.params.id)),
    }),
  );
}
