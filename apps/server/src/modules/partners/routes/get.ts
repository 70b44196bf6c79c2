import { domainContext } from '../../../platform/http/domain-context.ts';
import { setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../../platform/http/schemas.ts';
import { PartnerSchema } from '../schemas.ts';
import { getPartnerOrThrow } from '../service.ts';

export function getPartnerRoute(app: App): void {
  app.get(
    '/partners/:id',
    {
      config: { etag: true, scope: 'partners:read' },
      schema: {
        operationId: 'getPartner',
        summary: 'Get a partner',
        description: 'The `ETag` header can be sent back as `If-Match` on PATCH.',
        tags: ['Partners'],
        params: IdParams('prt'),
        response: { 200: DataEnvelope(PartnerSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request, reply) => {
      const partner = await getPartnerOrThrow(domainContext(request), request.params.id);
      setEtag(reply, partner);
      return { data: partner };
    },
  );
}
