import { Type } from '@sinclair/typebox';
import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../../platform/http/schemas.ts';
import { TransactionSchema } from '../schemas.ts';
import { decideTransaction, transactionView } from '../service.ts';

const DecisionBody = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) },
  { additionalProperties: false, examples: [{ reason: 'Order cancelled by the customer' }] },
);

/** `POST /transactions/{id}/approve` and `/reject`, each with an optional reason. */
export function decideTransactionRoutes(app: App): void {
  for (const [action, decision] of [
    ['approve', 'approved'],
    ['reject', 'rejected'],
  ] as const) {
    app.post(
      `/transactions/:id/${action}`,
      {
        config: { scope: 'transactions:write' },
        schema: {
          operationId: `${action}Transaction`,
          summary: action === 'approve' ? 'Approve a pending transaction' : 'Reject a transaction',
          description:
            action === 'approve'
              ? 'Marks the sale as confirmed; its commissions are approved when their holdback ends.'
              : 'Rejects the sale and its unpaid commissions; paid commissions are not changed.',
          tags: ['Transactions'],
          params: IdParams('txn'),
          body: DecisionBody,
          response: {
            200: DataEnvelope(TransactionSchema),
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
      async (request) => {
        const transaction = await decideTransaction(
          domainContext(request),
          request.params.id,
          decision,
          request.body.reason,
        );
        return { data: transactionView(transaction) };
      },
    );
  }
}
