import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DateFilter, errorResponses, Id, ListEnvelope, StringEnum } from '../../../platform/http/schemas.ts';
import { CurrencySchema } from '../../../platform/money.ts';
import { PaginationQuery } from '../../../platform/pagination.ts';
import { TRANSACTION_STATUSES, TransactionSchema } from '../schemas.ts';
import { listTransactions, transactionView } from '../service.ts';

const ListTransactionsQuery = Type.Object(
  {
    ...PaginationQuery,
    from: Type.Optional({
      ...DateFilter,
      description: 'occurredAt from (YYYY-MM-DD inclusive, or a timestamp)',
    }),
    to: Type.Optional({ ...DateFilter, description: 'occurredAt to (YYYY-MM-DD inclusive, or a timestamp)' }),
    status: Type.Optional(StringEnum(TRANSACTION_STATUSES)),
    partnerId: Type.Optional(Id('prt')),
    customerId: Type.Optional(Id('cus')),
    currency: Type.Optional(CurrencySchema),
  },
  { additionalProperties: false },
);

export function listTransactionsRoute(app: App): void {
  app.get(
    '/transactions',
    {
      config: { scope: 'transactions:read' },
      schema: {
        operationId: 'listTransactions',
        summary: 'List transactions',
        description: 'Example: `?from=2026-05-01&to=2026-05-31&status=approved`.',
        tags: ['Transactions'],
        querystring: ListTransactionsQuery,
        response: {
          200: ListEnvelope(TransactionSchema),
          ...errorResponses(['validation_error', 'invalid_cursor']),
        },
      },
    },
    async (request) => {
      const page = await listTransactions(domainContext(request), request.query);
      return { ...page, data: page.data.map(transactionView) };
    },
  );
}
