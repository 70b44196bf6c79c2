import type { LoadResult } from './lib/load.ts';
import { codeVersion, describeMachine, machineLine } from './lib/machine.ts';
import { formatNumber, markdownTable } from './lib/markdown.ts';
import type { RunCpu } from './lib/run-cpu.ts';
import { mean, median, percent } from './lib/stats.ts';
import type { SETTINGS } from './partners-get.ts';

export type Variant = 'platform' | 'bare';

export type Run = LoadResult & RunCpu;

export interface DatabaseResult {
  label: string;
  version: string;
  connections: number;
  /** 1-minute load average before and after the measured runs. */
  loadAverage: [number, number];
  runs: Record<Variant, Run[]>;
  /** CPU µs per request through `app.inject`, no sockets. */
  inProcess: Record<Variant, number>;
}

function summary(runs: Run[]) {
  return {
    rps: mean(runs.map((r) => r.requestsPerSecond)),
    p50: mean(runs.map((r) => r.p50Ms)),
    p99: mean(runs.map((r) => r.p99Ms)),
    cpu: median(runs.map((r) => r.serverCpuUs)),
    databaseCpu: runs.some((r) => r.databaseCpuUs === undefined)
      ? undefined
      : median(runs.map((r) => r.databaseCpuUs ?? 0)),
    clientCpu: median(runs.map((r) => r.clientCpuUs)),
    requests: runs.reduce((sum, r) => sum + r.requests, 0),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
    foreignCpu: runs.some((r) => r.foreignCpu === undefined)
      ? undefined
      : mean(runs.map((r) => r.foreignCpu ?? 0)),
  };
}

/** Platform/bare throughput of each round: the two runs of a round ran back to back. */
function roundRatios(result: DatabaseResult): number[] {
  return result.runs.platform.map((p, i) => p.requestsPerSecond / result.runs.bare[i]!.requestsPerSecond);
}

function appRows(result: DatabaseResult): string[][] {
  return (['platform', 'bare'] as const).map((variant) => {
    const s = summary(result.runs[variant]);
    return [
      result.label,
      variant === 'platform' ? 'platform' : 'bare Fastify',
      String(result.connections),
      `**${formatNumber(s.rps)}**`,
      result.runs[variant].map((r) => formatNumber(r.requestsPerSecond)).join(' / '),
      s.p50.toFixed(2),
      s.p99.toFixed(2),
      formatNumber(s.cpu),
      s.databaseCpu === undefined ? '—' : formatNumber(s.databaseCpu),
      formatNumber(s.clientCpu),
      formatNumber(s.requests),
      String(s.non2xx),
      s.foreignCpu === undefined ? '?' : percent(s.foreignCpu),
    ];
  });
}

function overheadRow(result: DatabaseResult): string[] {
  const ratios = roundRatios(result);
  const overhead = 1 - median(ratios);
  const platform = summary(result.runs.platform);
  const bare = summary(result.runs.bare);
  const target =
    result.label === 'PostgreSQL' ? (overhead <= 0.1 ? '≤ 10 %: met' : '≤ 10 %: **missed**') : '—';
  return [
    result.label,
    ratios.map((r) => r.toFixed(2)).join(' / '),
    `**${percent(overhead)}**`,
    percent(1 - platform.rps / bare.rps),
    percent(platform.cpu / bare.cpu - 1),
    `${formatNumber(result.inProcess.platform - result.inProcess.bare)} µs (${formatNumber(result.inProcess.platform)} vs ${formatNumber(result.inProcess.bare)})`,
    target,
  ];
}

export function partnersGetReport(
  results: DatabaseResult[],
  skipped: string[],
  settings: typeof SETTINGS,
): string {
  const loads = results.map((r) => `${r.label} ${r.loadAverage.map((l) => l.toFixed(2)).join(' → ')}`);
  return [
    '## Platform overhead on `GET /api/v1/partners/{id}` (`npm run bench -- partners-get`)',
    '',
    `Run ${new Date().toISOString().slice(0, 10)} on ${machineLine(describeMachine())}; ${results.map((r) => r.version).join(', ')};`,
    `${codeVersion()}. 1-minute load average before → after the measured runs: ${loads.join(', ')}.`,
    ...skipped.map((note) => `${note}.`),
    '',
    '**Setup.** A fresh database per engine with one tenant (plan',
    `\`${settings.plan}\`), ${formatNumber(settings.partners)} partners and ${settings.keys} keys holding only \`partners:read\`, created through the`,
    "platform's own service functions. Each app runs in a server process of its own, a child of the",
    'benchmark with the same settings and services (on PGlite the bare app gets a copy of the seeded',
    'data directory, as one process at a time can open it), so neither shares a heap, a compiler or a',
    'database pool with the other. Both processes stay up for the whole run:',
    '',
    '- **platform**: the real app from `buildApp`. Every request runs request id, tenant resolution, key',
    "  verification (cached after a key's first request), scope check, rate limit and key-usage metering",
    '  before the handler, and carries the rate-limit headers in its answer.',
    '- **bare Fastify**: one route on a plain Fastify app with the same params and response schemas, the',
    '  same `getPartnerOrThrow` query, the same validator and logger settings, and no hooks.',
    '',
    '**Load.** autocannon in the benchmark process, closed loop, against one app at a time. Each',
    `connection cycles through ${formatNumber(settings.requestsPerConnection)} prebuilt requests, each for a random seeded partner with one of`,
    'the keys at random (the bare app ignores the key; the bytes sent are the same). PGlite answers one',
    `query at a time on the server's own thread, so it gets ${settings.connections.pglite} connections (more only lengthen its queue);`,
    `PostgreSQL gets ${settings.connections.postgres} against the pool of 10. Each app has two alternating warm-up runs of ${settings.warmupSeconds} s, not`,
    `counted, then ${settings.rounds} runs of ${settings.durationSeconds} s in ABBA order, so background noise falls on both alike, each`,
    "after one uncounted second of load on the same app (an app idle for two runs has had its pool's",
    "idle connections closed, and reopening them is neither app's cost). Any",
    'non-2xx answer or socket error invalidates the run. Server settings: `NODE_ENV=production`,',
    '`LOG_LEVEL=warn` (no per-request log lines in either app), `ADMIN_API_KEY` set, default',
    '`KEY_CACHE_TTL_SECONDS` (60) and pool size.',
    '',
    '**Figures.** req/s, p50 and p99 are means over the runs, latencies timed with µs resolution.',
    "*Server CPU* is the median user + system CPU time of the app's server process per answered request;",
    "*PostgreSQL CPU* that of its database sessions (the handler's query, and on the platform also the",
    'batched request-log and usage writes); *Load generator CPU* that of autocannon, which parses every',
    'answer. On this 2-core machine the three share the CPU, so all of them bound the throughput.',
    "*Other CPU* is the share of the machine's CPU used during the runs by processes other than the",
    'benchmark, its server and its PostgreSQL sessions; the further from 0 %, the noisier the run. The',
    '**overhead** is one minus the median of the per-round platform/bare throughput ratios (the two runs',
    'of a round ran back to back); the figure from the means is shown next to it. *Layer CPU* drives',
    'each app inside its server process through `app.inject` (no sockets, 8 in flight,',
    `median of ${settings.injectRounds} alternating rounds of ${formatNumber(settings.injectRequests)} requests after 4 uncounted ones): the CPU the platform layer`,
    'adds per request, which other load on the machine moves less than throughput.',
    '',
    markdownTable(
      [
        'Database',
        'App',
        'Conns',
        'req/s',
        'req/s per run',
        'p50 ms',
        'p99 ms',
        'Server CPU µs/req',
        'PostgreSQL CPU µs/req',
        'Load generator CPU µs/req',
        'Requests',
        'non-2xx',
        'Other CPU',
      ],
      results.flatMap(appRows),
      ['left', 'left', ...Array<'right'>(11).fill('right')],
    ),
    '',
    markdownTable(
      [
        'Database',
        'platform / bare per round',
        'Overhead (median)',
        'Overhead (means)',
        'Server CPU',
        'Layer CPU per request',
        'Target',
      ],
      results.map(overheadRow),
      ['left', 'right', 'right', 'right', 'right', 'right', 'left'],
    ),
  ].join('\n');
}
