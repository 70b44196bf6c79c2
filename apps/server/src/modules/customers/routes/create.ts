import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import { setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, Id } from '../../../platform/http/schemas.ts';
import { CustomerEmail, CustomerName, CustomerSchema, ExternalId } from '../schemas.ts';
import { createCustomer } from '../service.ts';

const CreateCustomerBody = Type.Object(
  {
    externalId: ExternalId,
    email: Type.Optional(CustomerEmail),
    name: Type.Optional(CustomerName),
    partnerId: Type.Optional(Id('prt', { description: 'Attribute the customer to this partner' })),
    lifetime: Type.Optional(
      Type.Boolean({
        description:
          "Every sale earns the partner a commission; default: as the partner's group makes the customers it brings (false without a partner)",
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      { externalId: 'crm-4711', email: 'grace@example.com', partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f' },
    ],
  },
);

export function createCustomerRoute(app: App): void {
  app.post(
    '/customers',
    {
      config: { etag: true, scope: 'customers:write' },
      schema: {
        operationId: 'createCustomer',
        summary: 'Create a customer, attributed by hand',
        tags: ['Customers'],
        body: CreateCustomerBody,
        response: {
          201: DataEnvelope(CustomerSchema),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'not_found',
            'customer_external_id_taken',
            'invalid_state',
          ]),
        },
      },
    },
    async (request, reply) => {
      const customer = await createCustomer(domainContext(request), request.body);
      setEtag(reply, customer);
      return reply.code(201).send({ data: customer });
    },
  );
}
