import type { App } from '../http/fastify-types.ts';
import { createApiKeyRoute } from './routes/create.ts';
import { getApiKeyRoute } from './routes/get.ts';
import { keyStateRoutes } from './routes/lifecycle.ts';
import { listApiKeysRoute } from './routes/list.ts';
import { meRoute } from './routes/me.ts';
import { updateApiKeyRoute } from './routes/update.ts';

export function apiKeyRoutes(app: App): void {
  meRoute(app);
  createApiKeyRoute(app);
  listApiKeysRoute(app);
  getApiKeyRoute(app);
  updateApiKeyRoute(app);
  keyStateRoutes(app);
}
