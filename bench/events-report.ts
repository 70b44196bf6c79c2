import type { EVENTS_SETTINGS } from './events.ts';
import type { DatabaseKind } from './lib/databases.ts';
import type { SaleRows } from './lib/events-sales.ts';
import type { LoadResult } from './lib/load.ts';
import { codeVersion, describeMachine, machineLine } from './lib/machine.ts';
import { formatNumber, markdownTable } from './lib/markdown.ts';
import type { RunCpu } from './lib/run-cpu.ts';
import { mean, percent } from './lib/stats.ts';

/** The target: sustained sale events per second on PostgreSQL on this 2-core machine. */
export const EVENTS_TARGET = 1_000;

export interface EventsRun extends LoadResult, RunCpu {
  connections: number;
}

export interface EventsDatabaseResult {
  label: string;
  kind: DatabaseKind;
  version: string;
  /** Active partners of the default group the sales name. */
  partners: number;
  /** 1-minute load average before and after the measured runs. */
  loadAverage: [number, number];
  runs: EventsRun[];
  /** 201 answers over every request sent on this database, warm-up and sanity check included. */
  created: number;
  rows: SaleRows;
}

function byConnections(result: EventsDatabaseResult): Map<number, EventsRun[]> {
  const groups = new Map<number, EventsRun[]>();
  for (const run of result.runs) groups.set(run.connections, [...(groups.get(run.connections) ?? []), run]);
  return new Map([...groups].sort(([a], [b]) => a - b));
}

function throughputRows(result: EventsDatabaseResult): string[][] {
  return [...byConnections(result)].map(([connections, runs]) => {
    const database = runs.map((r) => r.databaseCpuUs);
    const foreign = runs.map((r) => r.foreignCpu);
    return [
      result.label,
      String(connections),
      `**${formatNumber(mean(runs.map((r) => r.requestsPerSecond)))}**`,
      runs.map((r) => formatNumber(r.requestsPerSecond)).join(' / '),
      mean(runs.map((r) => r.seconds)).toFixed(1),
      mean(runs.map((r) => r.p50Ms)).toFixed(1),
      mean(runs.map((r) => r.p99Ms)).toFixed(1),
      formatNumber(mean(runs.map((r) => r.serverCpuUs))),
      database.some((v) => v === undefined) ? '—' : formatNumber(mean(database as number[])),
      formatNumber(runs.reduce((sum, r) => sum + r.requests, 0)),
      String(runs.reduce((sum, r) => sum + r.requests - (r.statusCodes['201'] ?? 0), 0)),
      foreign.some((v) => v === undefined) ? '?' : percent(mean(foreign as number[])),
    ];
  });
}

/** The connection count with the highest mean throughput, and that throughput. */
function best(result: EventsDatabaseResult): { connections: number; rate: number } {
  let top = { connections: 0, rate: 0 };
  for (const [connections, runs] of byConnections(result)) {
    const rate = mean(runs.map((r) => r.requestsPerSecond));
    if (rate > top.rate) top = { connections, rate };
  }
  return top;
}

export function rowsMatch(result: EventsDatabaseResult): boolean {
  const { rows, created } = result;
  return (
    rows.events === created &&
    rows.customers === created &&
    rows.transactions === created &&
    rows.commissions === created &&
    rows.uncommissioned === 0 &&
    rows.wrongAmount === 0
  );
}

function correctnessRow(result: EventsDatabaseResult): string[] {
  const { rows } = result;
  return [
    result.label,
    formatNumber(result.created),
    formatNumber(rows.events),
    formatNumber(rows.customers),
    formatNumber(rows.transactions),
    formatNumber(rows.commissions),
    formatNumber(rows.uncommissioned),
    formatNumber(rows.wrongAmount),
    rowsMatch(result) ? 'all equal' : '**MISMATCH**',
  ];
}

function bestLine(result: EventsDatabaseResult): string {
  const { connections, rate } = best(result);
  const target =
    result.kind === 'postgres'
      ? `; target ≥ ${formatNumber(EVENTS_TARGET)} events/s: ${rate >= EVENTS_TARGET ? 'met' : '**missed**'}`
      : '';
  return `- ${result.label}: best **${formatNumber(rate)} events/s** at ${connections} connections${target}.`;
}

export function eventsReport(
  results: EventsDatabaseResult[],
  skipped: string[],
  settings: typeof EVENTS_SETTINGS,
): string {
  const loads = results.map((r) => `${r.label} ${r.loadAverage.map((l) => l.toFixed(2)).join(' → ')}`);
  const counts = results.map((r) => `${r.label} ${settings.connections[r.kind].join(', ')}`);
  return [
    '## Sale events: `POST /api/v1/events` throughput (`npm run bench -- events`)',
    '',
    `Run ${new Date().toISOString().slice(0, 10)} on ${machineLine(describeMachine())}; ${results.map((r) => r.version).join(', ')};`,
    `${codeVersion()}. 1-minute load average before → after the measured runs: ${loads.join(', ')}.`,
    ...skipped.map((note) => `${note}.`),
    '',
    `**Setup.** A fresh database per engine with one tenant (plan \`${settings.plan}\`) and`,
    `${formatNumber(settings.partners)} seeded partners; the sales go to the ${formatNumber(results[0]?.partners ?? 0)} active ones without a group of their own,`,
    `in turn. The default group's sale commission is set to ${settings.basisPoints / 100} % through`,
    '`PATCH /api/v1/partner-groups/default` before the load. One API key with `events:write` and its own',
    `rate limit of ${formatNumber(settings.rateLimit.limit)} per ${settings.rateLimit.windowSeconds} s, so the limiter runs on every request but never refuses.`,
    'Every request is a sale for a **new customer** with a unique order id — `{type: "sale", partnerId,',
    'customer: {externalId}, amount, currency: "EUR", externalId}`, the body rebuilt from a counter by',
    "autocannon's `setupRequest` before each send.",
    '',
    '**Hot path.** Each sale is one database transaction of four round trips once the server process',
    'has seen the partner: `BEGIN`; one statement whose common table expressions check that the',
    "partner's version and its group's `id:version` are still the remembered ones, then insert the",
    'customer, the event already pointing at what it created, the transaction and the commission, each',
    'only if the one before was written; the webhook outbox insert (rows only for events an enabled',
    'endpoint subscribes to: none for this tenant); `COMMIT`. On PostgreSQL every statement is prepared',
    'once per connection (`DATABASE_PREPARED_STATEMENTS`), so it is not planned again. A partner not',
    'seen yet (or changed since) costs one lookup more, which also reads the group stamp (the group',
    'itself comes from a per-process cache keyed by that stamp, so a changed rule is never used). An',
    'existing customer, an unknown partner or a repeated `externalId` fall back to the general path',
    '(event, customer, first-sale check, then transaction, commission and event update in one',
    'statement). The answer is built from the rows written, without reading them back. Before',
    '2026-11-23 a sale took 13 round trips: begin, event insert, partner and group lookups (twice),',
    'customer, first-sale check, transaction, commission, event update, commit and a read-back.',
    '',
    `**Statistics.** A first server process records one checked sale and a history of ${formatNumber(settings.historySales)} sales; then`,
    '`ANALYZE`, and the measured server starts, as on a live database. The hot path only probes unique',
    "and primary-key indexes; the read-back of an event's commissions, which PGlite (no autovacuum)",
    'planned as a BitmapAnd over `commissions_partner_idx` without statistics, is no longer part of it.',
    '',
    '**Load.** autocannon in the benchmark process, closed loop, one server process on a pool of 10',
    'database connections (PostgreSQL). A run sends a fixed number of sales and ends when every one is',
    'answered, so none is left in flight: any answer but 201 or any socket error invalidates the run.',
    `Warm-up: about ${settings.warmupSeconds} s at the highest connection count, then ${settings.warmupSeconds} s at each. Each run's number of`,
    `sales comes from the mean rate seen so far at its connection count, so that it lasts about ${settings.durationSeconds} s;`,
    `${settings.rounds} rounds measure every connection count once (${counts.join('; ')}),`,
    'starting one further along the list each round. PGlite answers one query at a time on the',
    "server's own thread, so it gets fewer connections. Server settings: `NODE_ENV=production`,",
    '`LOG_LEVEL=warn`, `ADMIN_API_KEY` set, everything else default (request logs and usage metering on).',
    'Knobs: `BENCH_EVENTS_DURATION` (8), `BENCH_EVENTS_ROUNDS` (3), `BENCH_WARMUP` (3),',
    '`BENCH_EVENTS_CONNECTIONS_POSTGRES` (16,32,64), `BENCH_EVENTS_CONNECTIONS_PGLITE` (8).',
    '',
    '**Figures.** events/s is answered sales over the time from the first send to the last answer;',
    'events/s, p50 and p99 are means over the runs. *Server CPU* is the user + system CPU time of the',
    'server process per event (for PGlite, the database work included); *PostgreSQL CPU* that of its',
    "sessions. *Other CPU* is the share of the machine's CPU used by processes other than the",
    'benchmark, its server and its PostgreSQL sessions during the runs.',
    '',
    markdownTable(
      [
        'Database',
        'Conns',
        'events/s',
        'events/s per run',
        's per run',
        'p50 ms',
        'p99 ms',
        'Server CPU µs/event',
        'PostgreSQL CPU µs/event',
        'Events',
        'non-201',
        'Other CPU',
      ],
      results.flatMap(throughputRows),
      ['left', ...Array<'right'>(11).fill('right')],
    ),
    '',
    ...results.map(bestLine),
    '',
    '**Correctness under load.** After the server stopped, the rows the tenant has against the 201',
    'answers it got (every run, warm-up and one sanity-check sale included): each 201 must have left',
    `exactly one sale event, customer, transaction and sale commission of ${settings.basisPoints / 100} % of its amount.`,
    '',
    markdownTable(
      [
        'Database',
        '201 answers',
        'Sale events',
        'Customers',
        'Transactions',
        'Sale commissions',
        'Transactions without commission',
        `Commissions ≠ ${settings.basisPoints / 100} %`,
        'Result',
      ],
      results.map(correctnessRow),
      ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    ),
  ].join('\n');
}
