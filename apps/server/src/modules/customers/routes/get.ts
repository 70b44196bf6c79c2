import { domainContext } from '../../../platform/http/domain-context.ts';
import { setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../../platform/http/schemas.ts';
import { CustomerSchema } from '../schemas.ts';
import { getCustomerOrThrow } from '../service.ts';

export function getCustomerRoute(app: App): void {
  app.get(
    '/customers/:id',
    {
      config: { etag: true, scope: 'customers:read' },
      schema: {
        operationId: 'getCustomer',
        summary: 'Get a customer',
        tags: ['Customers'],
        params: IdParams('cus'),
        response: { 200: DataEnvelope(CustomerSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request, reply) => {
      const customer = await getCustomerOrThrow(domainContext(request), request.params.id);
      setEtag(reply, customer);
      return { data: customer };
    },
  );
}
