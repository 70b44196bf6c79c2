import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import FindMyWay from 'find-my-way';
import type { SecretMask } from '../auth/secret-mask.ts';
import { isDatabaseUnavailable } from '../db/errors.ts';
import { ApiError, type ErrorCode, problemBody } from '../errors.ts';
import { newId } from '../ids.ts';
import { type Observation, UNMATCHED_ROUTE } from '../metrics/http-metrics.ts';
import { hasEmptyParam } from './path-params.ts';
import { gateUnmatched, limitOutsideTenantApi } from './tenant-api.ts';
import { clientAnswers, closedUnanswered } from './unanswered.ts';
import { validationFailure } from './validation.ts';

/** How often, at most, a 503 for an unreachable database is logged. */
const UNAVAILABLE_LOG_INTERVAL_MS = 10_000;

declare module 'fastify' {
  interface FastifyReply {
    /** The problem `code` of an error response, for the request log and metrics. */
    errorCode: ErrorCode | null;
  }
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** Renders `error` as the response; any key the caller's input put into it is hidden. */
function send(reply: FastifyReply, error: ApiError, requestId: string, secrets: SecretMask): FastifyReply {
  reply.errorCode = error.code;
  if (error.headers) reply.headers(error.headers);
  // Whatever is unavailable is expected back soon: clients may retry after a second.
  if (error.status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', '1');
  if (error.status === 401) {
    // RFC 6750: a missing credential gets the bare challenge, a refused one says why.
    reply.header(
      'www-authenticate',
      error.code === 'api_key_missing'
        ? 'Bearer realm="partnerline"'
        : `Bearer realm="partnerline", error="invalid_token", error_description="${error.code}"`,
    );
  }
  return reply
    .code(error.status)
    .type('application/problem+json; charset=utf-8')
    .send(secrets.mask(JSON.stringify(problemBody(error, requestId))));
}

/** Fastify's own errors as the API's problem codes; anything unknown becomes an opaque 500. */
function toApiError(error: FastifyError): ApiError {
  if (error instanceof ApiError) return error;
  if (error.validation) {
    return validationFailure(error.validation as never, error.validationContext);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', 'Send the request body as application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large', 'The request body is larger than 1 MiB');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('invalid_json', 'The body is empty but Content-Type says application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('invalid_json', 'The request body is not valid JSON');
    case 'FST_ERR_ROUTE_MISSING_CONTENT_TYPE':
      return new ApiError(
        'validation_error',
        'A QUERY request must carry a Content-Type, as the QUERY method requires',
      );
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError('validation_error', 'Content-Length does not match the body');
  }
  if (error instanceof SyntaxError && error.statusCode === 400) {
    return new ApiError('invalid_json', 'The request body is not valid JSON');
  }
  if (error.statusCode === 413) return new ApiError('payload_too_large', 'The request body is too large');
  if (error.statusCode === 415)
    return new ApiError('unsupported_media_type', 'Send the request body as application/json');
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new ApiError('validation_error', 'The request could not be understood');
  }
  if (isDatabaseUnavailable(error)) {
    // The statement never reached the database, or its connection broke under it; a POST sent
    // again with the same Idempotency-Key is applied at most once.
    return new ApiError(
      'service_unavailable',
      'The database cannot be reached right now; send the request again shortly',
    );
  }
  return new ApiError(
    'internal_error',
    'An unexpected error occurred; quote the requestId when reporting it',
  );
}

/** `/api/v1/…` and `/api/t/{slug}/v1/…`, with the slug of the second. */
const TENANT_API_PATH = /^\/api\/(?:v1|t\/([^/?]*)\/v1)(?:[/?]|$)/;

/**
 * Fastify's `frameworkErrors` option: errors the router raises before any route or hook runs — a
 * path that is not valid percent-encoding, a path parameter longer than the router accepts — as
 * problems too. No hook runs for such a request, so this does their part: the request id header,
 * the limits of a path no route matches (a key's request to the tenant API passes its gate and is
 * metered and logged under `unmatched`; any other takes from its IP's budget), and the recording
 * of the answer.
 */
export function frameworkErrorRenderer(
  secrets: SecretMask,
): (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (error, request, reply) => {
    reply.header('x-request-id', request.id);
    // Fastify times a request from its route's handling on, which such a request never reaches.
    const started = performance.now();
    const raw = reply.raw;
    raw.once('close', () => {
      if (raw.writableFinished) {
        request.server.services.requestRecorder.record(request, reply, performance.now() - started);
      } else {
        closedUnanswered(request, reply);
      }
    });
    const tenantPath = TENANT_API_PATH.exec(request.url);
    if (tenantPath && tenantPath[1] !== undefined) {
      request.params = { tenantSlug: tenantPath[1].toLowerCase() };
    }
    try {
      await (tenantPath ? gateUnmatched(request, reply) : limitOutsideTenantApi(request, reply));
    } catch (refusal) {
      send(reply, toApiError(refusal as FastifyError), request.id, secrets);
      return;
    }
    let apiError: ApiError;
    if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
      // No id, slug or key is that long, so nothing can be found under it.
      apiError = new ApiError('not_found', 'No resource matches this path: a path segment is too long');
    } else if (error.code === 'FST_ERR_BAD_URL') {
      apiError = new ApiError('validation_error', 'The URL is not valid percent-encoding', {
        errors: [{ field: 'url', code: 'invalid_format', message: 'url is not valid percent-encoding' }],
      });
    } else {
      const path = secrets.mask(request.url.split('?')[0] ?? '/');
      request.log.error({ err: error, requestId: request.id, path }, 'router error');
      apiError = toApiError(error);
    }
    send(reply, apiError, request.id, secrets);
  };
}

/** Errors of Node's HTTP parser, before a request exists: the status, problem code and detail. */
function clientProblem(error: NodeJS.ErrnoException): ApiError {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return new ApiError(
      'headers_too_large',
      'The request headers are larger than the server accepts; send fewer or shorter headers',
    );
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new ApiError(
      'request_timeout',
      'The request was not received in time; send it again, without pauses',
    );
  }
  return new ApiError(
    'validation_error',
    'The request is not valid HTTP/1.1: check its request line and headers',
  );
}

/**
 * Fastify's `clientErrorHandler` option: a request Node's HTTP parser refuses (headers too large,
 * a malformed header line, a bad Content-Length) gets a problem document and a request id like
 * any other error, instead of the framework's plain JSON; then the connection is closed, as the
 * parser cannot tell where the next request would begin.
 */
export function answerClientError(
  error: NodeJS.ErrnoException,
  socket: Socket,
  metrics?: { observe(observation: Observation): void },
): void {
  // A reset connection has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    const problem = clientProblem(error);
    const requestId = newId('req');
    // A request the app has taken already (its body did not arrive in time) is recorded when its
    // connection closes, under this answer's id; anything else only Node's parser saw.
    const inFlight = (socket as { _httpMessage?: unknown })._httpMessage !== undefined;
    if (inFlight) clientAnswers.set(socket, { requestId, status: problem.status, code: problem.code });
    else
      metrics?.observe({
        method: 'OTHER',
        route: UNMATCHED_ROUTE,
        status: problem.status,
        seconds: 0,
        errorCode: problem.code,
      });
    const body = JSON.stringify(problemBody(problem, requestId));
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n` +
        'Content-Type: application/problem+json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy(error);
}

/** Answers a request no route matched: 405 with `Allow` when the path exists for other methods only, else 404. */
export type UnmatchedAnswer = (request: FastifyRequest, reply: FastifyReply) => FastifyReply;

/**
 * Renders every error — our own, validation, parser, unknown route, wrong method and unexpected
 * throws — as RFC 9457 problem+json. Unexpected errors are logged, never echoed. Returns the
 * answer to unmatched requests, for the tenant API's own not-found handlers.
 */
export function registerProblemHandling(app: FastifyInstance, secrets: SecretMask): UnmatchedAnswer {
  app.decorateReply('errorCode', null);
  // A shadow router of every registered route tells a wrong method (405) from an unknown path (404).
  const routes = FindMyWay();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      if (!routes.hasRoute(method as 'GET', route.url)) routes.on(method as 'GET', route.url, () => {});
    }
  });

  // While the database is away every request that needs it fails alike: one line every ten seconds,
  // with how many more were answered 503 since the last one, instead of a line (and a stack) each.
  let unavailableLoggedAt = Number.NEGATIVE_INFINITY;
  let unavailableSince = 0;
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const apiError = toApiError(error);
    // An ApiError is an answer the code chose (a 503 while Redis is away, logged once per outage
    // where it is detected); anything else that ends in a 5xx is a fault worth a line each.
    if (apiError.status >= 500 && !(error instanceof ApiError)) {
      if (apiError.code !== 'service_unavailable') {
        request.log.error({ err: error, requestId: request.id }, 'request failed');
      } else if (Date.now() - unavailableLoggedAt < UNAVAILABLE_LOG_INTERVAL_MS) {
        unavailableSince += 1;
      } else {
        request.log.error(
          { err: error, requestId: request.id, moreAnswered503: unavailableSince },
          'request failed: the database cannot be reached (503; one such line every 10 s at most)',
        );
        unavailableLoggedAt = Date.now();
        unavailableSince = 0;
      }
    }
    return send(reply, apiError, request.id, secrets);
  });

  const answerUnmatched: UnmatchedAnswer = (request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    // A route that would take an empty segment for a parameter does not serve the path either.
    const allowed: string[] = METHODS.filter((method) => {
      const found = routes.find(method, path);
      return found !== null && !hasEmptyParam(found.params);
    });
    // Fastify answers HEAD wherever GET is routed.
    if (allowed.includes('GET')) allowed.splice(1, 0, 'HEAD');
    // A route of this method that answers "not found" itself (a file the documentation pages do not
    // have) comes here too: that is a 404, not a wrong method.
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      const error = new ApiError('method_not_allowed', `${request.method} is not allowed on ${path}`, {
        headers: { allow: allowed.join(', ') },
      });
      return send(reply, error, request.id, secrets);
    }
    return send(reply, new ApiError('not_found', `No route ${request.method} ${path}`), request.id, secrets);
  };
  app.setNotFoundHandler(async (request, reply) => {
    await limitOutsideTenantApi(request, reply);
    return answerUnmatched(request, reply);
  });
  return answerUnmatched;
}
