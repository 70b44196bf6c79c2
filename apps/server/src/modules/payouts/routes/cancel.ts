import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../../platform/http/schemas.ts';
import { PayoutSchema } from '../schemas.ts';
import { cancelPayout, payoutView } from '../service.ts';

const CancelBody = Type.Object({}, { additionalProperties: false, examples: [{}] });

export function cancelPayoutRoute(app: App): void {
  app.post(
    '/payouts/:id/cancel',
    {
      config: { scope: 'payouts:write' },
      schema: {
        operationId: 'cancelPayout',
        summary: 'Cancel a payout',
        description:
          'Releases its commissions, still approved, for a later payout; a new payout for the same period can then be created. Only a pending payout can be canceled (409 `invalid_state` otherwise). No body is needed.',
        tags: ['Payouts'],
        params: IdParams('po'),
        body: CancelBody,
        response: {
          200: DataEnvelope(PayoutSchema),
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
    async (request) => ({
      data: payoutView(await cancelPayout(domainContext(request), request.params.id)),
    }),
  );
}
