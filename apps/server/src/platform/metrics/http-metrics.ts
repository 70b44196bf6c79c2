import { subMap } from '../nested-map.ts';
import { Counter, type CounterSeries, Histogram, type HistogramSeries } from './exposition.ts';

/** Prometheus' usual latency buckets, in seconds, from 1 ms to 10 s. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Route label of requests no route matched (404s of unknown paths, 405s). */
export const UNMATCHED_ROUTE = 'unmatched';

/** One answered request, as /metrics counts it. */
export interface Observation {
  method: string;
  route: string;
  status: number;
  seconds: number;
  errorCode: string | null;
}

interface RequestSeries {
  requests: CounterSeries;
  duration: HistogramSeries;
}

/**
 * One route's series per status code, kept by the caller with the route (see TenantRoute) so a
 * request finds its series with one lookup; `metrics` names the HttpMetrics they belong to.
 */
export interface RouteSeries {
  metrics: HttpMetrics | undefined;
  byStatus: Map<number, RequestSeries>;
}

/** Counters and the latency histogram of every HTTP request this process answered. */
export class HttpMetrics {
  readonly requests = new Counter(
    'partnerline_http_requests_total',
    'HTTP requests answered, by method, route template and status code',
    ['method', 'route', 'status'],
  );
  readonly duration = new Histogram(
    'partnerline_http_request_duration_seconds',
    'Time from receiving a request to sending the last byte of its response, by method and route template',
    ['method', 'route'],
    DURATION_BUCKETS,
  );
  readonly rateLimited = new Counter(
    'partnerline_rate_limited_total',
    'Requests refused with 429, by problem code (rate_limited, quota_exceeded)',
    ['code'],
  );

  private readonly byRoute = new Map<string, Map<string, Map<number, RequestSeries>>>();

  constructor() {
    // Present from the start, so a dashboard's rate() has a series before the first refusal.
    for (const code of ['rate_limited', 'quota_exceeded']) this.rateLimited.inc([code], 0);
  }

  observe(request: Observation): void {
    this.count(this.seriesOf(request.route, labelOf(request.method), request.status), request);
  }

  /**
   * `observe` for a request through its route's own `RouteSeries`: a registered route, or the
   * stand-in route of a key's unmatched requests of one method, which may be any.
   */
  observeRoute(route: RouteSeries, request: Observation): void {
    if (route.metrics !== this) {
      route.metrics = this;
      route.byStatus.clear();
    }
    let series = route.byStatus.get(request.status);
    if (!series) {
      series = this.seriesOf(request.route, labelOf(request.method), request.status);
      route.byStatus.set(request.status, series);
    }
    this.count(series, request);
  }

  private count(series: RequestSeries, request: Observation): void {
    series.requests.value += 1;
    this.duration.observeIn(series.duration, request.seconds);
    if (request.status === 429) this.rateLimited.inc([request.errorCode ?? 'unknown']);
  }

  /** The series a request counts in, looked up by route, method and status: no label strings built. */
  private seriesOf(route: string, method: string, status: number): RequestSeries {
    const byStatus = subMap(subMap(this.byRoute, route), method);
    let series = byStatus.get(status);
    if (!series) {
      series = {
        requests: this.requests.seriesOf([method, route, String(status)]),
        duration: this.duration.seriesOf([method, route]),
      };
      byStatus.set(status, series);
    }
    return series;
  }

  write(out: string[]): void {
    this.requests.write(out);
    this.duration.write(out);
    this.rateLimited.write(out);
  }
}

/** A method as a label: unknown methods would let any client mint label values. */
function labelOf(method: string): string {
  return METHODS.has(method) ? method : 'OTHER';
}
