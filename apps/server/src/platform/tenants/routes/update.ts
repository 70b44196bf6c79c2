import { Type } from '@sinclair/typebox';
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
      schema: {
        operationId: 'updateTenant',
        summary: 'Update a tenant (name, plan, status)',
        description: "A suspended tenant's keys get 403 `tenant_suspended` until it is active again.",
        tags: ['Tenants'],
        params: TenantParams,
        body: UpdateTenantBody,
        response: {
          200: DataEnvelope(TenantSchema),
          ...errorResponses(
            ['validation_error', 'invalid_json', 'tenant_not_found', 'not_found', 'unsupported_media_type'],
            'admin',
          ),
        },
      },
    },
    async (request) => {
      const { db, keyChanges } = request.server.services;
      const { after } = await updateTenant(db, request.params.id, request.body, adminAudit(request));
      await keyChanges.announce({ tenantId: after.id, tenantSlug: after.slug });
      return { data: after };
    },
  );
}
