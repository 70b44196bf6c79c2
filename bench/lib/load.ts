import autocannon, { type AutocannonRequest } from 'autocannon';

/**
 * Seconds of uncounted load right before each measured run, on the same app: with one server
 * process per app, a process idle for a while has had its pool's connections closed (pg's 10 s
 * idle timeout), and reopening them is not the cost of the app under test.
 */
export const PRIMING_SECONDS = 1;

/** One request of a run; a GET unless `method` says otherwise. */
export interface LoadRequest {
  method?: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /**
   * Rebuilds the request before every send, e.g. to make each body unique. Costs the load generator
   * a request build per send, where prebuilt requests cost nothing.
   */
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}

export interface LoadOptions {
  /** Base URL of the server; `nextRequest` names the path of every request. */
  url: string;
  connections: number;
  /** How long the run lasts; ignored when `amount` is set. */
  durationSeconds?: number;
  /**
   * Sends exactly this many requests and ends once every one is answered, so none is left in
   * flight when the run stops: what a run that is checked against the database afterwards needs.
   */
  amount?: number;
  /**
   * Called `requestsPerConnection` times per connection before the run: the path and headers of each
   * request. Every connection then cycles through its own list; prebuilt requests keep the load
   * generator's CPU cost per request low, which matters when it shares the machine with the server.
   */
  nextRequest: () => LoadRequest;
  requestsPerConnection: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  statusCodes: Record<string, number>;
  /** CPU time the load generator (this process) spent per request, µs. */
  clientCpuUs: number;
  /** Length of the run, s: autocannon's for a timed run, first send to last answer for an `amount`. */
  seconds: number;
}

/** Response times in ms with µs resolution; autocannon's own histogram rounds to whole ms. */
class Samples {
  private values = new Float64Array(1 << 16);
  private size = 0;

  add(value: number): void {
    if (this.size === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.size++] = value;
  }

  percentiles(...ps: number[]): number[] {
    const sorted = this.values.subarray(0, this.size).sort();
    return ps.map((p) => sorted[Math.min(this.size - 1, Math.ceil((p / 100) * this.size) - 1)] ?? Number.NaN);
  }
}

/** One closed-loop autocannon run: each connection sends its next request as soon as the last is answered. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  if ((options.amount === undefined) === (options.durationSeconds === undefined)) {
    throw new Error('runLoad: give either durationSeconds or amount');
  }
  const samples = new Samples();
  const started = performance.now();
  let lastAnswer = started;
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    ...(options.amount === undefined ? { duration: options.durationSeconds } : { amount: options.amount }),
    setupClient: (client) => {
      client.setRequests(
        Array.from({ length: options.requestsPerConnection }, () => ({
          method: 'GET',
          ...options.nextRequest(),
        })),
      );
    },
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode >= 200 && statusCode < 300) samples.add(responseTime);
    lastAnswer = performance.now();
  });
  const cpuBefore = process.cpuUsage();
  const result = await instance;
  const cpu = process.cpuUsage(cpuBefore);
  const [p50, p99] = samples.percentiles(50, 99);
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, stats]) => [code, Number(stats.count)]),
  );
  const requests = Object.values(statusCodes).reduce((sum, count) => sum + count, 0);
  // autocannon ends an `amount` run only at its next one-second tick: its duration would overstate it.
  const seconds = options.amount === undefined ? result.duration : (lastAnswer - started) / 1000;
  return {
    requestsPerSecond: requests / seconds,
    requests,
    p50Ms: p50 ?? Number.NaN,
    p99Ms: p99 ?? Number.NaN,
    non2xx: result.non2xx,
    errors: result.errors,
    statusCodes,
    clientCpuUs: (cpu.user + cpu.system) / requests,
    seconds,
  };
}

/** A run with any non-2xx answer or socket error measured something else: refuse its figures. */
export function assertClean(label: string, result: LoadResult): void {
  if (result.non2xx === 0 && result.errors === 0) return;
  throw new Error(
    `${label}: invalid run, ${result.non2xx} non-2xx responses and ${result.errors} errors ` +
      `(status codes ${JSON.stringify(result.statusCodes)})`,
  );
}
