import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { errorResponses, ListEnvelope } from '../../../platform/http/schemas.ts';
import { PaginationQuery } from '../../../platform/pagination.ts';
import { PartnerGroupSchema } from '../schemas.ts';
import { groupView, listGroups } from '../service.ts';

export function listGroupsRoute(app: App): void {
  app.get(
    '/partner-groups',
    {
      config: { scope: 'partner_groups:read' },
      schema: {
        operationId: 'listPartnerGroups',
        summary: 'List partner groups',
        description: "Always includes the tenant's default group (`isDefault: true`, key `default`).",
        tags: ['Partner groups'],
        querystring: Type.Object(PaginationQuery, { additionalProperties: false }),
        response: {
          200: ListEnvelope(PartnerGroupSchema),
          ...errorResponses(['validation_error', 'invalid_cursor']),
        },
      },
    },
    async (request) => {
      const page = await listGroups(domainContext(request), request.query);
      return { ...page, data: page.data.map(groupView) };
    },
  );
}
