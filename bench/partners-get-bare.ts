import { fileURLToPath } from 'node:url';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import { PartnerSchema } from '../apps/server/src/modules/partners/schemas.ts';
import { getPartnerOrThrow } from '../apps/server/src/modules/partners/service.ts';
import { setEtag } from '../apps/server/src/platform/http/etag.ts';
import { DataEnvelope, IdParams } from '../apps/server/src/platform/http/schemas.ts';
import { validatorCompiler } from '../apps/server/src/platform/http/validation.ts';
import type { Services } from '../apps/server/src/platform/services.ts';

/** This module's path, for a server process that builds the bare app (see `ServeOptions.bare`). */
export const BARE_MODULE = fileURLToPath(import.meta.url);

/**
 * The baseline of the partners-get benchmark: `GET /api/v1/partners/:id` on a bare Fastify app with
 * the route's own schemas (same validation and serialization), the same query through
 * getPartnerOrThrow on the same database, and the same logger settings — but none of the platform
 * layer: no request id, tenant resolution, key auth, scopes, rate limit or metering. The tenant is fixed.
 */
export async function buildBareApp(
  services: Services,
  options: { tenantId: string },
): Promise<FastifyInstance> {
  const app = bareFastify(services);
  registerBarePartnerRoute(app, services, options.tenantId);
  return app;
}

/** A plain Fastify instance with the platform's logger level and validator, and nothing else. */
export function bareFastify(services: Services): FastifyInstance {
  const app = Fastify({ logger: { level: services.config.logLevel } });
  app.setValidatorCompiler(validatorCompiler);
  return app;
}

/** The bare `GET /api/v1/partners/:id`, for other baselines that add one thing in front of it. */
export function registerBarePartnerRoute(app: FastifyInstance, services: Services, tenantId: string): void {
  const ctx = { db: services.db, tenantId };
  app
    .withTypeProvider<TypeBoxTypeProvider>()
    .get(
      '/api/v1/partners/:id',
      { schema: { params: IdParams('prt'), response: { 200: DataEnvelope(PartnerSchema) } } },
      async (request, reply) => {
        const partner = await getPartnerOrThrow(ctx, request.params.id);
        setEtag(reply, partner);
        return { data: partner };
      },
    );
}
