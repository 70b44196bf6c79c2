import { Server as NetServer } from 'node:net';
import { Type } from '@sinclair/typebox';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { commissionsModule } from './modules/commissions/index.ts';
import { customersModule } from './modules/customers/index.ts';
import { eventsModule } from './modules/events/index.ts';
import { partnerGroupsModule } from './modules/partner-groups/index.ts';
import { partnersModule } from './modules/partners/index.ts';
import { payoutsModule } from './modules/payouts/index.ts';
import { transactionsModule } from './modules/transactions/index.ts';
import { apiKeyExpiryJob, apiKeyRoutes } from './platform/api-keys/index.ts';
import { revokeLeakedKeysRoute } from './platform/api-keys/routes/revoke-leaked.ts';
import { auditLogRoutes } from './platform/audit-log/routes.ts';
import { secretMaskFor } from './platform/auth/secret-mask.ts';
import { ApiError } from './platform/errors.ts';
import type { App } from './platform/http/fastify-types.ts';
import { healthRoutes } from './platform/http/health.ts';
import { jsonBodyParser } from './platform/http/json-body.ts';
import { logSerializers } from './platform/http/log-serializers.ts';
import { hasEmptyParam } from './platform/http/path-params.ts';
import {
  answerClientError,
  frameworkErrorRenderer,
  registerProblemHandling,
  type UnmatchedAnswer,
} from './platform/http/problems.ts';
import { malformedQuery } from './platform/http/query-encoding.ts';
import { requestLogger } from './platform/http/request-logger.ts';
import { addErrorResponses, NoQuery } from './platform/http/schemas.ts';
import { serializerCompiler } from './platform/http/serialization.ts';
import { authOf, gateUnmatched, tenantGate } from './platform/http/tenant-api.ts';
import { tenantRoute } from './platform/http/tenant-route.ts';
import { TenantTurns } from './platform/http/tenant-turns.ts';
import { closedUnanswered } from './platform/http/unanswered.ts';
import { validatorCompiler } from './platform/http/validation.ts';
import {
  claimIdempotencyKey,
  idempotencyCleanupJob,
  storeIdempotentResponse,
} from './platform/idempotency.ts';
import { newId } from './platform/ids.ts';
import type { Job } from './platform/jobs.ts';
import { metricsRoutes } from './platform/metrics/routes.ts';
import {
  documentAbsentBodyAsEmpty,
  documentEtag,
  documentKeyGate,
  registerOpenApi,
} from './platform/openapi.ts';
import { assertRateLimitedRoutesExist } from './platform/rate-limit/request-limits.ts';
import { requestLogRoutes } from './platform/request-logs/routes.ts';
import type { Services } from './platform/services.ts';
import { adminApi } from './platform/tenants/index.ts';
import { usageRoutes } from './platform/usage/index.ts';
import {
  assertWebhookCatalogComplete,
  registerWebhookEventSchemas,
  type WebhookEventSchemas,
} from './platform/webhooks/event-types.ts';
import { webhookRetentionJob, webhookRoutes } from './platform/webhooks/index.ts';

/** A domain module: one folder under src/modules, registered here with one line. */
export interface Module {
  name: string;
  routes(app: App): void;
  /** Background jobs the server runs for this module; each must be safe with several processes. */
  jobs?(services: Services): Job[];
  /** The schema of `data` for each webhook event type about this module's resources. */
  webhookEvents?: WebhookEventSchemas;
}

const MODULES: Module[] = [
  partnersModule,
  partnerGroupsModule,
  customersModule,
  eventsModule,
  transactionsModule,
  commissionsModule,
  payoutsModule,
];

const BODY_LIMIT = 1024 * 1024;

/** Action endpoints (`POST …/approve`) take an optional body: none at all counts as `{}`. */
async function defaultEmptyBody(request: FastifyRequest): Promise<void> {
  if (request.body === undefined) request.body = {};
}

/** The body of a route that takes no fields. */
const EmptyBody = Type.Object({}, { additionalProperties: false, examples: [{}] });

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** What the JSON body parser answers before a route runs. */
const BODY_ERRORS = ['invalid_json', 'unsupported_media_type', 'payload_too_large'] as const;

async function tenantApi(
  app: App,
  options: { hidden: boolean; answerUnmatched: UnmatchedAnswer; turns: TenantTurns },
): Promise<void> {
  if (options.hidden) {
    // The /api/t/{slug}/v1 twins of every route: served, but documented once under /api/v1.
    app.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, hide: true };
    });
  }
  // The gate is a hook of each route's own, made for that route (see tenantGate). It sets the
  // rate-limit headers, so the route's documented responses declare them.
  app.addHook('onRoute', (route) => {
    const tenant = tenantRoute(route);
    app.tenantRouteLabels.add(tenant.label);
    route.onRequest = [tenantGate(tenant), ...[route.onRequest ?? []].flat()];
    route.schema = documentKeyGate(route.schema, route.config?.scope);
  });
  // Lists (routes that take `limit`) and reports read as many rows as the tenant has: a tenant's
  // requests to them take turns, so that they never hold more than a few database connections.
  // A request whose client left while it waited (recorded as 499 when it left) reads nothing: the
  // turn goes on to the next.
  app.addHook('onRoute', (route) => {
    const query = route.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
    if (route.config?.report !== true && query?.properties?.limit === undefined) return;
    const handler = route.handler;
    route.handler = function (this: FastifyInstance, request, reply) {
      return options.turns.run(authOf(request).tenant.id, () =>
        reply.raw.destroyed ? undefined : handler.call(this, request, reply),
      );
    };
  });
  // An action or DELETE that takes no fields still refuses a body that sends some, as every other
  // body with an unknown field is refused; no body at all counts as `{}`, so the document marks
  // the body optional where `{}` is valid.
  app.addHook('onRoute', (route) => {
    if (route.method !== 'POST' && route.method !== 'DELETE') return;
    if (route.schema?.body === undefined) route.schema = { ...route.schema, body: EmptyBody };
    route.schema = documentAbsentBodyAsEmpty(route.schema);
    if (route.method === 'DELETE') route.preValidation = [defaultEmptyBody];
  });
  // Only POST routes take Idempotency-Key and an optional body, so reads never run these hooks.
  app.addHook('onRoute', (route) => {
    if (route.method !== 'POST') return;
    if (route.schema?.response !== undefined) {
      route.schema.response = addErrorResponses(route.schema.response as Record<string, unknown>, [
        'idempotency_key_in_flight',
        'idempotency_key_reused',
        'validation_error',
      ]);
    }
    route.preValidation = [defaultEmptyBody];
    route.preHandler = [claimIdempotencyKey];
    route.onSend = [storeIdempotentResponse];
  });
  // Unknown paths and wrong methods: a key's request is gated, metered and logged like any other.
  app.setNotFoundHandler(async (request, reply) => {
    await gateUnmatched(request, reply);
    return options.answerUnmatched(request, reply);
  });
  apiKeyRoutes(app);
  auditLogRoutes(app);
  usageRoutes(app);
  requestLogRoutes(app);
  webhookRoutes(app);
  for (const module of MODULES) module.routes(app);
}

export async function buildApp(services: Services): Promise<FastifyInstance> {
  const { config } = services;
  const { trustProxy } = config;
  const secrets = secretMaskFor(config);
  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers["x-api-key"]'],
      serializers: logSerializers(secrets),
    },
    genReqId: () => newId('req'),
    childLoggerFactory: requestLogger,
    bodyLimit: BODY_LIMIT,
    // A number of hops: that many addresses back from the socket's are the proxies'.
    trustProxy: typeof trustProxy === 'number' ? (_: string, hop: number) => hop < trustProxy : trustProxy,
    frameworkErrors: frameworkErrorRenderer(secrets),
    // Node.js would refuse an HTTP/1.1 request without Host with a bare 400 of its own; the hook
    // below refuses it as a problem with a request id, like every other error.
    http: { requireHostHeader: false, ...requestTimeouts(config.requestTimeoutSeconds) },
    requestTimeout: config.requestTimeoutSeconds * 1000,
    clientErrorHandler: (error, socket) => answerClientError(error, socket, services.requestRecorder.http),
    // Requests that arrive while the server closes get the hook's problem below, not Fastify's 503.
    return503OnClosing: false,
  });
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.decorate('stopAccepting', () => {
    closing = true;
    // net.Server's own close: http.Server's would also drop the idle keep-alive connections at
    // once, resetting a request a client is sending on one at that very moment.
    if (app.server.listening) NetServer.prototype.close.call(app.server);
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorate('services', services);
  app.decorate('tenantRouteLabels', new Set<string>());
  app.decorateRequest('auth', null);
  app.decorateRequest('keyRoute', null);
  app.decorateRequest('receivedAt', null);
  app.decorateRequest('gateInFlight', false);
  app.decorateRequest('closedInGate', false);
  // Node.js answers an `Expect` it cannot meet (anything but 100-continue) with a bare 417 before
  // the app sees the request; it goes to the app instead, whose hook below refuses it as a problem.
  // Node also takes a list that names 100-continue among other expectations (`100-continue, x`)
  // for 100-continue; only 100-continue alone is met.
  const unmetExpectations = new WeakSet<object>();
  app.server.on('checkExpectation', (req, res) => {
    unmetExpectations.add(req);
    app.server.emit('request', req, res);
  });
  app.server.on('checkContinue', (req, res) => {
    if (req.headers.expect?.trim().toLowerCase() === '100-continue') res.writeContinue();
    else unmetExpectations.add(req);
    app.server.emit('request', req, res);
  });
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    // A connection that closes before the answer is sent whole ends a request without onResponse;
    // it may have taken from a key's budgets already, so it is recorded then (see closedUnanswered).
    const raw = reply.raw;
    raw.on('close', () => {
      if (!raw.writableFinished) closedUnanswered(request, reply);
    });
    if (request.headers.expect !== undefined && unmetExpectations.has(request.raw)) {
      done(
        new ApiError('expectation_failed', 'The only expectation this server meets is Expect: 100-continue'),
      );
      return;
    }
    if (closing) {
      reply.header('connection', 'close');
      done(new ApiError('service_unavailable', 'The server is shutting down; send the request again'));
      return;
    }
    if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
      done(
        new ApiError('validation_error', 'An HTTP/1.1 request must send a Host header', {
          errors: [{ field: 'Host', code: 'required', message: 'Host is required' }],
        }),
      );
      return;
    }
    // A fragment is the client's own (RFC 9110 §7.1): a request target holding one is malformed,
    // and the router would read what follows `#` as the query string.
    if (request.raw.url?.includes('#')) {
      done(
        new ApiError('validation_error', 'The request target must not contain a fragment (#…)', {
          errors: [{ field: 'url', code: 'invalid_format', message: 'url must not contain #' }],
        }),
      );
      return;
    }
    const malformed = malformedQuery(request.raw.url ?? '');
    if (malformed) {
      done(malformed);
      return;
    }
    // `/partners/` names no partner: the unknown route it is, not a lookup of an empty id.
    if (hasEmptyParam(request.params)) {
      reply.callNotFound();
      return;
    }
    done();
  });
  // Metrics, usage metering and the request log: memory only here, written in batches by timers.
  app.addHook('onResponse', (request, reply, done) => {
    // Fastify also runs this when writing the answer failed; the connection's close records that.
    if (reply.raw.writableFinished) services.requestRecorder.record(request, reply);
    done();
  });
  // Only JSON bodies are accepted, in UTF-8 and without a content coding; anything else is a 415 problem.
  app.removeContentTypeParser(['text/plain', 'application/json']);
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    jsonBodyParser(app.getDefaultJsonParser('error', 'error')),
  );
  // Unknown query parameters are refused, never ignored: a route without parameters of its own
  // takes none (the documentation pages of /api/doc are not the API's). A method with a body can
  // also be answered by the body parser, which the route's own responses do not name.
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/') || route.url.startsWith('/api/doc')) return;
    if (route.schema?.querystring === undefined) route.schema = { ...route.schema, querystring: NoQuery };
    if (route.config?.etag) route.schema = documentEtag(route.schema);
    const methods = [route.method].flat();
    if (route.schema.response !== undefined && methods.some((method) => BODY_METHODS.has(method))) {
      route.schema.response = addErrorResponses(
        route.schema.response as Record<string, unknown>,
        BODY_ERRORS,
      );
    }
  });
  const answerUnmatched = registerProblemHandling(app, secrets);
  if (config.docsEnabled) await registerOpenApi(app);

  const typed = app.withTypeProvider() as unknown as App;
  healthRoutes(typed);
  metricsRoutes(typed);
  revokeLeakedKeysRoute(typed);
  await typed.register(adminApi, { prefix: '/api/admin' });
  // One queue per process for both base URLs: a tenant's turns are the same whichever it calls.
  const turns = new TenantTurns(config.tenantListConcurrency);
  await typed.register(tenantApi, { prefix: '/api/v1', hidden: false, answerUnmatched, turns });
  await typed.register(tenantApi, { prefix: '/api/t/:tenantSlug/v1', hidden: true, answerUnmatched, turns });
  assertRateLimitedRoutesExist(app, config);
  await startBackgroundWork(services, { dispatch: config.webhooks.dispatch });
  return app;
}

/**
 * Node.js's timers for a request that arrives too slowly (a client holding a connection open by
 * sending its body byte by byte): the headers within the whole request's time, checked often enough
 * that the 408 comes near it. Node.js's defaults when there is no limit.
 */
function requestTimeouts(seconds: number): { headersTimeout?: number; connectionsCheckingInterval?: number } {
  if (seconds === 0) return {};
  const ms = seconds * 1000;
  return {
    headersTimeout: Math.min(60_000, ms),
    connectionsCheckingInterval: Math.min(30_000, Math.ceil(ms / 4)),
  };
}

/** Makes every webhook event type's schema known: events are rendered and documented with it. */
function registerWebhookCatalog(): void {
  for (const module of MODULES) if (module.webhookEvents) registerWebhookEventSchemas(module.webhookEvents);
  assertWebhookCatalogComplete();
}

/**
 * The background jobs, and the webhook dispatcher when `dispatch` is set: what a server runs
 * beside its HTTP listener, and all that `partnerline worker` runs.
 */
export async function startBackgroundWork(services: Services, options: { dispatch: boolean }): Promise<void> {
  registerWebhookCatalog();
  const jobs = [
    idempotencyCleanupJob(services.db, services.clock),
    services.idempotencyWrites.job(),
    apiKeyExpiryJob(services),
    webhookRetentionJob(services),
    ...services.requestRecorder.jobs(),
    ...MODULES.flatMap((module) => module.jobs?.(services) ?? []),
  ];
  await Promise.all(jobs.map((job) => services.jobs.start(job)));
  if (options.dispatch) await services.webhookDispatcher.start();
}
