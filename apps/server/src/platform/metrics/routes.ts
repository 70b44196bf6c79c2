import { safeEqual } from '../auth/key-format.ts';
import { within } from '../deadline.ts';
import { ApiError } from '../errors.ts';
import type { App } from '../http/fastify-types.ts';
import { webhookQueueDepth } from '../webhooks/queue-stats.ts';
import { renderMetrics } from './render.ts';

const BEARER = /^Bearer\s+(\S+)\s*$/i;
const QUEUE_DEPTH_TIMEOUT_MS = 1_000;

/**
 * `GET /metrics` in the Prometheus text format, for the operator's scraper: outside the tenant API,
 * never rate limited, and left out of the OpenAPI document (it is not part of the public API).
 * With METRICS_TOKEN set it needs `Authorization: Bearer <METRICS_TOKEN>`.
 */
export function metricsRoutes(app: App): void {
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    const { config } = request.server.services;
    if (config.metricsToken !== undefined) {
      const presented = BEARER.exec(request.headers.authorization ?? '')?.[1];
      if (presented === undefined) {
        throw new ApiError('api_key_missing', 'GET /metrics needs METRICS_TOKEN as a bearer token');
      }
      if (!safeEqual(presented, config.metricsToken)) {
        throw new ApiError('api_key_invalid', 'The bearer token is not METRICS_TOKEN');
      }
    }
    reply.header('cache-control', 'no-store');
    reply.type('text/plain; version=0.0.4; charset=utf-8');
    const { services } = request.server;
    // The only figure read from the database: while it does not answer, the scrape goes on without
    // it, within a second, so the metrics of the outage itself reach the scraper.
    const webhookQueue = await within(
      webhookQueueDepth(services.db, services.clock.now()),
      QUEUE_DEPTH_TIMEOUT_MS,
      'the webhook queue depth query',
    ).catch(() => undefined);
    return renderMetrics(services, webhookQueue);
  });
}
