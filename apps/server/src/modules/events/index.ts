import type { Module } from '../../app.ts';
import { createEventRoute } from './routes/create.ts';
import { getEventRoute } from './routes/get.ts';
import { listEventsRoute } from './routes/list.ts';

export const eventsModule: Module = {
  name: 'events',
  routes(app) {
    createEventRoute(app);
    listEventsRoute(app);
    getEventRoute(app);
  },
};
