import type { Module } from '../../app.ts';
import { decideTransactionRoutes } from './routes/decide.ts';
import { getTransactionRoute } from './routes/get.ts';
import { listTransactionsRoute } from './routes/list.ts';

export const transactionsModule: Module = {
  name: 'transactions',
  routes(app) {
    listTransactionsRoute(app);
    getTransactionRoute(app);
    decideTransactionRoutes(app);
  },
};
