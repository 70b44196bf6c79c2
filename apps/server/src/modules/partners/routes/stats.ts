import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, Id, IdParams } from '../../../platform/http/schemas.ts';
import { CurrencySchema } from '../../../platform/money.ts';
import { partnerStats } from '../stats.ts';

const Amount = (description: string, example: string) => Type.String({ description, examples: [example] });

const Count = (description: string) => Type.Integer({ minimum: 0, description });

const PartnerStatsSchema = Type.Object(
  {
    partnerId: Id('prt'),
    clicks: Count('Clicks recorded for the partner'),
    leads: Count(
      'Lead events credited to the partner: those of the customers it referred, whichever partner they named',
    ),
    customers: Count('Customers attributed to the partner'),
    currencies: Type.Array(
      Type.Object({
        currency: CurrencySchema,
        sales: Count('Sales (transactions) not rejected'),
        revenue: Amount('Sum of those sales', '1200.00'),
        refunded: Amount('Refunded of those sales', '100.00'),
        netRevenue: Amount('revenue − refunded', '1100.00'),
        commissions: Type.Object({
          pending: Amount('In holdback, not yet payable', '40.00'),
          approved: Amount('Payable, or in a pending payout', '120.00'),
          paid: Amount('Paid out', '60.00'),
          reversed: Amount('Taken off commissions by refunds before they were paid', '20.00'),
          rejected: Amount('Rejected with their transaction or the partner', '0.00'),
          total: Amount('Earned and not cancelled: pending + approved + paid', '220.00'),
        }),
      }),
      { description: 'One entry per currency the partner has sales or commissions in, by code' },
    ),
  },
  {
    examples: [
      {
        partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
        clicks: 340,
        leads: 25,
        customers: 12,
        currencies: [
          {
            currency: 'EUR',
            sales: 11,
            revenue: '1200.00',
            refunded: '100.00',
            netRevenue: '1100.00',
            commissions: {
              pending: '40.00',
              approved: '120.00',
              paid: '60.00',
              reversed: '20.00',
              rejected: '0.00',
              total: '220.00',
            },
          },
        ],
      },
    ],
  },
);

export function partnerStatsRoute(app: App): void {
  app.get(
    '/partners/:id/stats',
    {
      config: { scope: 'partners:read', report: true },
      schema: {
        operationId: 'getPartnerStats',
        summary: "Get a partner's performance",
        description:
          "Clicks, leads and customers, and per currency the sales, revenue and commission sums by status. Money is a decimal string in the currency's own precision; clawbacks (refunds after payment) are negative commissions counted in their status.",
        tags: ['Partners'],
        params: IdParams('prt'),
        response: { 200: DataEnvelope(PartnerStatsSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request) => ({ data: await partnerStats(domainContext(request), request.params.id) }),
  );
}
