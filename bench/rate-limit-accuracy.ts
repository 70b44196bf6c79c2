import { fileURLToPath } from 'node:url';
import { runLoad } from './lib/load.ts';
import { type ServerProcess, startServerProcess } from './lib/server-process.ts';
import { log } from './lib/suite.ts';
import type { LibraryLimitOptions } from './rate-limit-apps.ts';

const APPS_MODULE = fileURLToPath(new URL('./rate-limit-apps.ts', import.meta.url));

const ACCURACY_LIMITERS = ['redis', 'memory', 'fastify-rate-limit', 'rate-limiter-flexible'] as const;
export type AccuracyLimiter = (typeof ACCURACY_LIMITERS)[number];

/** The app of a server process each limiter is served by (`platform` is the real app, on Redis). */
const APP_OF: Record<AccuracyLimiter, string> = {
  redis: 'platform',
  memory: 'memory',
  'fastify-rate-limit': 'fastify-rate-limit',
  'rate-limiter-flexible': 'rate-limiter-flexible',
};

export interface AccuracyRun {
  allowed: number;
  refused: number;
  /** Answers other than 200 and 429, and socket errors. */
  other: number;
  /** First send to last answer, s. */
  seconds: number;
}

export interface AccuracyResult {
  limiter: AccuracyLimiter;
  runs: AccuracyRun[];
}

export interface AccuracyOptions {
  /** Environment of both server processes: one database, one Redis, one RATE_LIMIT_REDIS_PREFIX. */
  env: Record<string, string>;
  tenantId: string;
  redisUrl: string;
  /** Redis prefix of the library limiters. */
  prefix: string;
  /** Partner ids to ask for. */
  ids: string[];
  /** Keys with their own rate limit of `limit` per `windowSeconds`, one per limiter and run. */
  keys: string[];
  limit: number;
  windowSeconds: number;
  runs: number;
  /** Requests per run, over both processes. */
  requests: number;
  /** Connections per run, half on each process. */
  connections: number;
}

export interface AccuracyReport {
  results: AccuracyResult[];
  /** Calls to Redis that failed in the platform app of either process (answered in memory instead). */
  storeFailures: number;
}

/** The value of one unlabelled counter in a server's /metrics answer. */
export async function metricValue(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`/metrics has no ${name}`);
  return Number(line.slice(name.length + 1));
}

/** One key, `requests` requests from `connections` connections spread evenly over both processes. */
async function accuracyRun(
  servers: ServerProcess[],
  app: string,
  key: string,
  options: AccuracyOptions,
): Promise<AccuracyRun> {
  let i = 0;
  const nextRequest = () => ({
    path: `/api/v1/partners/${options.ids[i++ % options.ids.length]}`,
    headers: { 'x-api-key': key },
  });
  const started = performance.now();
  const results = await Promise.all(
    servers.map((server) =>
      runLoad({
        url: server.urls[app]!,
        connections: options.connections / servers.length,
        amount: options.requests / servers.length,
        nextRequest,
        requestsPerConnection: 20,
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const count = (code: string) => results.reduce((sum, r) => sum + (r.statusCodes[code] ?? 0), 0);
  const answered = results.reduce((sum, r) => sum + r.requests, 0);
  const errors = results.reduce((sum, r) => sum + r.errors, 0);
  const allowed = count('200');
  const refused = count('429');
  return { allowed, refused, other: answered - allowed - refused + errors, seconds };
}

/**
 * How many requests each limiter lets through when one key's budget is spent from two server
 * processes at once. Fresh key per limiter and run, so every run starts from a full budget.
 */
export async function measureAccuracy(options: AccuracyOptions): Promise<AccuracyReport> {
  const library: Omit<LibraryLimitOptions, 'prefix'> = {
    tenantId: options.tenantId,
    redisUrl: options.redisUrl,
    limit: options.limit,
    windowSeconds: options.windowSeconds,
  };
  const serve = () =>
    startServerProcess({
      env: options.env,
      apps: {
        memory: { module: APPS_MODULE, builder: 'buildMemoryLimitedApp' },
        'fastify-rate-limit': {
          module: APPS_MODULE,
          builder: 'buildFastifyRateLimitApp',
          options: { ...library, prefix: `${options.prefix}frl:` },
        },
        'rate-limiter-flexible': {
          module: APPS_MODULE,
          builder: 'buildRateLimiterFlexibleApp',
          options: { ...library, prefix: `${options.prefix}rlf` },
        },
      },
    });
  const servers = await Promise.all([serve(), serve()]);
  try {
    const results: AccuracyResult[] = ACCURACY_LIMITERS.map((limiter) => ({ limiter, runs: [] }));
    let nextKey = 0;
    for (let run = 0; run < options.runs; run++) {
      for (const result of results) {
        const key = options.keys[nextKey++];
        if (key === undefined) throw new Error('accuracy: not enough keys seeded');
        const outcome = await accuracyRun(servers, APP_OF[result.limiter], key, options);
        result.runs.push(outcome);
        log(
          `rate-limit: accuracy ${result.limiter} run ${run + 1}: ${outcome.allowed} allowed, ` +
            `${outcome.refused} refused, ${outcome.other} other, ${outcome.seconds.toFixed(2)} s`,
        );
      }
    }
    const failures = await Promise.all(
      servers.map((server) =>
        metricValue(server.urls.platform!, 'partnerline_rate_limit_store_failures_total'),
      ),
    );
    return { results, storeFailures: failures.reduce((sum, n) => sum + n, 0) };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}
