import { deepStrictEqual, strictEqual } from 'node:assert';
import { loadavg } from 'node:os';
import { sql } from 'kysely';
import type { Services } from '../apps/server/src/platform/services.ts';
import { withServer, withServices } from './lib/bench-scope.ts';
import { type BenchDatabase, createBenchDatabase, selectedDatabases } from './lib/databases.ts';
import { assertClean, runLoad } from './lib/load.ts';
import { formatNumber } from './lib/markdown.ts';
import { withRunCpu } from './lib/run-cpu.ts';
import { databaseVersion, seedPartners, seedTenant } from './lib/seed.ts';
import type { ServerProcess } from './lib/server-process.ts';
import { log, type Suite, setting } from './lib/suite.ts';
import { explainAnalyze, type ListRequest, listStatements } from './transactions-cursor-plans.ts';
import {
  type CursorResult,
  type CursorRun,
  type CursorSeeding,
  type PagePlan,
  transactionsCursorReport,
  VARIANTS,
  type Variant,
} from './transactions-cursor-report.ts';
import { SPACING_MS, seedTransactions, transactionIds } from './transactions-cursor-seed.ts';

export const CURSOR_SETTINGS = {
  rows: setting('BENCH_CURSOR_ROWS', 1_000_000),
  /** Rows of a second tenant, spread over the same time span: the tenant condition must filter them. */
  otherTenantRows: 300,
  pageSize: 50,
  connections: setting('BENCH_CURSOR_CONNECTIONS', 4),
  durationSeconds: setting('BENCH_CURSOR_DURATION', 4),
  /** ABBA rounds of the two cursor pages; the classic pages get one run each. */
  rounds: setting('BENCH_CURSOR_ROUNDS', 4),
  warmupSeconds: setting('BENCH_WARMUP', 3),
  /** Seeding batches in flight at once. */
  seedConcurrency: 2,
};

/** A cursor as the API encodes one (platform/pagination.ts): `v1:<id>` in base64url. */
function encodeCursor(id: string): string {
  return Buffer.from(`v1:${id}`).toString('base64url');
}

interface Seeded {
  version: string;
  tenantId: string;
  key: string;
  /** The main tenant's transaction ids, oldest first. */
  ids: string[];
  seeding: CursorSeeding;
}

async function seed(services: Services): Promise<Seeded> {
  const { rows, otherTenantRows, seedConcurrency } = CURSOR_SETTINGS;
  const tenant = await seedTenant(services, {
    slug: 'bench-transactions',
    plan: 'enterprise',
    keys: 1,
    scopes: ['transactions:read'],
    rateLimit: { limit: 1_000_000, windowSeconds: 60 },
  });
  const other = await seedTenant(services, { slug: 'bench-other', plan: 'enterprise', keys: 0, scopes: [] });
  const partners = await seedPartners(services.db, tenant.tenantId, 1_000);
  const otherPartners = await seedPartners(services.db, other.tenantId, 10);
  // The newest row a minute ago, the oldest about a year earlier; the other tenant's rows in between.
  const firstMs = Date.now() - 60_000 - rows * SPACING_MS;
  const otherSpacing = Math.floor((rows * SPACING_MS) / otherTenantRows);
  const started = Date.now();
  const ids = transactionIds(rows, firstMs, SPACING_MS);
  const options = { firstMs, spacingMs: SPACING_MS, concurrency: seedConcurrency };
  await seedTransactions(services.db, { ...options, tenantId: tenant.tenantId, ids, partnerIds: partners });
  await seedTransactions(services.db, {
    ...options,
    tenantId: other.tenantId,
    ids: transactionIds(otherTenantRows, firstMs + SPACING_MS / 2, otherSpacing),
    firstMs: firstMs + SPACING_MS / 2,
    spacingMs: otherSpacing,
    partnerIds: otherPartners,
  });
  const inserted = Date.now();
  // As autovacuum leaves a settled table: statistics, and a visibility map for index-only scans.
  await sql`vacuum analyze transactions`.execute(services.db);
  const seeding = {
    insertSeconds: (inserted - started) / 1000,
    vacuumSeconds: (Date.now() - inserted) / 1000,
  };
  log(
    `transactions-cursor: seeded ${formatNumber(rows)} + ${otherTenantRows} transactions in ` +
      `${seeding.insertSeconds.toFixed(1)} s, vacuum analyze ${seeding.vacuumSeconds.toFixed(1)} s`,
  );
  const version = await databaseVersion(services.database);
  return { version, tenantId: tenant.tenantId, key: tenant.keys[0]!.key, ids, seeding };
}

/** The four requests compared, each as the list function gets it. */
function pageRequests(ids: string[]): Record<Variant, ListRequest> {
  const { pageSize } = CURSOR_SETTINGS;
  const lastPage = Math.ceil(ids.length / pageSize);
  const deepSkip = (lastPage - 1) * pageSize;
  // An id from just after the newest row: the cursor's first page starts at the top.
  const afterNewest = transactionIds(1, Date.now(), 0)[0]!;
  return {
    'cursor-first': { limit: pageSize, cursor: encodeCursor(afterNewest) },
    // The row before the deepest page, counted from the newest: `id < it` is that page.
    'cursor-deep': { limit: pageSize, cursor: encodeCursor(ids[ids.length - deepSkip]!) },
    'page-first': { limit: pageSize, page: 1 },
    'page-deep': { limit: pageSize, page: lastPage },
  };
}

function queryString(request: ListRequest): string {
  const params = new URLSearchParams({ limit: String(request.limit) });
  if (request.page !== undefined) params.set('page', String(request.page));
  if (request.cursor !== undefined) params.set('cursor', request.cursor);
  return `/api/v1/transactions?${params}`;
}

interface ListAnswer {
  data: { id: string }[];
  pagination: { nextCursor?: string | null; total?: number };
}

/** Each request must answer the rows it stands for, and the cursor must be encoded as the API does. */
async function checkAnswers(url: string, key: string, ids: string[], requests: Record<Variant, ListRequest>) {
  const get = async (path: string): Promise<ListAnswer> => {
    const response = await fetch(`${url}${path}`, { headers: { 'x-api-key': key } });
    if (response.status !== 200) throw new Error(`sanity check: ${path} answered ${response.status}`);
    return (await response.json()) as ListAnswer;
  };
  const { pageSize } = CURSOR_SETTINGS;
  const newest = ids.slice(-pageSize).reverse();
  const classic = await get(`/api/v1/transactions?limit=${pageSize}`);
  strictEqual(
    classic.pagination.nextCursor,
    encodeCursor(newest.at(-1)!),
    'the API encodes cursors differently',
  );
  const answers = Object.fromEntries(
    await Promise.all(VARIANTS.map(async (v) => [v, await get(queryString(requests[v]))] as const)),
  ) as Record<Variant, ListAnswer>;
  const idsOf = (answer: ListAnswer) => answer.data.map((row) => row.id);
  deepStrictEqual(idsOf(answers['cursor-first']), newest, 'cursor page 1 is not the newest rows');
  deepStrictEqual(idsOf(answers['page-first']), newest, 'classic page 1 is not the newest rows');
  deepStrictEqual(idsOf(answers['cursor-deep']), idsOf(answers['page-deep']), 'the deep pages differ');
  deepStrictEqual(idsOf(answers['page-deep']), ids.slice(0, idsOf(answers['page-deep']).length).reverse());
  strictEqual(answers['cursor-deep'].pagination.nextCursor, null, 'the deep cursor page is not the last');
  strictEqual(answers['page-deep'].pagination.total, ids.length, "classic mode's total");
}

async function measure(
  database: BenchDatabase,
  server: ServerProcess,
  key: string,
  requests: Record<Variant, ListRequest>,
): Promise<Record<Variant, CursorRun[]>> {
  const url = server.urls.platform!;
  const run = async (variant: Variant, seconds: number): Promise<CursorRun> => {
    const path = queryString(requests[variant]);
    const result = await withRunCpu(database, server, () =>
      runLoad({
        url,
        connections: CURSOR_SETTINGS.connections,
        durationSeconds: seconds,
        nextRequest: () => ({ path, headers: { 'x-api-key': key } }),
        requestsPerConnection: 1,
      }),
    );
    assertClean(`transactions-cursor ${variant}`, result);
    return result;
  };
  const runs: Record<Variant, CursorRun[]> = {
    'cursor-first': [],
    'cursor-deep': [],
    'page-first': [],
    'page-deep': [],
  };
  const record = async (variant: Variant) => {
    const result = await run(variant, CURSOR_SETTINGS.durationSeconds);
    runs[variant].push(result);
    log(
      `transactions-cursor: ${variant}: ${formatNumber(result.requestsPerSecond)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, ` +
        `p99 ${result.p99Ms.toFixed(2)} ms, server CPU ${formatNumber(result.serverCpuUs)} µs/req, ` +
        `PostgreSQL ${formatNumber(result.databaseCpuUs ?? Number.NaN)} µs/req`,
    );
  };
  for (const variant of VARIANTS) await run(variant, CURSOR_SETTINGS.warmupSeconds);
  // ABBA: the two cursor pages run back to back in every round, so noise weighs on both alike.
  for (let round = 0; round < CURSOR_SETTINGS.rounds; round++) {
    const order: Variant[] =
      round % 2 === 0 ? ['cursor-first', 'cursor-deep'] : ['cursor-deep', 'cursor-first'];
    for (const variant of order) await record(variant);
  }
  await record('page-first');
  await record('page-deep');
  return runs;
}

async function explainPages(
  services: Services,
  requests: Record<Variant, ListRequest>,
  tenantId: string,
): Promise<PagePlan[]> {
  const plans: PagePlan[] = [];
  for (const variant of ['cursor-first', 'cursor-deep', 'page-deep'] as const) {
    for (const statement of await listStatements(services.db, tenantId, requests[variant])) {
      plans.push({ variant, sql: statement.sql, lines: await explainAnalyze(services.db, statement) });
    }
  }
  return plans;
}

async function benchOnPostgres(): Promise<string> {
  const database = await createBenchDatabase('postgres');
  try {
    const seeded = await withServices(database, seed);
    const { ids, key } = seeded;
    const requests = pageRequests(ids);
    const loadBefore = loadavg()[0]!;
    const runs = await withServer(database, async (server) => {
      await checkAnswers(server.urls.platform!, key, ids, requests);
      return measure(database, server, key, requests);
    });
    const loadAverage: [number, number] = [loadBefore, loadavg()[0]!];
    const plans = await withServices(database, (services) =>
      explainPages(services, requests, seeded.tenantId),
    );
    const result: CursorResult = {
      version: seeded.version,
      seeding: seeded.seeding,
      loadAverage,
      runs,
      plans,
    };
    return transactionsCursorReport(result, [], CURSOR_SETTINGS);
  } finally {
    await database.drop();
  }
}

export const transactionsCursorSuite: Suite = {
  name: 'transactions-cursor',
  async run() {
    const { kinds, skipped } = await selectedDatabases();
    if (!kinds.includes('postgres')) return transactionsCursorReport(undefined, skipped, CURSOR_SETTINGS);
    return benchOnPostgres();
  },
};
