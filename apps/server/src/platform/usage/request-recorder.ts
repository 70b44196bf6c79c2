import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { type SecretMask, secretMaskFor } from '../auth/secret-mask.ts';
import type { Config } from '../config.ts';
import type { Database, Db } from '../db/index.ts';
import { clientIp } from '../http/client-ip.ts';
import { routeLabel } from '../http/tenant-route.ts';
import type { Job } from '../jobs.ts';
import { HttpMetrics, UNMATCHED_ROUTE } from '../metrics/http-metrics.ts';
import { ProcessMetrics } from '../metrics/process-metrics.ts';
import { maintainRequestLogPartitions, requestLogPartitionJob } from '../request-logs/partitions.ts';
import { RequestLogWriter } from '../request-logs/writer.ts';
import type { Clock } from '../services.ts';
import { UsageMeter } from './meter.ts';
import { usageRetentionJob } from './retention.ts';

const MAX_PATH = 2_048;

export type RecorderConfig = Pick<
  Config,
  'usageFlushIntervalMs' | 'requestLogRetentionDays' | 'requestLogTestKeys' | 'keyPrefix' | 'adminApiKey'
>;

/**
 * What happens after every response: the request is counted for /metrics, metered for its tenant
 * and key, and appended to the request log. All of it only touches memory; the usage meter and the
 * log writer flush on their own timers, so a request never waits on analytics.
 */
export class RequestRecorder {
  readonly usage: UsageMeter;
  readonly requestLogs: RequestLogWriter;
  readonly http = new HttpMetrics();
  readonly process = new ProcessMetrics();
  /** Fastify route URL → the label used everywhere (`/api/v1/partners/{id}`); one entry per route. */
  private readonly routes = new Map<string, string>();
  private readonly secrets: SecretMask;

  private readonly db: Db;

  constructor(
    database: Pick<Database, 'db' | 'copyFrom'>,
    private readonly clock: Clock,
    private readonly log: FastifyBaseLogger,
    private readonly config: RecorderConfig,
  ) {
    this.db = database.db;
    this.usage = new UsageMeter(database.db, log, config.usageFlushIntervalMs);
    this.requestLogs = new RequestLogWriter(database, log);
    this.secrets = secretMaskFor(config);
  }

  /** Creates the request-log partitions the next days need, then starts the flush timers. */
  async start(): Promise<void> {
    await maintainRequestLogPartitions(this.db, this.clock.now(), this.config.requestLogRetentionDays);
    this.usage.start();
    this.requestLogs.start();
    this.process.start();
  }

  /**
   * The `onResponse` hook's one call. Never throws: analytics must not break a response. A request
   * that no route's handling timed (one the router refused) brings its own latency.
   */
  record(request: FastifyRequest, reply: FastifyReply, latencyMs = reply.elapsedTime): void {
    try {
      this.recordUnsafe(
        request,
        reply,
        latencyMs,
        reply.statusCode,
        reply.errorCode ?? null,
        request.id,
        true,
      );
    } catch (error) {
      this.log.warn({ err: error, requestId: request.id }, 'could not record request');
    }
  }

  /**
   * A request whose connection closed before its answer was sent whole: the client went away
   * (recorded as 499, `client_closed_request`), or the HTTP layer answered it (a 408 when its body
   * did not arrive in time) under the id that answer carried. It was counted against its key's
   * budgets when it came in, so it is counted, metered and logged like any other.
   */
  recordUnanswered(
    request: FastifyRequest,
    reply: FastifyReply,
    answered: { requestId: string; status: number; code: string } | undefined,
  ): void {
    try {
      const status = answered?.status ?? 499;
      const code = answered?.code ?? 'client_closed_request';
      this.recordUnsafe(
        request,
        reply,
        reply.elapsedTime,
        status,
        code,
        answered?.requestId ?? request.id,
        false,
      );
    } catch (error) {
      this.log.warn({ err: error, requestId: request.id }, 'could not record request');
    }
  }

  /** Background jobs: hourly partition maintenance and usage retention. */
  jobs(): Job[] {
    return [
      requestLogPartitionJob(this.db, this.clock, this.config.requestLogRetentionDays),
      usageRetentionJob(this.db, this.clock),
    ];
  }

  /** Writes whatever is buffered now (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([this.usage.flush(), this.requestLogs.flush()]);
  }

  async stop(): Promise<void> {
    this.process.stop();
    await Promise.all([this.usage.stop(), this.requestLogs.stop()]);
  }

  private recordUnsafe(
    request: FastifyRequest,
    reply: FastifyReply,
    latencyMs: number,
    status: number,
    errorCode: string | null,
    requestId: string,
    /** Whether the reply went out (else its Content-Length says nothing of what was sent). */
    sent: boolean,
  ): void {
    // A key's request on a tenant route brings its route and counters along (see KeyRoute).
    const keyRoute = request.keyRoute;
    const route = keyRoute ? keyRoute.route.label : this.routeLabel(request);
    const observation = { method: request.method, route, status, seconds: latencyMs / 1000, errorCode };
    if (keyRoute) this.http.observeRoute(keyRoute.route.series, observation);
    else this.http.observe(observation);

    // Only requests that resolved a tenant are metered and logged: there is nobody else to show them to.
    const auth = request.auth;
    if (!auth) return;
    // When the request came in, as its id says too: a slow upload or a slow answer is counted in
    // the minute, and logged at the time, it began.
    const at = request.receivedAt ?? this.clock.now();
    const actor = auth.actor;
    const keyId = actor.type === 'api_key' ? actor.keyId : null;
    this.usage.record(
      {
        tenantId: auth.tenant.id,
        keyId,
        route,
        method: request.method,
        status,
        rateLimited: status === 429,
        // A key's request refused before its limits never got its state on the route.
        uncharged: status === 429 || (keyId !== null && keyRoute === null),
        latencyMs,
        at,
      },
      keyRoute?.usage,
    );
    if (actor.type === 'api_key' && actor.environment === 'test' && !this.config.requestLogTestKeys) return;
    // A HEAD answer's Content-Length is the GET body's; it sends none. An unanswered request's
    // answer never went out.
    const length =
      request.method === 'HEAD' ? 0 : sent ? Number(reply.getHeader('content-length')) : Number.NaN;
    this.requestLogs.append({
      id: requestId,
      tenantId: auth.tenant.id,
      createdAt: at,
      keyId,
      method: request.method,
      path: this.loggedPath(request.url),
      route,
      status,
      latencyMs: Math.round(latencyMs * 1000) / 1000,
      ip: clientIp(request) ?? null,
      userAgent: this.secrets.userAgent(request.headers['user-agent']),
      responseBytes: Number.isFinite(length) ? length : null,
      errorCode,
    });
  }

  /** The request's route as usage, request logs and /metrics name it; one label per route, kept. */
  private routeLabel(request: FastifyRequest): string {
    const url = request.routeOptions.url;
    if (url === undefined) return UNMATCHED_ROUTE;
    let label = this.routes.get(url);
    if (label === undefined) {
      label = routeLabel(url);
      this.routes.set(url, label);
    }
    return label;
  }

  /**
   * The path without its query string — query values can carry personal data — and with anything
   * shaped like an API key (or the admin key) masked, plain or percent-encoded, in case a caller
   * put one in the URL; then cut to 2,048 characters. Masking comes first: a key cut short is no
   * longer recognised whole, and all but its last characters would be stored.
   */
  private loggedPath(url: string): string {
    const query = url.indexOf('?');
    return this.secrets.mask(query === -1 ? url : url.slice(0, query)).slice(0, MAX_PATH);
  }
}
