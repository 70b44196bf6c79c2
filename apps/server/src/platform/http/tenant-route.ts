import type { RouteOptions } from 'fastify';
import type { Scope } from '../auth/scopes.ts';
import type { AuthContext } from '../context.ts';
import { type RouteSeries, UNMATCHED_ROUTE } from '../metrics/http-metrics.ts';
import type { LimitCheck } from '../rate-limit/policy.ts';
import { emptyUsageSlots, type UsageSlots } from '../usage/meter.ts';
import { documentedParams } from './path-params.ts';

const TENANT_PREFIX = /^\/api\/(?:v1|t\/:tenantSlug\/v1)(?=\/)/;

/**
 * What the gate and the recorder need of one tenant API route, worked out once when the route is
 * registered, so a request reads it from one object instead of deriving it from the URL again.
 */
export interface TenantRoute {
  /**
   * The route as RATE_LIMIT_ROUTES names it and its policy is called in the rate-limit headers:
   * `PATCH /partners/{id}` (HEAD counts as GET).
   */
  readonly limitName: string;
  /** The route in usage, request logs and /metrics: `/api/v1/partners/{id}`. */
  readonly label: string;
  /** The scope the route requires; undefined when any valid key may call it. */
  readonly scope: Scope | undefined;
  /** Each cached key's state on this route, made on its first request here. */
  readonly keys: WeakMap<AuthContext, KeyRoute>;
  /** This route's `/metrics` series per status code (see HttpMetrics.observe). */
  readonly series: RouteSeries;
}

/**
 * One cached key on one route: the budgets its requests take from and the place its usage is
 * counted in. A request reaches all of them through this one object instead of a lookup per module.
 */
export interface KeyRoute {
  readonly route: TenantRoute;
  readonly checks: readonly LimitCheck[];
  /** The usage meter's counters of this key on this route for the current minute. */
  readonly usage: UsageSlots;
}

/** `/api/t/:tenantSlug/v1/partners/:id` → `/api/v1/partners/{id}`, as the OpenAPI document names it. */
export function routeLabel(url: string): string {
  return documentedParams(url.replace(TENANT_PREFIX, '/api/v1'));
}

export function tenantRoute(route: Pick<RouteOptions, 'method' | 'url' | 'config'>): TenantRoute {
  const { method } = route;
  if (typeof method !== 'string') throw new Error(`tenant route ${route.url} must have exactly one method`);
  const path = documentedParams(route.url.replace(TENANT_PREFIX, ''));
  return {
    limitName: `${method === 'HEAD' ? 'GET' : method} ${path}`,
    label: routeLabel(route.url),
    scope: (route.config as { scope?: Scope } | undefined)?.scope,
    keys: new WeakMap(),
    series: { metrics: undefined, byStatus: new Map() },
  };
}

/**
 * The stand-in route of a key's requests that no route matches (404, 405), one per method: they
 * take from the key's own budgets and quota (no per-route limit names them) and are counted,
 * metered and logged under the route `unmatched`.
 */
export function unmatchedRoute(method: string): TenantRoute {
  return {
    limitName: `${method} (unmatched)`,
    label: UNMATCHED_ROUTE,
    scope: undefined,
    keys: new WeakMap(),
    series: { metrics: undefined, byStatus: new Map() },
  };
}

export function newKeyRoute(route: TenantRoute, checks: readonly LimitCheck[]): KeyRoute {
  return { route, checks, usage: emptyUsageSlots() };
}
