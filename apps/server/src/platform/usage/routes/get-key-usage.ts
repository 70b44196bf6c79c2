import { getApiKeyOrThrow } from '../../api-keys/service.ts';
import type { App } from '../../http/fastify-types.ts';
import { routeFilter } from '../../http/route-filter.ts';
import { errorResponses, IdParams } from '../../http/schemas.ts';
import { authOf } from '../../http/tenant-api.ts';
import { queryUsage } from '../query.ts';
import { KeyUsageQuery, UsageReportSchema } from '../schemas.ts';

/** `GET /api-keys/{id}/usage`: `GET /usage` for one key of the tenant. */
export function getKeyUsageRoute(app: App): void {
  app.get(
    '/api-keys/:id/usage',
    {
      config: { scope: 'api_keys:read', report: true },
      schema: {
        operationId: 'getApiKeyUsage',
        summary: "Get an API key's usage over time",
        description:
          'The same figures as `GET /usage`, for one key: requests per bucket, errors, rate-limited requests and latency, optionally split by route or status class. Needs `api_keys:read`.',
        tags: ['Usage'],
        params: IdParams('key'),
        querystring: KeyUsageQuery,
        response: { 200: UsageReportSchema, ...errorResponses(['validation_error', 'not_found']) },
      },
    },
    async (request) => {
      const { db, clock } = request.server.services;
      const tenantId = authOf(request).tenant.id;
      const now = clock.now();
      const route = routeFilter(request.query.route, request.server.tenantRouteLabels);
      // Another tenant's key is a 404 like an unknown one.
      const key = await getApiKeyOrThrow(db, tenantId, request.params.id, now);
      return queryUsage(db, tenantId, { ...request.query, route, keyId: key.id }, now);
    },
  );
}
