import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import { ifMatchVersions, setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import {
  DataEnvelope,
  errorResponses,
  IdParams,
  Metadata,
  Nullable,
  StringEnum,
} from '../../../platform/http/schemas.ts';
import { Email, GroupKey, PARTNER_STATUSES, PartnerName, PartnerSchema, ReferralCode } from '../schemas.ts';
import { updatePartner } from '../service.ts';

const UpdatePartnerBody = Type.Object(
  {
    email: Type.Optional(Email),
    name: Type.Optional(Nullable(PartnerName)),
    status: Type.Optional(StringEnum(PARTNER_STATUSES)),
    groupKey: Type.Optional(Nullable(GroupKey)),
    referralCode: Type.Optional(ReferralCode),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false, examples: [{ name: 'Ada King', groupKey: 'gold' }] },
);

export function updatePartnerRoute(app: App): void {
  app.patch(
    '/partners/:id',
    {
      config: { etag: true, scope: 'partners:write' },
      schema: {
        operationId: 'updatePartner',
        summary: 'Update a partner',
        description:
          'Changes only the fields sent (`null` clears name or groupKey; metadata is replaced whole); a field sent with its current value changes nothing, and a PATCH that changes nothing is not audited. `status` `active` or `revoked` is the same transition as POST /activate or /revoke (audited as `partner.activated` or `partner.revoked`, sent to webhooks as `partner.updated` or `partner.revoked`); a partner is invited only through POST /invite (409 `invalid_state` here). Send `If-Match` with the ETag to refuse the write (412) when someone else changed the partner first.',
        tags: ['Partners'],
        params: IdParams('prt'),
        headers: Type.Object({
          'if-match': Type.Optional(Type.String({ description: 'The ETag from GET' })),
        }),
        body: UpdatePartnerBody,
        response: {
          200: DataEnvelope(PartnerSchema),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'not_found',
            'precondition_failed',
            'partner_email_taken',
            'referral_code_taken',
            'invalid_state',
            'payload_too_large',
          ]),
        },
      },
    },
    async (request, reply) => {
      const expected = ifMatchVersions(request);
      const { after } = await updatePartner(
        domainContext(request),
        request.params.id,
        request.body,
        expected,
      );
      setEtag(reply, after);
      return { data: after };
    },
  );
}
