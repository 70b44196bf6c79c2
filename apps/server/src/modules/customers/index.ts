import type { Module } from '../../app.ts';
import { createCustomerRoute } from './routes/create.ts';
import { getCustomerRoute } from './routes/get.ts';
import { listCustomersRoute } from './routes/list.ts';
import { updateCustomerRoute } from './routes/update.ts';
import { CustomerSchema } from './schemas.ts';

export const customersModule: Module = {
  name: 'customers',
  routes(app) {
    listCustomersRoute(app);
    createCustomerRoute(app);
    getCustomerRoute(app);
    updateCustomerRoute(app);
  },
  webhookEvents: { 'customer.created': CustomerSchema, 'customer.updated': CustomerSchema },
};
