import type { Module } from '../../app.ts';
import { decideTransactionRoutes } from './routes/decide.ts';
import { getTransactionRoute } from './routes/get.ts';
import { listTransactionsRoute } from './routes/list.ts';
import { TransactionSchema } from './schemas.ts';

export const transactionsModule: Module = {
  name: 'transactions',
  routes(app) {
    listTransactionsRoute(app);
    getTransactionRoute(app);
    decideTransactionRoutes(app);
  },
  webhookEvents: {
    'transaction.created': TransactionSchema,
    'transaction.approved': TransactionSchema,
    'transaction.rejected': TransactionSchema,
    'transaction.refunded': TransactionSchema,
  },
};
