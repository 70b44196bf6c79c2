import { Type } from '@sinclair/typebox';
import { ifMatchVersions, setEtag } from '../../http/etag.ts';
import type { App } from '../../http/fastify-types.ts';
import { DataEnvelope, errorResponses, StringEnum } from '../../http/schemas.ts';
import { PLAN_NAMES } from '../../plans.ts';
import { TenantName, TenantSchema } from '../schemas.ts';
import { updateTenant } from '../service.ts';
import { adminAudit } from './audit-context.ts';
import { TenantParams } from './get.ts';

const UpdateTenantBody = Type.Object(
  {
    name: Type.Optional(TenantName),
    plan: Type.Optional(StringEnum(PLAN_NAMES)),
    status: Type.Optional(StringEnum(['active', 'suspended'] as const)),
  },
  { additionalProperties: false, examples: [{ plan: 'enterprise' }] },
);

export function updateTenantRoute(app: App): void {
  app.patch(
    '/tenants/:id',
    {
      config: { etag: true },
      schema: {
        operationId: 'updateTenant',
        summary: 'Update a tenant (name, plan, status)',
        description:
          "A suspended tenant's keys get 403 `tenant_suspended` until it is active again. A field sent with its current value changes nothing, and a PATCH that changes nothing is not audited. Send `If-Match` with the ETag to refuse the write (412) when someone else changed the tenant first.",
        tags: ['Tenants'],
        params: TenantParams,
        headers: Type.Object({
          'if-match': Type.Optional(Type.String({ description: 'The ETag from GET' })),
        }),
        body: UpdateTenantBody,
        response: {
          200: DataEnvelope(TenantSchema),
          ...errorResponses(
            [
              'validation_error',
              'invalid_json',
              'tenant_not_found',
              'not_found',
              'unsupported_media_type',
              'precondition_failed',
            ],
            'admin',
          ),
        },
      },
    },
    async (request, reply) => {
      const { db, keyChanges } = request.server.services;
      const expected = ifMatchVersions(request);
      const { after } = await updateTenant(
        db,
        request.params.id,
        request.body,
        adminAudit(request),
        expected,
      );
      await keyChanges.announce({ tenantId: after.id, tenantSlug: after.slug });
      setEtag(reply, after);
      return { data: after };
    },
  );
}
