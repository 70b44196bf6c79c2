import { Type } from '@sinclair/typebox';
import type { App } from '../../http/fastify-types.ts';
import { errorResponses, ListEnvelope } from '../../http/schemas.ts';
import { PaginationQuery } from '../../pagination.ts';
import { TenantSchema } from '../schemas.ts';
import { listTenants } from '../service.ts';

export function listTenantsRoute(app: App): void {
  app.get(
    '/tenants',
    {
      schema: {
        operationId: 'listTenants',
        summary: 'List tenants',
        tags: ['Tenants'],
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: {
          200: ListEnvelope(TenantSchema),
          ...errorResponses(['validation_error', 'invalid_cursor'], 'admin'),
        },
      },
    },
    (request) => listTenants(request.server.services.db, request.query),
  );
}
