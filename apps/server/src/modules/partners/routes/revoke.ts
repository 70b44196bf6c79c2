import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import { setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { errorResponses, IdParams } from '../../../platform/http/schemas.ts';
import { revokePartner } from '../lifecycle.ts';
import { PartnerSchema } from '../schemas.ts';

const RevokeBody = Type.Object(
  {
    cancelPending: Type.Optional(
      Type.Boolean({
        default: false,
        description: "Also reject the partner's pending commissions; approved and paid ones always stay",
      }),
    ),
    reason: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description: 'Stored as the statusReason of the rejected commissions (default "partner revoked")',
      }),
    ),
  },
  { additionalProperties: false, examples: [{ cancelPending: true, reason: 'Terms of service violation' }] },
);

const RevokeResponse = Type.Object(
  {
    data: PartnerSchema,
    canceledCommissions: Type.Integer({
      minimum: 0,
      description: 'How many pending commissions this call rejected',
    }),
  },
  {
    examples: [
      {
        data: {
          id: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
          email: 'ada@example.com',
          name: 'Ada Lovelace',
          status: 'revoked',
          groupKey: null,
          referralCode: 'ADA2026',
          metadata: {},
          invitedAt: null,
          activatedAt: '2026-05-01T12:00:00.000Z',
          revokedAt: '2026-06-01T12:00:00.000Z',
          createdAt: '2026-05-01T12:00:00.000Z',
          updatedAt: '2026-06-01T12:00:00.000Z',
        },
        canceledCommissions: 2,
      },
    ],
  },
);

export function revokePartnerRoute(app: App): void {
  app.post(
    '/partners/:id/revoke',
    {
      config: { etag: true, scope: 'partners:write' },
      schema: {
        operationId: 'revokePartner',
        summary: 'Revoke a partner',
        description:
          'The partner earns nothing new: later events neither attribute customers to it nor create commissions, and an open invite link stops working. Commissions already earned stay as they are, unless `cancelPending` rejects the pending ones. Revoking a revoked partner changes nothing. The body is optional.',
        tags: ['Partners'],
        params: IdParams('prt'),
        body: RevokeBody,
        response: {
          200: RevokeResponse,
          ...errorResponses(['validation_error', 'invalid_json', 'unsupported_media_type', 'not_found']),
        },
      },
    },
    async (request, reply) => {
      const { partner, canceledCommissions } = await revokePartner(
        domainContext(request),
        request.params.id,
        request.body,
      );
      setEtag(reply, partner);
      return { data: partner, canceledCommissions };
    },
  );
}
