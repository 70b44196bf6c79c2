import type { App } from '../../http/fastify-types.ts';
import { routeFilter } from '../../http/route-filter.ts';
import { errorResponses } from '../../http/schemas.ts';
import { authOf } from '../../http/tenant-api.ts';
import { queryUsage } from '../query.ts';
import { UsageQuery, UsageReportSchema } from '../schemas.ts';

/** `GET /usage`: the tenant's requests over time, by key, route or status class. */
export function getUsageRoute(app: App): void {
  app.get(
    '/usage',
    {
      config: { scope: 'usage:read', report: true },
      schema: {
        operationId: 'getUsage',
        summary: 'Get API usage over time',
        description:
          "Requests of the tenant's keys per minute, hour, day, ISO week or month (UTC): successes, client and server errors, rate-limited requests and latency percentiles, optionally split by key, route or status class. Counts are written every few seconds, so the newest bucket may lag by up to `USAGE_FLUSH_INTERVAL_MS` (default 5 s). Needs `usage:read`.",
        tags: ['Usage'],
        querystring: UsageQuery,
        response: { 200: UsageReportSchema, ...errorResponses(['validation_error']) },
      },
    },
    async (request) => {
      const { db, clock } = request.server.services;
      const route = routeFilter(request.query.route, request.server.tenantRouteLabels);
      return queryUsage(db, authOf(request).tenant.id, { ...request.query, route }, clock.now());
    },
  );
}
