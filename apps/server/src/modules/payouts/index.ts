import type { Module } from '../../app.ts';
import { cancelPayoutRoute } from './routes/cancel.ts';
import { createPayoutRoute } from './routes/create.ts';
import { getPayoutRoute } from './routes/get.ts';
import { listPayoutsRoute } from './routes/list.ts';
import { markPayoutPaidRoute } from './routes/mark-paid.ts';
import { PayoutSchema } from './schemas.ts';

export const payoutsModule: Module = {
  name: 'payouts',
  routes(app) {
    listPayoutsRoute(app);
    createPayoutRoute(app);
    getPayoutRoute(app);
    markPayoutPaidRoute(app);
    cancelPayoutRoute(app);
  },
  webhookEvents: { 'payout.created': PayoutSchema, 'payout.paid': PayoutSchema },
};
