import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import { ifMatchVersions, setEtag } from '../../../platform/http/etag.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses } from '../../../platform/http/schemas.ts';
import { GroupFields, PartnerGroupSchema } from '../schemas.ts';
import { groupView, updateGroup } from '../service.ts';
import { GroupParams } from './get.ts';

const UpdateGroupBody = Type.Object(
  {
    name: Type.Optional(GroupFields.name),
    holdbackDays: Type.Optional(GroupFields.holdbackDays),
    attributionWindowDays: Type.Optional(GroupFields.attributionWindowDays),
    saleCommission: Type.Optional(GroupFields.saleCommission),
    leadCommission: Type.Optional(GroupFields.leadCommission),
    recurring: Type.Optional(GroupFields.recurring),
    recurringMonths: Type.Optional(GroupFields.recurringMonths),
  },
  { additionalProperties: false, examples: [{ saleCommission: { type: 'percentage', basisPoints: 2500 } }] },
);

export function updateGroupRoute(app: App): void {
  app.patch(
    '/partner-groups/:id',
    {
      config: { etag: true, scope: 'partner_groups:write' },
      schema: {
        operationId: 'updatePartnerGroup',
        summary: 'Update a partner group',
        description:
          'Rule changes apply to commissions earned from now on; existing commissions keep the rule snapshot they were computed with. The key cannot change.',
        tags: ['Partner groups'],
        params: GroupParams,
        headers: Type.Object({
          'if-match': Type.Optional(Type.String({ description: 'The ETag from GET' })),
        }),
        body: UpdateGroupBody,
        response: {
          200: DataEnvelope(PartnerGroupSchema),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'not_found',
            'precondition_failed',
          ]),
        },
      },
    },
    async (request, reply) => {
      const expected = ifMatchVersions(request);
      const { after } = await updateGroup(domainContext(request), request.params.id, request.body, expected);
      setEtag(reply, after);
      return { data: groupView(after) };
    },
  );
}
