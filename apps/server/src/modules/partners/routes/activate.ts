import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import { setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../../platform/http/schemas.ts';
import { activatePartner } from '../lifecycle.ts';
import { PartnerSchema } from '../schemas.ts';

const ActivateBody = Type.Object({}, { additionalProperties: false, examples: [{}] });

export function activatePartnerRoute(app: App): void {
  app.post(
    '/partners/:id/activate',
    {
      config: { etag: true, scope: 'partners:write' },
      schema: {
        operationId: 'activatePartner',
        summary: 'Activate a partner',
        description:
          'Makes an invited or revoked partner `active` (an open invite link stops working); new sales earn commissions again. An active partner is returned unchanged. No body is needed.',
        tags: ['Partners'],
        params: IdParams('prt'),
        body: ActivateBody,
        response: {
          200: DataEnvelope(PartnerSchema),
          ...errorResponses(['validation_error', 'invalid_json', 'unsupported_media_type', 'not_found']),
        },
      },
    },
    async (request, reply) => {
      const partner = await activatePartner(domainContext(request), request.params.id);
      setEtag(reply, partner);
      return { data: partner };
    },
  );
}
