import { loadavg } from 'node:os';
import { sql } from 'kysely';
import type { Services } from '../apps/server/src/platform/services.ts';
import { type EventsDatabaseResult, type EventsRun, eventsReport, rowsMatch } from './events-report.ts';
import { withServer, withServices } from './lib/bench-scope.ts';
import {
  type BenchDatabase,
  createBenchDatabase,
  type DatabaseKind,
  selectedDatabases,
} from './lib/databases.ts';
import { countSaleRows, SaleEvents } from './lib/events-sales.ts';
import { runLoad } from './lib/load.ts';
import { formatNumber } from './lib/markdown.ts';
import { withRunCpu } from './lib/run-cpu.ts';
import { type BenchTenant, databaseVersion, seedPartners, seedTenant } from './lib/seed.ts';
import type { ServerProcess } from './lib/server-process.ts';
import { log, type Suite, setting } from './lib/suite.ts';

/** `16,32,64` from the environment, or the fallback. */
function connectionList(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const values = raw.split(',').map((part) => Number(part.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new Error(`${name} must be a comma-separated list of positive integers, got ${raw}`);
  }
  return values;
}

export const EVENTS_SETTINGS = {
  plan: 'enterprise' as const,
  /** Partners seeded; the sales go to the active ones of the default group in turn. */
  partners: 1_000,
  /** The default group's sale commission: 20 %. */
  basisPoints: 2_000,
  /** Far above anything this machine can send, so no request meets the limiter's refusal path. */
  rateLimit: { limit: 1_000_000, windowSeconds: 60 },
  rounds: setting('BENCH_EVENTS_ROUNDS', 3),
  /** Aimed length of a measured run; each run sends a fixed number of events sized from the warm-up. */
  durationSeconds: setting('BENCH_EVENTS_DURATION', 8),
  warmupSeconds: setting('BENCH_WARMUP', 3),
  /** Sales recorded before the database is analysed and the measured server starts. */
  historySales: 500,
  /**
   * Connection counts, each measured once per round. PostgreSQL gets a curve around its pool of 10;
   * PGlite runs every query on the server's one thread, so more connections only lengthen its queue.
   */
  connections: {
    postgres: connectionList('BENCH_EVENTS_CONNECTIONS_POSTGRES', [16, 32, 64]),
    pglite: connectionList('BENCH_EVENTS_CONNECTIONS_PGLITE', [8]),
  } as Record<DatabaseKind, number[]>,
};

interface Seeded {
  version: string;
  tenant: BenchTenant;
  partnerIds: string[];
}

async function seed(services: Services): Promise<Seeded> {
  const tenant = await seedTenant(services, {
    slug: 'bench-events',
    plan: EVENTS_SETTINGS.plan,
    keys: 1,
    scopes: ['events:write', 'partner_groups:write'],
    rateLimit: EVENTS_SETTINGS.rateLimit,
  });
  await seedPartners(services.db, tenant.tenantId, EVENTS_SETTINGS.partners);
  // Active partners without a group of their own: every sale earns the default group's commission.
  const { rows } = await sql<{ id: string }>`
    select id from partners
    where tenant_id = ${tenant.tenantId} and status = 'active' and group_key is null order by id
  `.execute(services.db);
  return {
    version: await databaseVersion(services.database),
    tenant,
    partnerIds: rows.map((row) => row.id),
  };
}

/** Sets the default group's sale commission through the API, as a tenant would. */
async function setSaleCommission(url: string, key: string): Promise<void> {
  const response = await fetch(`${url}/api/v1/partner-groups/default`, {
    method: 'PATCH',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify({
      saleCommission: { type: 'percentage', basisPoints: EVENTS_SETTINGS.basisPoints },
    }),
  });
  if (response.status !== 200) {
    throw new Error(`PATCH /partner-groups/default answered ${response.status}: ${await response.text()}`);
  }
}

/** Sale loads on one database: every answer must be a 201, and all of them are counted. */
class SaleLoad {
  /** 201 answers so far, the sanity-check sale included. */
  created = 0;

  constructor(
    private readonly database: BenchDatabase,
    private readonly sales: SaleEvents,
  ) {}

  /** Sends `amount` sales over `connections`; anything but a 201 for every one of them fails the run. */
  async run(server: ServerProcess, connections: number, amount: number): Promise<EventsRun> {
    const builtBefore = this.sales.built;
    const result = await withRunCpu(this.database, server, () =>
      runLoad({
        url: server.urls.platform!,
        connections,
        amount,
        nextRequest: () => this.sales.request(),
        requestsPerConnection: 1,
      }),
    );
    const created = result.statusCodes['201'] ?? 0;
    this.created += created;
    const sent = this.sales.built - builtBefore;
    if (created !== amount || sent !== amount || result.errors > 0) {
      throw new Error(
        `${this.database.label}, ${connections} connections: invalid run, ${sent} sales sent, ${created} of ` +
          `${amount} answered 201, ${result.errors} socket errors (status codes ${JSON.stringify(result.statusCodes)})`,
      );
    }
    return { ...result, connections };
  }

  /** One sale through the API: it must be created with exactly the expected commission. */
  async checkOne(url: string, key: string): Promise<void> {
    const body = this.sales.next();
    const response = await fetch(`${url}/api/v1/events`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body,
    });
    const answer = (await response.json()) as { data?: { commissions?: { amount: string }[] } };
    const amount = Number((JSON.parse(body) as { amount: string }).amount);
    const expected = ((amount * EVENTS_SETTINGS.basisPoints) / 10_000).toFixed(2);
    const commissions = answer.data?.commissions ?? [];
    if (response.status !== 201 || commissions.length !== 1 || commissions[0]?.amount !== expected) {
      throw new Error(
        `sanity check: a sale answered ${response.status} with ${JSON.stringify(answer)}, expected 201 and one commission of ${expected}`,
      );
    }
    this.created += 1;
  }
}

/** Each round measures every connection count once, starting one further along the list each time. */
function roundOrder(counts: number[], round: number): number[] {
  return counts.map((_, i) => counts[(i + round) % counts.length]!);
}

function describeRun(label: string, run: EventsRun): string {
  const database =
    run.databaseCpuUs === undefined ? '' : `, PostgreSQL ${formatNumber(run.databaseCpuUs)} µs/event`;
  return (
    `events: ${label} ${run.connections} conns: ${formatNumber(run.requestsPerSecond)} events/s ` +
    `in ${run.seconds.toFixed(1)} s, p50 ${run.p50Ms.toFixed(1)} ms, p99 ${run.p99Ms.toFixed(1)} ms, ` +
    `server CPU ${formatNumber(run.serverCpuUs)} µs/event${database}, ` +
    `other processes ${((run.foreignCpu ?? Number.NaN) * 100).toFixed(0)} % of CPU`
  );
}

async function benchOn(kind: DatabaseKind): Promise<EventsDatabaseResult> {
  const database = await createBenchDatabase(kind);
  try {
    const { version, tenant, partnerIds } = await withServices(database, (services) => seed(services));
    const key = tenant.keys[0]!.key;
    const load = new SaleLoad(database, new SaleEvents(key, partnerIds));
    const counts = EVENTS_SETTINGS.connections[kind];
    // The commission rule, one checked sale and a history of sales through the API; then ANALYZE,
    // so the planner works from statistics as on a live database (see the section's Statistics note).
    const history = await withServer(database, async (server) => {
      const url = server.urls.platform!;
      await setSaleCommission(url, key);
      await load.checkOne(url, key);
      return load.run(server, counts[0]!, EVENTS_SETTINGS.historySales);
    });
    await withServices(database, (services) => sql`analyze`.execute(services.db));
    log(`${describeRun(database.label, history)} (history of ${EVENTS_SETTINGS.historySales} sales)`);
    const runs: EventsRun[] = [];
    const loadAverage = await withServer(database, async (server) => {
      // A run sends a fixed number of sales, sized from the mean rate seen so far at its connection
      // count, so that it lasts about BENCH_EVENTS_DURATION seconds however busy the machine is.
      const rates = new Map<number, number[]>();
      const sized = (connections: number, seconds: number) => {
        const seen = rates.get(connections) ?? [history.requestsPerSecond];
        const rate = seen.reduce((sum, r) => sum + r, 0) / seen.length;
        return Math.max(connections * 4, Math.round(rate * seconds));
      };
      const measure = async (connections: number, seconds: number) => {
        const run = await load.run(server, connections, sized(connections, seconds));
        rates.set(connections, [...(rates.get(connections) ?? []), run.requestsPerSecond]);
        return run;
      };
      // Warm-up: the code paths and the pool at the highest count, then each count once.
      const widest = Math.max(...counts);
      await load.run(
        server,
        widest,
        Math.round(history.requestsPerSecond * EVENTS_SETTINGS.warmupSeconds) + widest,
      );
      for (const connections of counts) await measure(connections, EVENTS_SETTINGS.warmupSeconds);
      const before = loadavg()[0]!;
      for (let round = 0; round < EVENTS_SETTINGS.rounds; round++) {
        for (const connections of roundOrder(counts, round)) {
          const run = await measure(connections, EVENTS_SETTINGS.durationSeconds);
          runs.push(run);
          log(describeRun(database.label, run));
        }
      }
      return [before, loadavg()[0]!] as [number, number];
    });
    // Every 201 must have left exactly one event, customer, transaction and commission behind.
    const rows = await withServices(database, (services) =>
      countSaleRows(services.db, tenant.tenantId, EVENTS_SETTINGS.basisPoints),
    );
    log(
      `events: ${database.label}: ${formatNumber(load.created)} answered 201; rows ${JSON.stringify(rows)}`,
    );
    const result = {
      label: database.label,
      kind,
      version,
      partners: partnerIds.length,
      loadAverage,
      runs,
      created: load.created,
      rows,
    };
    if (!rowsMatch(result)) log(`events: ${database.label}: MISMATCH between 201 answers and rows written`);
    return result;
  } finally {
    await database.drop();
  }
}

export const eventsSuite: Suite = {
  name: 'events',
  async run() {
    const { kinds, skipped } = await selectedDatabases();
    const results: EventsDatabaseResult[] = [];
    for (const kind of kinds) results.push(await benchOn(kind));
    return eventsReport(results, skipped, EVENTS_SETTINGS);
  },
};
