import type { LoadResult } from './lib/load.ts';
import { codeVersion, describeMachine, machineLine } from './lib/machine.ts';
import { formatNumber, markdownTable } from './lib/markdown.ts';
import type { RunCpu } from './lib/run-cpu.ts';
import { mean, median } from './lib/stats.ts';
import type { CURSOR_SETTINGS } from './transactions-cursor.ts';

export const VARIANTS = ['cursor-first', 'cursor-deep', 'page-first', 'page-deep'] as const;
export type Variant = (typeof VARIANTS)[number];

/** The target: a cursor page at depth 1M costs at most this many times the first one. */
export const DEPTH_TARGET = 1.5;

export type CursorRun = LoadResult & RunCpu;

export interface CursorSeeding {
  insertSeconds: number;
  vacuumSeconds: number;
}

export interface PagePlan {
  variant: Variant;
  sql: string;
  /** EXPLAIN (ANALYZE, BUFFERS) output, estimates left out. */
  lines: string[];
}

export interface CursorResult {
  version: string;
  seeding: CursorSeeding;
  /** 1-minute load average before and after the measured runs. */
  loadAverage: [number, number];
  runs: Record<Variant, CursorRun[]>;
  plans: PagePlan[];
}

type Settings = typeof CURSOR_SETTINGS;

function describe(variant: Variant, settings: Settings): { mode: string; request: string; skipped: number } {
  const { rows, pageSize } = settings;
  const lastPage = Math.ceil(rows / pageSize);
  const deep = (lastPage - 1) * pageSize;
  switch (variant) {
    case 'cursor-first':
      return {
        mode: 'cursor',
        request: `\`?limit=${pageSize}&cursor=…\` (after the newest row)`,
        skipped: 0,
      };
    case 'cursor-deep':
      return { mode: 'cursor', request: `\`?limit=${pageSize}&cursor=…\` (the oldest rows)`, skipped: deep };
    case 'page-first':
      return { mode: 'classic', request: `\`?page=1&limit=${pageSize}\``, skipped: 0 };
    case 'page-deep':
      return { mode: 'classic', request: `\`?page=${lastPage}&limit=${pageSize}\``, skipped: deep };
  }
}

function variantRow(result: CursorResult, variant: Variant, settings: Settings): string[] {
  const runs = result.runs[variant];
  const { mode, request, skipped } = describe(variant, settings);
  return [
    mode,
    request,
    formatNumber(skipped),
    `**${formatNumber(mean(runs.map((r) => r.requestsPerSecond)))}**`,
    runs.map((r) => formatNumber(r.requestsPerSecond)).join(' / '),
    mean(runs.map((r) => r.p50Ms)).toFixed(2),
    mean(runs.map((r) => r.p99Ms)).toFixed(2),
    formatNumber(median(runs.map((r) => r.serverCpuUs))),
    formatNumber(median(runs.map((r) => r.databaseCpuUs ?? Number.NaN))),
    formatNumber(runs.reduce((sum, r) => sum + r.requests, 0)),
    String(runs.reduce((sum, r) => sum + r.non2xx, 0)),
  ];
}

/** Deep over first cursor page, per ABBA round (the two ran back to back), then the median. */
function depthRatios(result: CursorResult) {
  const first = result.runs['cursor-first'];
  const deep = result.runs['cursor-deep'];
  const p50 = deep.map((d, i) => d.p50Ms / first[i]!.p50Ms);
  const throughput = deep.map((d, i) => first[i]!.requestsPerSecond / d.requestsPerSecond);
  return { p50, throughput, p50Median: median(p50), throughputMedian: median(throughput) };
}

/** The statement on one line, a long select list shortened to its length. */
function shortSql(statement: string): string {
  const line = statement.replace(/\s+/g, ' ');
  const columns = /^select (.+?) from /.exec(line)?.[1]?.split(', ') ?? [];
  return columns.length > 3 ? line.replace(columns.join(', '), `<${columns.length} columns>`) : line;
}

function planBlock(result: CursorResult, settings: Settings): string[] {
  const titles: Partial<Record<Variant, string>> = {
    'cursor-first': 'Cursor mode, first page',
    'cursor-deep': `Cursor mode, ${formatNumber(describe('cursor-deep', settings).skipped)} rows deep`,
    'page-deep': `Classic mode, page ${formatNumber(Math.ceil(settings.rows / settings.pageSize))} (rows, then the count)`,
  };
  const out: string[] = [];
  for (const variant of Object.keys(titles) as Variant[]) {
    const plans = result.plans.filter((p) => p.variant === variant);
    out.push(`${titles[variant]}:`, '', '```');
    for (const plan of plans) out.push(`-- ${shortSql(plan.sql)}`, ...plan.lines);
    out.push('```', '');
  }
  return out;
}

export function transactionsCursorReport(
  result: CursorResult | undefined,
  skipped: string[],
  settings: Settings,
): string {
  const heading =
    '## Transaction pages at depth: cursor against offset (`npm run bench -- transactions-cursor`)';
  if (!result) {
    return [heading, '', 'Not run: it needs PostgreSQL.', ...skipped.map((note) => `${note}.`)].join('\n');
  }
  const ratios = depthRatios(result);
  const met = ratios.p50Median <= DEPTH_TARGET;
  const deep = formatNumber(describe('cursor-deep', settings).skipped);
  return [
    heading,
    '',
    `Run ${new Date().toISOString().slice(0, 10)} on ${machineLine(describeMachine())}; ${result.version};`,
    `${codeVersion()}. 1-minute load average before → after the measured runs: ${result.loadAverage.map((l) => l.toFixed(2)).join(' → ')}.`,
    '',
    `**Setup.** PostgreSQL only: a fresh database with one tenant holding ${formatNumber(settings.rows)} transactions and a`,
    `second tenant with ${settings.otherTenantRows} whose rows fall in between in time. The rows are seeded directly in SQL (\`insert …`,
    `select\` from id lists, batches of 50,000, ${settings.seedConcurrency} at a time): ids are \`txn_\` TypeIDs over UUIDv7 built for instants 30 s`,
    'apart (about a year), so id order is time order as the cursor needs; partners, amounts and',
    `statuses vary. Seeding took ${result.seeding.insertSeconds.toFixed(1)} s, then \`VACUUM ANALYZE\` ${result.seeding.vacuumSeconds.toFixed(1)} s (statistics and a`,
    'visibility map, as autovacuum leaves a settled table). PGlite is left out to keep the whole run',
    'within a few minutes (seeding a million rows into it takes about 50 s as well, and its single thread',
    'would then serve the loads): at this size the plans PostgreSQL chooses are the point.',
    '',
    `**Load.** \`GET /api/v1/transactions\` with a key holding \`transactions:read\`, ${settings.connections} autocannon connections,`,
    'closed loop, the same request over and over. The cursors are built as the API encodes them',
    '(`v1:<id>` in base64url, checked against a `nextCursor` the API returned); the depth-0 cursor',
    'names an id just after the newest row, the deep one the row before the last page. Before the',
    'load, each page is checked to answer the rows it stands for (the same ids in both modes, and',
    `the right total). Warm-up: ${settings.warmupSeconds} s per request. The two cursor pages then run in ${settings.rounds} rounds of`,
    `${settings.durationSeconds} s each in ABBA order; the classic pages once each. Any non-2xx answer invalidates a run.`,
    'Knobs: `BENCH_CURSOR_ROWS` (1000000), `BENCH_CURSOR_DURATION` (4), `BENCH_CURSOR_ROUNDS` (4),',
    '`BENCH_CURSOR_CONNECTIONS` (4), `BENCH_WARMUP` (3).',
    '',
    '**Figures.** req/s, p50 and p99 are means over the runs; *Server CPU* and *PostgreSQL CPU* are',
    "medians of the server process's and its database sessions' CPU time per request (PostgreSQL's",
    'parallel-query workers, which the count in classic mode uses, not included).',
    '',
    markdownTable(
      [
        'Mode',
        'Request',
        'Rows skipped',
        'req/s',
        'req/s per run',
        'p50 ms',
        'p99 ms',
        'Server CPU µs/req',
        'PostgreSQL CPU µs/req',
        'Requests',
        'non-2xx',
      ],
      VARIANTS.map((variant) => variantRow(result, variant, settings)),
      ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
    '',
    `**Depth cost in cursor mode** (${deep} rows deep against the first page, per round, then the`,
    `median): p50 ×${ratios.p50.map((r) => r.toFixed(2)).join(' / ')} → **×${ratios.p50Median.toFixed(2)}**; throughput`,
    `×${ratios.throughput.map((r) => r.toFixed(2)).join(' / ')} → ×${ratios.throughputMedian.toFixed(2)}. Target p50 ≤ ×${DEPTH_TARGET}: ${met ? 'met' : '**missed**'}.`,
    '',
    '**Plans** (`EXPLAIN (ANALYZE, BUFFERS)` of the statements `listTransactions` sends, captured from',
    'the module and run once more after the load; estimates left out):',
    '',
    ...planBlock(result, settings),
  ].join('\n');
}
