import type { App } from '../http/fastify-types.ts';
import { getKeyUsageRoute } from './routes/get-key-usage.ts';
import { getUsageRoute } from './routes/get-usage.ts';

export function usageRoutes(app: App): void {
  getUsageRoute(app);
  getKeyUsageRoute(app);
}
