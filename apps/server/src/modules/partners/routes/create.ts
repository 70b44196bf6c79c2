import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import { setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import {
  DataEnvelope,
  errorResponses,
  Metadata,
  Nullable,
  StringEnum,
} from '../../../platform/http/schemas.ts';
import { Email, GroupKey, PARTNER_STATUSES, PartnerName, PartnerSchema, ReferralCode } from '../schemas.ts';
import { createPartner } from '../service.ts';

const CreatePartnerBody = Type.Object(
  {
    email: Email,
    name: Type.Optional(Nullable(PartnerName)),
    status: Type.Optional(StringEnum(PARTNER_STATUSES, { default: 'active' })),
    groupKey: Type.Optional(Nullable(GroupKey)),
    referralCode: Type.Optional(ReferralCode),
    metadata: Type.Optional(Metadata),
  },
  {
    additionalProperties: false,
    examples: [{ email: 'ada@example.com', name: 'Ada Lovelace', groupKey: 'premium' }],
  },
);

export function createPartnerRoute(app: App): void {
  app.post(
    '/partners',
    {
      config: { etag: true, scope: 'partners:write' },
      schema: {
        operationId: 'createPartner',
        summary: 'Create a partner',
        tags: ['Partners'],
        body: CreatePartnerBody,
        response: {
          201: DataEnvelope(PartnerSchema),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'payload_too_large',
            'partner_email_taken',
            'referral_code_taken',
          ]),
        },
      },
    },
    async (request, reply) => {
      const partner = await createPartner(domainContext(request), request.body);
      setEtag(reply, partner);
      return reply.code(201).send({ data: partner });
    },
  );
}
