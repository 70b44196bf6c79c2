// The part of autocannon's API the benchmarks use; the package ships no types.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  export interface AutocannonRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
    setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest;
  }

  export interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total: number;
    p50: number;
    p90: number;
    p99: number;
  }

  export interface AutocannonResult {
    duration: number;
    requests: Histogram;
    latency: Histogram;
    errors: number;
    timeouts: number;
    non2xx: number;
    statusCodeStats: Record<string, { count: number }>;
    start: Date;
    finish: Date;
  }

  export interface AutocannonOptions {
    url: string;
    connections?: number;
    duration?: number;
    /** A number of requests to send instead of a duration; the run ends when all are answered. */
    amount?: number;
    pipelining?: number;
    timeout?: number;
    requests?: AutocannonRequest[];
    /** Called once per connection before it starts. */
    setupClient?: (client: Client) => void;
  }

  export interface Client {
    setRequests(requests: AutocannonRequest[]): void;
  }

  export interface Instance extends EventEmitter, PromiseLike<AutocannonResult> {
    stop(): void;
  }

  // biome-ignore lint/style/noDefaultExport: the package's CommonJS export is this one function
  export default function autocannon(options: AutocannonOptions): Instance;
}
