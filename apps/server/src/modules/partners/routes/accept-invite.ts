import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import { setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses } from '../../../platform/http/schemas.ts';
import { acceptInvite } from '../lifecycle.ts';
import { PartnerSchema } from '../schemas.ts';

const AcceptInviteBody = Type.Object(
  {
    token: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'The token from the invite link (the part after `/invite/`)',
    }),
  },
  {
    additionalProperties: false,
    examples: [{ token: '3q2-7wEjJ9aWc0bQzXr5m1YtUuN8oPkLdHsVfGiA4xE' }],
  },
);

export function acceptInviteRoute(app: App): void {
  app.post(
    '/partners/invites/accept',
    {
      config: { etag: true, scope: 'partners:write' },
      schema: {
        operationId: 'acceptPartnerInvite',
        summary: 'Accept a partner invite',
        description:
          "Called by the tenant's partner portal when the partner opens the invite link: the partner becomes `active`. A token works once; an unknown, used, replaced or expired token is 410 `invite_invalid`.",
        tags: ['Partners'],
        body: AcceptInviteBody,
        response: {
          200: DataEnvelope(PartnerSchema),
          ...errorResponses(['validation_error', 'invalid_json', 'unsupported_media_type', 'invite_invalid']),
        },
      },
    },
    async (request, reply) => {
      const partner = await acceptInvite(domainContext(request), request.body.token);
      setEtag(reply, partner);
      return { data: partner };
    },
  );
}
