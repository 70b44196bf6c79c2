import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DateFilter, errorResponses, Id, ListEnvelope, StringEnum } from '../../../platform/http/schemas.ts';
import { CurrencySchema } from '../../../platform/money.ts';
import { PaginationQuery } from '../../../platform/pagination.ts';
import { PAYOUT_STATUSES, PayoutSchema, Period } from '../schemas.ts';
import { listPayouts, payoutView } from '../service.ts';

const ListPayoutsQuery = Type.Object(
  {
    ...PaginationQuery,
    status: Type.Optional(StringEnum(PAYOUT_STATUSES)),
    partnerId: Type.Optional(Id('prt')),
    currency: Type.Optional(CurrencySchema),
    period: Type.Optional(Period),
    from: Type.Optional({
      ...DateFilter,
      description: 'createdAt from (YYYY-MM-DD inclusive, or a timestamp)',
    }),
    to: Type.Optional({ ...DateFilter, description: 'createdAt to (YYYY-MM-DD inclusive, or a timestamp)' }),
  },
  { additionalProperties: false },
);

export function listPayoutsRoute(app: App): void {
  app.get(
    '/payouts',
    {
      config: { scope: 'payouts:read' },
      schema: {
        operationId: 'listPayouts',
        summary: 'List payouts',
        description: 'Newest first. Example: `?status=pending&currency=EUR&period=2026-05`.',
        tags: ['Payouts'],
        querystring: ListPayoutsQuery,
        response: {
          200: ListEnvelope(PayoutSchema),
          ...errorResponses(['validation_error', 'invalid_cursor']),
        },
      },
    },
    async (request) => {
      const page = await listPayouts(domainContext(request), request.query);
      return { ...page, data: page.data.map(payoutView) };
    },
  );
}
