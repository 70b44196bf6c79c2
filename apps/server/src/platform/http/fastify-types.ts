import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Scope } from '../auth/scopes.ts';
import type { AuthContext } from '../context.ts';
import type { Services } from '../services.ts';
import type { KeyRoute } from './tenant-route.ts';

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
    /**
     * The first step of a shutdown: stop accepting connections and answer every request that still
     * arrives on an open one with 503 and `Connection: close`, leaving those connections open for
     * their clients to read that answer. `close()` follows.
     */
    stopAccepting(): void;
    /**
     * The label of every tenant API route (`/api/v1/partners/{id}`), added as each is registered:
     * the routes usage and the request log can name, besides `unmatched`.
     */
    tenantRouteLabels: Set<string>;
  }
  interface FastifyRequest {
    /** Set by the tenant API's authentication hook before any handler runs. */
    auth: AuthContext | null;
    /** Set with `auth` for a tenant key: its state on the route (budgets, usage counters). */
    keyRoute: KeyRoute | null;
    /** The app clock's time when the tenant API's gate took the request, before its body was read. */
    receivedAt: Date | null;
    /** The tenant API's gate is waiting for the key's record or its limits. */
    gateInFlight: boolean;
    /** The connection closed while the gate was in flight: the gate records the request when done. */
    closedInGate: boolean;
  }
  interface FastifyContextConfig {
    /** The scope a tenant route requires; absent for routes any valid key may call. */
    scope?: Scope;
    /** The route's successful answers carry the resource's ETag (documented as such). */
    etag?: boolean;
    /**
     * The route reads as many rows as the tenant has (a report such as usage); its requests take
     * turns per tenant like the lists' (TENANT_LIST_CONCURRENCY).
     */
    report?: boolean;
  }
}

/** The Fastify instance route files register on, typed by TypeBox schemas. */
export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;
