import type { LoadResult } from './lib/load.ts';
import { codeVersion, describeMachine, machineLine } from './lib/machine.ts';
import { formatNumber, markdownTable } from './lib/markdown.ts';
import type { RunCpu } from './lib/run-cpu.ts';
import { mean, median, percent } from './lib/stats.ts';
import type { SETTINGS, Variant } from './rate-limit.ts';
import type { AccuracyLimiter, AccuracyReport } from './rate-limit-accuracy.ts';

export type Run = LoadResult &
  RunCpu & { /** Redis's CPU time per request, µs (all its clients). */ redisCpuUs: number };

export interface ThroughputResult {
  runs: Record<Variant, Run[]>;
  /** 1-minute load average before and after the measured runs. */
  loadAverage: [number, number];
  /** Resident memory of the server process after the runs (all variants together), MiB. */
  residentMiB: number | undefined;
  /** Request-log rows the platform dropped (buffer full); 0 means every metered request was written. */
  droppedLogRows: number;
  /** Rows in request_logs once the server had stopped (flushing its buffer). */
  requestLogRows: number;
}

export interface RateLimitResults {
  /** Database and Redis versions. */
  version: string;
  throughput: ThroughputResult;
  accuracy: AccuracyReport;
}

const LABELS: Record<Variant, string> = {
  none: 'platform, no rate limit or metering',
  'limit-only': 'platform, in-memory limit only',
  'metering-only': 'platform, metering only',
  memory: 'platform, in memory',
  redis: 'platform, Redis',
  bare: 'bare Fastify',
  'fastify-rate-limit-memory': 'bare + `@fastify/rate-limit` (in memory)',
  'fastify-rate-limit': 'bare + `@fastify/rate-limit` (Redis)',
  'rate-limiter-flexible': 'bare + `rate-limiter-flexible` (Redis)',
};

/** Each cost measured: a variant against the baseline it adds one thing to, and its target. */
const COMPARISONS: { variant: Variant; baseline: Variant; target?: number }[] = [
  { variant: 'memory', baseline: 'none', target: 0.05 },
  { variant: 'redis', baseline: 'none', target: 0.15 },
  { variant: 'limit-only', baseline: 'none' },
  { variant: 'metering-only', baseline: 'none' },
  { variant: 'fastify-rate-limit-memory', baseline: 'bare' },
  { variant: 'fastify-rate-limit', baseline: 'bare' },
  { variant: 'rate-limiter-flexible', baseline: 'bare' },
  { variant: 'none', baseline: 'bare' },
];

const ACCURACY_LABELS: Record<AccuracyLimiter, string> = {
  redis: 'platform, Redis (GCRA, EVALSHA per batch)',
  memory: 'platform, in memory (per process)',
  'fastify-rate-limit': '`@fastify/rate-limit`, Redis store (fixed window)',
  'rate-limiter-flexible': '`rate-limiter-flexible`, RateLimiterRedis (fixed window)',
};

/** The variants that write a request-log row per request. */
const METERED: Variant[] = ['metering-only', 'memory', 'redis'];

const signed = (value: number) => `${value >= 0 ? '+' : '−'}${formatNumber(Math.abs(value))}`;

function summary(runs: Run[]) {
  return {
    rps: mean(runs.map((r) => r.requestsPerSecond)),
    p50: mean(runs.map((r) => r.p50Ms)),
    p99: mean(runs.map((r) => r.p99Ms)),
    cpu: median(runs.map((r) => r.serverCpuUs)),
    databaseCpu: median(runs.map((r) => r.databaseCpuUs ?? Number.NaN)),
    redisCpu: median(runs.map((r) => r.redisCpuUs)),
    clientCpu: median(runs.map((r) => r.clientCpuUs)),
    requests: runs.reduce((sum, r) => sum + r.requests, 0),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
    foreignCpu: mean(runs.map((r) => r.foreignCpu ?? Number.NaN)),
    /** Everything this machine spent per request on the benchmark's own processes and Redis. */
    totalCpu: median(runs.map((r) => r.serverCpuUs + (r.databaseCpuUs ?? 0) + r.redisCpuUs + r.clientCpuUs)),
  };
}

function variantRow(variant: Variant, runs: Run[]): string[] {
  const s = summary(runs);
  return [
    LABELS[variant],
    `**${formatNumber(s.rps)}**`,
    runs.map((r) => formatNumber(r.requestsPerSecond)).join(' / '),
    s.p50.toFixed(2),
    s.p99.toFixed(2),
    formatNumber(s.cpu),
    formatNumber(s.databaseCpu),
    formatNumber(s.redisCpu),
    formatNumber(s.clientCpu),
    formatNumber(s.requests),
    String(s.non2xx),
    Number.isNaN(s.foreignCpu) ? '?' : percent(s.foreignCpu),
  ];
}

function costRow(result: ThroughputResult, comparison: (typeof COMPARISONS)[number]): string[] {
  const { variant, baseline, target } = comparison;
  const ratios = result.runs[variant].map(
    (run, i) => run.requestsPerSecond / result.runs[baseline][i]!.requestsPerSecond,
  );
  const cost = 1 - median(ratios);
  const a = summary(result.runs[variant]);
  const b = summary(result.runs[baseline]);
  const verdict =
    target === undefined ? '—' : `≤ ${percent(target)}: ${cost <= target ? 'met' : '**missed**'}`;
  return [
    LABELS[variant],
    LABELS[baseline],
    ratios.map((r) => r.toFixed(3)).join(' / '),
    `**${percent(cost)}**`,
    percent(1 - a.rps / b.rps),
    percent(1 - b.totalCpu / a.totalCpu),
    signed(a.cpu - b.cpu),
    signed(a.databaseCpu - b.databaseCpu),
    signed(a.redisCpu - b.redisCpu),
    verdict,
  ];
}

function accuracyRow(
  limiter: AccuracyLimiter,
  runs: AccuracyReport['results'][number]['runs'],
  limit: number,
): string[] {
  const shared = limiter !== 'memory';
  const exact = runs.every((r) => r.allowed === limit && r.other === 0);
  const verdict = shared
    ? exact
      ? `exactly ${limit}: met`
      : `exactly ${limit}: **missed**`
    : `≤ 2 × ${limit} expected (one budget per process)`;
  return [
    ACCURACY_LABELS[limiter],
    runs.map((r) => `**${r.allowed}**`).join(' / '),
    runs.map((r) => String(r.refused)).join(' / '),
    runs.map((r) => String(r.other)).join(' / '),
    runs.map((r) => r.seconds.toFixed(2)).join(' / '),
    verdict,
  ];
}

function throughputText(settings: typeof SETTINGS): string[] {
  return [
    '**Setup.** A fresh PostgreSQL database with one tenant (plan',
    `\`${settings.plan}\`: 1,000 requests per minute and key), ${formatNumber(settings.partners)} partners and ${settings.keys} keys holding only`,
    '`partners:read`. Each variant runs in a server process of its own, a child of the benchmark',
    'started with `REDIS_URL` and a `RATE_LIMIT_REDIS_PREFIX` unique to the run, that boots the',
    'services and serves that one app (the same settings in every process), so no variant shares a',
    'heap, a compiler or a database pool with another. All nine processes stay up for the whole run:',
    '',
    '- **platform, Redis**: the real app from `buildApp` as that process boots it: the failover store over',
    '  the Redis store, one `EVALSHA` for all requests handled in one turn of the event loop. The run',
    '  fails if `/metrics` counts a failed Redis call (a request limited in memory instead).',
    "- **platform, in memory**: `buildApp` on its process's services with `rateLimits` replaced by a new",
    '  `MemoryRateLimitStore`, which is what boot builds without `REDIS_URL`; nothing else on the request',
    '  path depends on `REDIS_URL` (it also picks the key-change transport and the `/ready` probe).',
    '- **platform, no rate limit or metering** (the baseline): `buildApp` with a store that lets every',
    '  request through without counting and a request recorder whose `onResponse` call does nothing,',
    '  both built in the benchmark code (no configuration flag). The store answers synchronously like',
    '  the memory store, so the gate keeps its promise-free path, and reports no bucket, so no',
    '  rate-limit headers are made or sent: building them is part of what rate limiting costs. Key',
    '  auth, its last-used tracking, scopes and every other hook stay.',
    '- **in-memory limit only** and **metering only**: one of those two swaps each, to split the cost.',
    '- **bare Fastify**: the partners-get baseline, the same query behind a plain Fastify route.',
    '- **bare + `@fastify/rate-limit` (in memory)**: version 11 registered before the bare route with',
    '  its default store in process memory, keyed by the `X-API-Key` header, 1,000 per minute like the',
    '  plan, its default headers (`X-RateLimit-Limit`, `-Remaining`, `-Reset`): what a minimal limiter',
    "  costs on this route, beside the platform's in-memory limit.",
    '- **bare + `@fastify/rate-limit` (Redis)**: the same with its Redis',
    '  store (its own ioredis client; one Lua script per request, `INCR` and `PEXPIRE`, a fixed window),',
    '  keyed by the `X-API-Key` header, 1,000 per minute like the plan, its default headers.',
    '- **bare + `rate-limiter-flexible`**: `RateLimiterRedis` (one Lua script per request, a fixed window)',
    '  in an `onRequest` hook that sets `X-RateLimit-*`; same key and limit.',
    '',
    '*Metering* is the `onResponse` recorder: `/metrics` counters, the usage meter (aggregated per',
    'tenant, key, route and minute, written every 5 s) and one request-log row per request, buffered',
    'and written to PostgreSQL every second with `COPY`. Its database work shows in the',
    'PostgreSQL column. After a run of a metered variant the benchmark waits 1.2 s, so its last flush',
    "does not land in the next variant's run.",
    '',
    `**Load.** As in partners-get: autocannon in the benchmark process, ${settings.connections} connections, each cycling`,
    `through ${formatNumber(settings.requestsPerConnection)} prebuilt requests for random partners with random keys (${settings.keys} keys × 1,000/min: no key`,
    'is refused; any non-2xx answer invalidates the run). Two alternating warm-up runs of',
    `${settings.warmupSeconds} s per variant, then ${settings.rounds} rounds of one ${settings.durationSeconds} s run per variant, each round in the reverse order of`,
    'the one before (ABBA), so drift weighs on every variant alike; each run comes after one uncounted',
    "second of load on the same variant (a process idle for a while has had its pool's connections",
    "closed, and reopening them is not the variant's cost). The **cost** is one minus the",
    "median of the per-round ratios of the variant's throughput to its baseline's; the figure from the",
    "means is shown beside it. CPU columns are medians per answered request: the variant's server process (user",
    '+ system), its PostgreSQL sessions, Redis (`INFO cpu`, all of its clients: this Redis is shared',
    "with other work) and the load generator. *Other CPU* is the share of the machine's CPU used by",
    'processes other than the benchmark, its server and its PostgreSQL sessions; Redis counts there.',
    'On this 2-core machine every request is paid for in CPU by all of them, so *cost from CPU*, one',
    'minus the ratio of total CPU per request (server, PostgreSQL, Redis and load generator medians)',
    "of baseline to variant, estimates the same cost in a way other processes' load moves less than",
    'throughput; the targets are judged on the throughput cost.',
  ];
}

function accuracyText(settings: typeof SETTINGS): string[] {
  const { limit, windowSeconds, requests, connections } = settings.accuracy;
  const refill = (windowSeconds / limit).toFixed(1);
  return [
    'Two server processes with the same settings as above (one database, one Redis, the same prefix),',
    'each serving the real app (Redis), the in-memory variant and the two library variants (accuracy',
    'does not depend on what else a process serves). Per limiter and run a',
    `fresh key with a rate limit of its own of ${limit} per ${formatNumber(windowSeconds)} s (the key's \`rateLimit\` override; the`,
    `libraries get \`max\` ${limit} and a one-hour window): the platform's GCRA allows the ${limit} at once and gives one`,
    `back every ${refill} s, so a shorter run sees no refill; the libraries' fixed window starts at the key's`,
    `first request. A run sends ${formatNumber(requests)} requests for that key from ${connections} connections, half on each`,
    "process, closed loop; each process verifies the key's first request from the database and the",
    `rest from its cache. Target: **exactly ${limit} allowed with Redis**. The in-memory limiter keeps one budget`,
    'per process, the documented behaviour without `REDIS_URL`, so two processes let up to twice the',
    'limit through. *Run s* is wall time until autocannon stopped, which it does on a one-second tick:',
    'an upper bound of the time the requests took.',
  ];
}

export function rateLimitReport(results: RateLimitResults, settings: typeof SETTINGS): string {
  const { throughput, accuracy } = results;
  const { limit } = settings.accuracy;
  const metered = METERED.reduce((sum, v) => sum + summary(throughput.runs[v]).requests, 0);
  return [
    '## Rate limiting and metering: cost and accuracy (`npm run bench -- rate-limit`)',
    '',
    `Run ${new Date().toISOString().slice(0, 10)} on ${machineLine(describeMachine())}; ${results.version};`,
    `${codeVersion()}. 1-minute load average before → after the measured throughput runs:`,
    `${throughput.loadAverage.map((l) => l.toFixed(2)).join(' → ')}.`,
    '',
    '### Throughput cost',
    '',
    ...throughputText(settings),
    '',
    markdownTable(
      [
        'Variant',
        'req/s',
        'req/s per run',
        'p50 ms',
        'p99 ms',
        'Server CPU µs/req',
        'PostgreSQL CPU µs/req',
        'Redis CPU µs/req',
        'Load generator CPU µs/req',
        'Requests',
        'non-2xx',
        'Other CPU',
      ],
      (Object.keys(LABELS) as Variant[]).map((v) => variantRow(v, throughput.runs[v])),
      ['left', ...Array<'right'>(11).fill('right')],
    ),
    '',
    markdownTable(
      [
        'Variant',
        'Against',
        'ratio per round',
        'Cost (median)',
        'Cost (means)',
        'Cost from CPU',
        'Server CPU µs/req',
        'PostgreSQL CPU µs/req',
        'Redis CPU µs/req',
        'Target',
      ],
      COMPARISONS.map((c) => costRow(throughput, c)),
      ['left', 'left', ...Array<'right'>(7).fill('right'), 'left'],
    ),
    '',
    `Metering wrote ${formatNumber(throughput.requestLogRows)} request-log rows for the`,
    `${formatNumber(metered)} measured requests of the three metered variants (plus warm-up), dropping`,
    `${formatNumber(throughput.droppedLogRows)}. The real app's server process (Redis) ended the runs at`,
    `${throughput.residentMiB === undefined ? '?' : formatNumber(throughput.residentMiB)} MiB resident.`,
    '',
    '### Accuracy across two processes',
    '',
    ...accuracyText(settings),
    '',
    markdownTable(
      ['Limiter', 'Allowed per run', '429 per run', 'Other per run', 'Run s', 'Target'],
      accuracy.results.map((r) => accuracyRow(r.limiter, r.runs, limit)),
      ['left', 'right', 'right', 'right', 'right', 'left'],
    ),
    '',
    `Redis calls of the platform store that failed (and were answered in memory instead): ${accuracy.storeFailures}.`,
  ].join('\n');
}
