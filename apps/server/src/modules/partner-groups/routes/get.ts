import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import { setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses } from '../../../platform/http/schemas.ts';
import { PartnerGroupSchema } from '../schemas.ts';
import { getGroupOrThrow, groupView } from '../service.ts';

export const GroupParams = Type.Object({
  id: Type.String({ maxLength: 64, description: 'The group id (`grp_…`) or its key' }),
});

export function getGroupRoute(app: App): void {
  app.get(
    '/partner-groups/:id',
    {
      config: { etag: true, scope: 'partner_groups:read' },
      schema: {
        operationId: 'getPartnerGroup',
        summary: 'Get a partner group by id or key',
        tags: ['Partner groups'],
        params: GroupParams,
        response: { 200: DataEnvelope(PartnerGroupSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request, reply) => {
      const group = await getGroupOrThrow(domainContext(request), request.params.id);
      setEtag(reply, group);
      return { data: groupView(group) };
    },
  );
}
