import { Type } from '@sinclair/typebox';
import { setEtag } from '../../http/etag.ts';
import type { App } from '../../http/fastify-types.ts';
import { DataEnvelope, errorResponses } from '../../http/schemas.ts';
import { TenantSchema } from '../schemas.ts';
import { getTenantOrThrow } from '../service.ts';

/** Without a length limit: an id or slug of the wrong shape names no tenant, so it is a 404 (see IdParams). */
export const TenantParams = Type.Object({
  id: Type.String({ description: 'The tenant id (`ten_…`) or slug' }),
});

export function getTenantRoute(app: App): void {
  app.get(
    '/tenants/:id',
    {
      config: { etag: true },
      schema: {
        operationId: 'getTenant',
        summary: 'Get a tenant by id or slug',
        description: "Answers with the tenant's `ETag`, for `If-Match` on PATCH.",
        tags: ['Tenants'],
        params: TenantParams,
        response: {
          200: DataEnvelope(TenantSchema),
          ...errorResponses(['tenant_not_found', 'not_found'], 'admin'),
        },
      },
    },
    async (request, reply) => {
      const tenant = await getTenantOrThrow(request.server.services.db, request.params.id);
      setEtag(reply, tenant);
      return { data: tenant };
    },
  );
}
