import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import { ifMatchVersions, setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, Id, IdParams, Nullable } from '../../../platform/http/schemas.ts';
import { CustomerEmail, CustomerName, CustomerSchema } from '../schemas.ts';
import { updateCustomer } from '../service.ts';

const UpdateCustomerBody = Type.Object(
  {
    email: Type.Optional(CustomerEmail),
    name: Type.Optional(CustomerName),
    partnerId: Type.Optional(
      Nullable(Id('prt'), { description: 'Re-attribute to this partner (audited); null detaches' }),
    ),
    lifetime: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, examples: [{ partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f' }] },
);

export function updateCustomerRoute(app: App): void {
  app.patch(
    '/customers/:id',
    {
      config: { etag: true, scope: 'customers:write' },
      schema: {
        operationId: 'updateCustomer',
        summary: 'Update or re-attribute a customer',
        description:
          'A new `partnerId` moves future commissions to that partner; commissions already earned stay. Every re-attribution is recorded in the audit log.',
        tags: ['Customers'],
        params: IdParams('cus'),
        headers: Type.Object({
          'if-match': Type.Optional(Type.String({ description: 'The ETag from GET' })),
        }),
        body: UpdateCustomerBody,
        response: {
          200: DataEnvelope(CustomerSchema),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'not_found',
            'precondition_failed',
            'invalid_state',
          ]),
        },
      },
    },
    async (request, reply) => {
      const expected = ifMatchVersions(request);
      const customer = await updateCustomer(
        domainContext(request),
        request.params.id,
        request.body,
        expected,
      );
      setEtag(reply, customer);
      return { data: customer };
    },
  );
}
