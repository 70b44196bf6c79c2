import type { App } from '../http/fastify-types.ts';
import { webhookEndpointActionRoutes } from './routes/endpoint-actions.ts';
import { webhookEndpointRoutes } from './routes/endpoints.ts';
import { webhookEventTypeRoutes } from './routes/event-types.ts';
import { webhookMessageRoutes } from './routes/messages.ts';

export { webhookRetentionJob } from './retention.ts';

export function webhookRoutes(app: App): void {
  webhookEventTypeRoutes(app);
  webhookEndpointRoutes(app);
  webhookEndpointActionRoutes(app);
  webhookMessageRoutes(app);
}
