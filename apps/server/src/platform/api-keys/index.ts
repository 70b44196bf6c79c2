import type { App } from '../http/fastify-types.ts';
import type { Job } from '../jobs.ts';
import type { Services } from '../services.ts';
import { createApiKeyRoute } from './routes/create.ts';
import { getApiKeyRoute } from './routes/get.ts';
import { keyStateRoutes } from './routes/lifecycle.ts';
import { listApiKeysRoute } from './routes/list.ts';
import { meRoute } from './routes/me.ts';
import { updateApiKeyRoute } from './routes/update.ts';
import { warnExpiringKeys } from './service.ts';

export function apiKeyRoutes(app: App): void {
  meRoute(app);
  createApiKeyRoute(app);
  listApiKeysRoute(app);
  getApiKeyRoute(app);
  updateApiKeyRoute(app);
  keyStateRoutes(app);
}

/** Sends api_key.expiring once for each key that expires within 7 days. */
export function apiKeyExpiryJob(services: Services): Job {
  return {
    name: 'api-key-expiry-warnings',
    intervalMs: services.config.apiKeyExpiryCheckIntervalMs,
    run: () => warnExpiringKeys(services.db, services.clock.now()),
  };
}
