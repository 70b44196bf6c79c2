import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import {
  BooleanQuery,
  DateFilter,
  errorResponses,
  Id,
  ListEnvelope,
} from '../../../platform/http/schemas.ts';
import { PaginationQuery } from '../../../platform/pagination.ts';
import { CustomerSchema } from '../schemas.ts';
import { listCustomers } from '../service.ts';

const ListCustomersQuery = Type.Object(
  {
    ...PaginationQuery,
    partnerId: Type.Optional(Id('prt')),
    lifetime: Type.Optional({
      ...BooleanQuery,
      description: 'Only lifetime-attributed customers (true) or others (false)',
    }),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description:
          'Email, name or externalId contains (case-insensitive; Ä matches Ä written as A plus a combining mark)',
      }),
    ),
    createdFrom: Type.Optional(DateFilter),
    createdTo: Type.Optional(DateFilter),
  },
  { additionalProperties: false },
);

export function listCustomersRoute(app: App): void {
  app.get(
    '/customers',
    {
      config: { scope: 'customers:read' },
      schema: {
        operationId: 'listCustomers',
        summary: 'List customers',
        tags: ['Customers'],
        querystring: ListCustomersQuery,
        response: {
          200: ListEnvelope(CustomerSchema),
          ...errorResponses(['validation_error', 'invalid_cursor']),
        },
      },
    },
    (request) => listCustomers(domainContext(request), request.query),
  );
}
