import { Type } from '@sinclair/typebox';
import { ApiError } from '../errors.ts';
import { UNMATCHED_ROUTE } from '../metrics/http-metrics.ts';
import { documentedParams } from './path-params.ts';

/** `/api/t/{slug}/v1`, `/api/t/acme/v1` or `/api/t/:tenantSlug/v1`: the tenant's own base URL. */
const TENANT_BASE = /^\/api\/t\/[^/]+\/v1(?=\/|$)/;

const FORMS =
  'a route template as the OpenAPI document writes it, such as /api/v1/partners/{id} (or /partners/{id}, or /api/t/{slug}/v1/partners/{id}), or unmatched';

/** The `route` query parameter of usage and the request log. */
export const RouteFilterQuery = Type.String({
  minLength: 1,
  maxLength: 200,
  description:
    'Only this route: its template as the OpenAPI document writes it (`/api/v1/partners/{id}`). The same template under the tenant base URL (`/api/t/{slug}/v1/partners/{id}`, any slug), without the base URL (`/partners/{id}`, as `RATE_LIMIT_ROUTES` names routes) and with `:id` for `{id}` is the same filter. `unmatched` selects requests no route matched. Anything that names no route of the tenant API is a 400.',
  examples: ['/api/v1/partners/{id}'],
});

/**
 * The route label (`/api/v1/partners/{id}`) a `route` filter means, in whichever form the API
 * writes routes elsewhere; undefined without a filter. `known` holds the labels of the tenant API's
 * routes: a value naming none of them (nor `unmatched`) is a 400, since it could only ever select
 * nothing and an empty answer would hide the mistake.
 */
export function routeFilter(route: string | undefined, known: ReadonlySet<string>): string | undefined {
  if (route === undefined || route === UNMATCHED_ROUTE) return route;
  let label = documentedParams(route).replace(TENANT_BASE, '/api/v1');
  if (label.startsWith('/') && !label.startsWith('/api/')) label = `/api/v1${label}`;
  if (known.has(label)) return label;
  const message = `route must be ${FORMS}; ${label} is not a route of the API`;
  throw new ApiError('validation_error', message, {
    errors: [{ field: 'route', code: 'invalid_value', message }],
  });
}
