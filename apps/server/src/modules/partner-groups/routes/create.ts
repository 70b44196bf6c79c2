import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import { setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses } from '../../../platform/http/schemas.ts';
import { GroupFields, GroupKeySchema, PartnerGroupSchema } from '../schemas.ts';
import { createGroup, groupView } from '../service.ts';

const CreateGroupBody = Type.Object(
  {
    key: GroupKeySchema,
    name: GroupFields.name,
    holdbackDays: Type.Optional({ ...GroupFields.holdbackDays, default: 30 }),
    attributionWindowDays: Type.Optional({ ...GroupFields.attributionWindowDays, default: 30 }),
    saleCommission: Type.Optional(GroupFields.saleCommission),
    leadCommission: Type.Optional(GroupFields.leadCommission),
    recurring: Type.Optional(GroupFields.recurring),
    recurringMonths: Type.Optional(GroupFields.recurringMonths),
  },
  {
    additionalProperties: false,
    examples: [
      {
        key: 'premium',
        name: 'Premium partners',
        saleCommission: { type: 'percentage', basisPoints: 2000 },
        leadCommission: { amounts: [{ amount: '5.00', currency: 'EUR' }] },
        recurring: true,
        recurringMonths: 12,
      },
    ],
  },
);

export function createGroupRoute(app: App): void {
  app.post(
    '/partner-groups',
    {
      config: { etag: true, scope: 'partner_groups:write' },
      schema: {
        operationId: 'createPartnerGroup',
        summary: 'Create a partner group with its commission rules',
        tags: ['Partner groups'],
        body: CreateGroupBody,
        response: {
          201: DataEnvelope(PartnerGroupSchema),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'group_key_taken',
          ]),
        },
      },
    },
    async (request, reply) => {
      const group = await createGroup(domainContext(request), request.body);
      setEtag(reply, group);
      return reply.code(201).send({ data: groupView(group) });
    },
  );
}
