import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../../platform/http/schemas.ts';
import { PayoutSchema } from '../schemas.ts';
import { markPayoutPaid, payoutView } from '../service.ts';

const MarkPaidBody = Type.Object(
  {
    reference: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'Your reference for the transfer: bank reference, PayPal transaction id, …',
    }),
  },
  { additionalProperties: false, examples: [{ reference: 'SEPA-2026-05-0042' }] },
);

export function markPayoutPaidRoute(app: App): void {
  app.post(
    '/payouts/:id/mark-paid',
    {
      config: { scope: 'payouts:write' },
      schema: {
        operationId: 'markPayoutPaid',
        summary: 'Mark a payout paid',
        description:
          'Records that the money was sent: the payout and all its commissions become `paid`. Only a pending payout can be marked paid (409 `invalid_state` otherwise).',
        tags: ['Payouts'],
        params: IdParams('po'),
        body: MarkPaidBody,
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
      data: payoutView(
        await markPayoutPaid(domainContext(request), request.params.id, request.body.reference),
      ),
    }),
  );
}
