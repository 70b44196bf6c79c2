import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import { setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { errorResponses, IdParams, Timestamp } from '../../../platform/http/schemas.ts';
import { invitePartner } from '../lifecycle.ts';
import { PartnerSchema } from '../schemas.ts';

const InviteBody = Type.Object({}, { additionalProperties: false, examples: [{}] });

const InviteResponse = Type.Object(
  {
    data: PartnerSchema,
    invite: Type.Optional(
      Type.Object(
        {
          url: Type.String({
            format: 'uri',
            description: 'The link to send the partner: PUBLIC_URL + `/invite/` + a single-use token',
          }),
          expiresAt: { ...Timestamp, description: 'The link stops working at this time (7 days)' },
        },
        {
          description:
            'Shown only in this response. An Idempotency-Key replay omits it (tokens are stored only as hashes): invite again for a new link.',
        },
      ),
    ),
  },
  {
    examples: [
      {
        data: {
          id: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
          email: 'ada@example.com',
          name: 'Ada Lovelace',
          status: 'invited',
          groupKey: 'premium',
          referralCode: 'ADA2026',
          metadata: {},
          invitedAt: '2026-05-01T12:00:00.000Z',
          activatedAt: null,
          revokedAt: null,
          createdAt: '2026-05-01T12:00:00.000Z',
          updatedAt: '2026-05-01T12:00:00.000Z',
        },
        invite: {
          url: 'https://partners.example.com/invite/3q2-7wEjJ9aWc0bQzXr5m1YtUuN8oPkLdHsVfGiA4xE',
          expiresAt: '2026-05-08T12:00:00.000Z',
        },
      },
    ],
  },
);

export function invitePartnerRoute(app: App): void {
  app.post(
    '/partners/:id/invite',
    {
      config: { etag: true, scope: 'partners:write', idempotencySecretFields: ['invite'] },
      schema: {
        operationId: 'invitePartner',
        summary: 'Invite a partner',
        description:
          'Sets the partner to `invited` and returns an invite link with a single-use token, valid for 7 days. The token is shown only in this response; inviting again issues a new link and the old one stops working. A revoked partner must be activated first (409 `invalid_state`). The partner portal redeems the token with `POST /partners/invites/accept`. No body is needed.',
        tags: ['Partners'],
        params: IdParams('prt'),
        body: InviteBody,
        response: {
          200: InviteResponse,
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'not_found',
            'invalid_state',
          ]),
        },
      },
    },
    async (request, reply) => {
      const { publicUrl } = request.server.services.config;
      const { partner, invite } = await invitePartner(domainContext(request), request.params.id, {
        publicUrl,
      });
      setEtag(reply, partner);
      return reply.header('cache-control', 'no-store').send({ data: partner, invite });
    },
  );
}
