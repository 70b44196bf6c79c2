import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../../platform/http/schemas.ts';
import { TransactionSchema } from '../schemas.ts';
import { getTransactionOrThrow, transactionView } from '../service.ts';

export function getTransactionRoute(app: App): void {
  app.get(
    '/transactions/:id',
    {
      config: { scope: 'transactions:read' },
      schema: {
        operationId: 'getTransaction',
        summary: 'Get a transaction',
        tags: ['Transactions'],
        params: IdParams('txn'),
        response: { 200: DataEnvelope(TransactionSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request) => ({
      data: transactionView(await getTransactionOrThrow(domainContext(request), request.params.id)),
    }),
  );
}
