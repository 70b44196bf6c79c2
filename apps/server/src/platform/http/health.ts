import { Type } from '@sinclair/typebox';
import { within } from '../deadline.ts';
import { ApiError } from '../errors.ts';
import type { App } from './fastify-types.ts';
import { errorResponses, NoQuery } from './schemas.ts';

const Status = Type.Object(
  {
    status: Type.String({
      description:
        '`ok`; `degraded` from /ready while Redis does not answer and requests are limited in process',
    }),
  },
  { examples: [{ status: 'ok' }] },
);

/** How long /ready waits for the database: a probe must answer, also while the database does not. */
const DATABASE_PROBE_TIMEOUT_MS = 2_000;

/**
 * Liveness (`/health`) and readiness (`/ready`: the database answers). No key needed. Without
 * Redis the process still serves, limiting in process (fail open), so /ready stays 200 and says
 * `degraded`; with RATE_LIMIT_FAIL_CLOSED it refuses every limited request, so it is not ready.
 */
export function healthRoutes(app: App): void {
  app.get(
    '/health',
    {
      schema: {
        operationId: 'health',
        summary: 'Liveness probe',
        tags: ['Health'],
        security: [],
        querystring: NoQuery,
        response: { 200: Status, ...errorResponses(['validation_error'], 'public') },
      },
    },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/ready',
    {
      schema: {
        operationId: 'ready',
        summary: 'Readiness probe: the database is reachable (and Redis, with RATE_LIMIT_FAIL_CLOSED)',
        tags: ['Health'],
        security: [],
        querystring: NoQuery,
        response: { 200: Status, ...errorResponses(['validation_error', 'service_unavailable'], 'public') },
      },
    },
    async (request) => {
      try {
        await within(request.server.services.database.ping(), DATABASE_PROBE_TIMEOUT_MS, 'The database');
      } catch (error) {
        request.log.error({ err: error }, 'readiness check failed');
        throw new ApiError('service_unavailable', 'The database is not reachable');
      }
      const { redisProbe, config } = request.server.services;
      if (redisProbe) {
        try {
          await redisProbe.ping();
        } catch (error) {
          // The outage itself is logged once by the rate-limit store, not on every probe.
          if (!config.rateLimits.failClosed) return { status: 'degraded' };
          request.log.error({ err: error }, 'readiness check failed: redis');
          throw new ApiError('service_unavailable', 'Redis is not reachable');
        }
      }
      return { status: 'ok' };
    },
  );
}
