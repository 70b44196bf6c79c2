import { Type } from '@sinclair/typebox';
import { setEtag } from '../../http/etag.ts';
import type { App } from '../../http/fastify-types.ts';
import { DataEnvelope, errorResponses, StringEnum } from '../../http/schemas.ts';
import { PLAN_NAMES } from '../../plans.ts';
import { TenantName, TenantSchema, TenantSlug } from '../schemas.ts';
import { createTenant } from '../service.ts';
import { adminAudit } from './audit-context.ts';

export const CreateTenantBody = Type.Object(
  { slug: TenantSlug, name: TenantName, plan: Type.Optional(StringEnum(PLAN_NAMES, { default: 'default' })) },
  { additionalProperties: false, examples: [{ slug: 'acme', name: 'Acme Inc.', plan: 'professional' }] },
);

export function createTenantRoute(app: App): void {
  app.post(
    '/tenants',
    {
      config: { etag: true },
      schema: {
        operationId: 'createTenant',
        summary: 'Create a tenant',
        tags: ['Tenants'],
        body: CreateTenantBody,
        response: {
          201: DataEnvelope(TenantSchema),
          ...errorResponses(
            ['validation_error', 'invalid_json', 'tenant_slug_taken', 'unsupported_media_type'],
            'admin',
          ),
        },
      },
    },
    async (request, reply) => {
      const tenant = await createTenant(request.server.services.db, request.body, adminAudit(request));
      setEtag(reply, tenant);
      return reply.code(201).send({ data: tenant });
    },
  );
}
