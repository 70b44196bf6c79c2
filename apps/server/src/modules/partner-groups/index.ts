import type { Module } from '../../app.ts';
import { createGroupRoute } from './routes/create.ts';
import { getGroupRoute } from './routes/get.ts';
import { listGroupsRoute } from './routes/list.ts';
import { updateGroupRoute } from './routes/update.ts';

export const partnerGroupsModule: Module = {
  name: 'partner-groups',
  routes(app) {
    listGroupsRoute(app);
    createGroupRoute(app);
    getGroupRoute(app);
    updateGroupRoute(app);
  },
};
