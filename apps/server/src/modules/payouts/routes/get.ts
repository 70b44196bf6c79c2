import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../../platform/http/schemas.ts';
import { PayoutSchema } from '../schemas.ts';
import { getPayoutOrThrow, payoutView } from '../service.ts';

export function getPayoutRoute(app: App): void {
  app.get(
    '/payouts/:id',
    {
      config: { scope: 'payouts:read' },
      schema: {
        operationId: 'getPayout',
        summary: 'Get a payout',
        description: 'Its commissions: `GET /commissions?payoutId=…`.',
        tags: ['Payouts'],
        params: IdParams('po'),
        response: { 200: DataEnvelope(PayoutSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request) => ({
      data: payoutView(await getPayoutOrThrow(domainContext(request), request.params.id)),
    }),
  );
}
