import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { errorResponses, Id, IdParams, ListEnvelope } from '../../../platform/http/schemas.ts';
import { getPartnerOrThrow } from '../../partners/service.ts';
import { CommissionFilterFields, CommissionSchema } from '../schemas.ts';
import { commissionView, listCommissions } from '../service.ts';

export function listCommissionsRoute(app: App): void {
  app.get(
    '/commissions',
    {
      config: { scope: 'commissions:read' },
      schema: {
        operationId: 'listCommissions',
        summary: 'List commissions',
        description:
          '`from`/`to` filter on when the commission was earned (occurredAt); `payoutId` lists the commissions a payout pays.',
        tags: ['Commissions'],
        querystring: Type.Object(
          { ...CommissionFilterFields, partnerId: Type.Optional(Id('prt')) },
          { additionalProperties: false },
        ),
        response: {
          200: ListEnvelope(CommissionSchema),
          ...errorResponses(['validation_error', 'invalid_cursor']),
        },
      },
    },
    async (request) => {
      const page = await listCommissions(domainContext(request), request.query);
      return { ...page, data: page.data.map(commissionView) };
    },
  );
}

export function listPartnerCommissionsRoute(app: App): void {
  app.get(
    '/partners/:id/commissions',
    {
      config: { scope: 'commissions:read' },
      schema: {
        operationId: 'listPartnerCommissions',
        summary: "List one partner's commissions",
        tags: ['Commissions'],
        params: IdParams('prt'),
        querystring: Type.Object(CommissionFilterFields, { additionalProperties: false }),
        response: {
          200: ListEnvelope(CommissionSchema),
          ...errorResponses(['validation_error', 'invalid_cursor', 'not_found']),
        },
      },
    },
    async (request) => {
      const ctx = domainContext(request);
      const partner = await getPartnerOrThrow(ctx, request.params.id);
      const page = await listCommissions(ctx, { ...request.query, partnerId: partner.id });
      return { ...page, data: page.data.map(commissionView) };
    },
  );
}
