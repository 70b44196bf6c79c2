import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, Id } from '../../../platform/http/schemas.ts';
import { CurrencySchema } from '../../../platform/money.ts';
import { PayoutSchema, Period } from '../schemas.ts';
import { createPayout, payoutView } from '../service.ts';

const CreatePayoutBody = Type.Object(
  {
    partnerId: Id('prt'),
    currency: CurrencySchema,
    period: Type.Optional({
      ...Period,
      description:
        'The month the payout settles, at most the current UTC month (later is a 400); default the current one',
    }),
  },
  {
    additionalProperties: false,
    examples: [{ partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f', currency: 'EUR', period: '2026-05' }],
  },
);

export function createPayoutRoute(app: App): void {
  app.post(
    '/payouts',
    {
      config: { scope: 'payouts:write' },
      schema: {
        operationId: 'createPayout',
        summary: "Pay out a partner's approved commissions",
        description: [
          'Gathers every approved commission of the partner in the currency that is in no payout yet (clawbacks subtract) into a `pending` payout, and answers 201.',
          '',
          'A partner has at most one payout per currency and period that is not canceled: asking again (also concurrently) answers 200 with that payout, whatever its status. Cancel a pending payout to gather its period again.',
          '',
          'Nothing approved to pay, or clawbacks that outweigh the earnings, is 409 `nothing_to_pay`. Revoked partners are still paid what they earned. Pay the partner, then `POST /payouts/{id}/mark-paid`.',
        ].join('\n'),
        tags: ['Payouts'],
        body: CreatePayoutBody,
        response: {
          200: {
            ...DataEnvelope(PayoutSchema),
            description: 'The open payout of this partner, currency and period, created earlier',
          },
          201: DataEnvelope(PayoutSchema),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'payload_too_large',
            'not_found',
            'nothing_to_pay',
            'conflict',
          ]),
        },
      },
    },
    async (request, reply) => {
      const { payout, created } = await createPayout(domainContext(request), request.body);
      return reply.code(created ? 201 : 200).send({ data: payoutView(payout) });
    },
  );
}
