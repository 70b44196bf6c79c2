import { deepStrictEqual } from 'node:assert';
import { cp, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { closeServices, createServices } from '../apps/server/src/platform/boot.ts';
import { loadConfig } from '../apps/server/src/platform/config.ts';
import { planLimit } from '../apps/server/src/platform/plans.ts';
import {
  type BenchDatabase,
  createBenchDatabase,
  type DatabaseKind,
  selectedDatabases,
} from './lib/databases.ts';
import { assertClean, PRIMING_SECONDS, runLoad } from './lib/load.ts';
import { formatNumber } from './lib/markdown.ts';
import { withRunCpu } from './lib/run-cpu.ts';
import {
  type BenchTenant,
  benchEnv,
  databaseVersion,
  partnerRequestMaker,
  seedPartners,
  seedTenant,
} from './lib/seed.ts';
import { type ServerProcess, startServerProcess } from './lib/server-process.ts';
import { log, type Suite, setting } from './lib/suite.ts';
import { BARE_MODULE } from './partners-get-bare.ts';
import { type DatabaseResult, partnersGetReport, type Run, type Variant } from './partners-get-report.ts';

export const SETTINGS = {
  plan: 'enterprise' as const,
  partners: setting('BENCH_PARTNERS', 100_000),
  durationSeconds: setting('BENCH_DURATION', 5),
  warmupSeconds: setting('BENCH_WARMUP', 3),
  /** Rounds of one run per app, in ABBA order: short alternating runs share background noise fairly. */
  rounds: setting('BENCH_ROUNDS', 6),
  /** PGlite runs every query on the server's one thread, so more connections only lengthen its queue. */
  connections: {
    postgres: setting('BENCH_CONNECTIONS_POSTGRES', 32),
    pglite: setting('BENCH_CONNECTIONS_PGLITE', 8),
  } as Record<DatabaseKind, number>,
  /**
   * Requests spread over this many keys so no key reaches its plan's per-minute limit (a 429 would
   * measure the refusal path); every run is also checked for non-2xx answers. 400 keys × 1,000/min
   * stay clear of the limit up to about 6,600 req/s sustained for a whole minute.
   */
  keys: 400,
  /** Prebuilt requests per connection, each for a random partner: 64,000 of them with 32 connections. */
  requestsPerConnection: 2_000,
  /** Requests per app and round of the in-process (`app.inject`) measurement, and its rounds. */
  injectRequests: 1_500,
  injectRounds: 6,
};

type RequestMaker = ReturnType<typeof partnerRequestMaker>;

/** Each app in a server process of its own: see the report's setup. */
type Servers = Record<Variant, ServerProcess>;

/** The app each server process serves by that name. */
const appUrl = (servers: Servers, variant: Variant): string => servers[variant].urls[variant]!;

/** Both apps must give the same answer, or the comparison is not of the same work. */
async function checkSameAnswer(servers: Servers, id: string, key: string): Promise<void> {
  const get = (variant: Variant) =>
    fetch(`${appUrl(servers, variant)}/api/v1/partners/${id}`, { headers: { 'x-api-key': key } });
  const [platform, bare] = await Promise.all([get('platform'), get('bare')]);
  if (platform.status !== 200 || bare.status !== 200) {
    throw new Error(`sanity check: platform answered ${platform.status}, bare ${bare.status}`);
  }
  deepStrictEqual(await platform.json(), await bare.json());
  const limit = platform.headers.get('x-ratelimit-limit');
  if (limit !== String(planLimit(SETTINGS.plan).limit)) {
    throw new Error(
      `sanity check: expected the ${SETTINGS.plan} plan's rate limit, got x-ratelimit-limit ${limit}`,
    );
  }
}

/**
 * The platform layer's own CPU cost, without sockets: each app driven through `app.inject` inside
 * its own server process, in alternating rounds. Returns the median µs per request.
 */
async function measureInProcess(servers: Servers, next: RequestMaker): Promise<Record<Variant, number>> {
  const batch = () => Array.from({ length: SETTINGS.injectRequests }, next);
  const cost = (variant: Variant) => servers[variant].injectCost(variant, batch(), 8);
  const samples: Record<Variant, number[]> = { platform: [], bare: [] };
  // The first batches also ready the apps (compiling every route's schemas): never counted.
  for (let round = 0; round < 4; round++) {
    for (const variant of ['platform', 'bare'] as const) await cost(variant);
  }
  for (let round = 0; round < SETTINGS.injectRounds; round++) {
    const order: Variant[] = round % 2 === 0 ? ['platform', 'bare'] : ['bare', 'platform'];
    for (const variant of order) samples[variant].push(await cost(variant));
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return { platform: median(samples.platform), bare: median(samples.bare) };
}

async function loadTest(
  database: BenchDatabase,
  servers: Servers,
  next: RequestMaker,
): Promise<{ runs: Record<Variant, Run[]>; loadAverage: [number, number] }> {
  const { kind, label } = database;
  const load = async (variant: Variant, seconds: number): Promise<Run> => {
    const result = await withRunCpu(database, servers[variant], () =>
      runLoad({
        url: appUrl(servers, variant),
        connections: SETTINGS.connections[kind],
        durationSeconds: seconds,
        nextRequest: next,
        requestsPerConnection: SETTINGS.requestsPerConnection,
      }),
    );
    assertClean(`${label} ${variant}`, result);
    return result;
  };
  // Two alternating warm-up runs each: after them both apps' code is optimised and every key cached.
  for (let round = 0; round < 2; round++) {
    for (const variant of ['platform', 'bare'] as const) await load(variant, SETTINGS.warmupSeconds);
  }
  const runs: Record<Variant, Run[]> = { platform: [], bare: [] };
  const loadBefore = loadavg()[0]!;
  // ABBA order, so drift over the run (other load, caches, autovacuum) weighs on both apps alike.
  for (let round = 0; round < SETTINGS.rounds; round++) {
    const order: Variant[] = round % 2 === 0 ? ['platform', 'bare'] : ['bare', 'platform'];
    for (const variant of order) {
      await load(variant, PRIMING_SECONDS);
      const result = await load(variant, SETTINGS.durationSeconds);
      runs[variant].push(result);
      log(
        `partners-get: ${label} ${variant}: ${formatNumber(result.requestsPerSecond)} req/s, ` +
          `p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, ` +
          `server CPU ${result.serverCpuUs.toFixed(0)} µs/req, ` +
          `PostgreSQL ${(result.databaseCpuUs ?? Number.NaN).toFixed(0)} µs/req, ` +
          `load generator ${result.clientCpuUs.toFixed(0)} µs/req, ` +
          `other processes ${((result.foreignCpu ?? Number.NaN) * 100).toFixed(0)} % of CPU`,
      );
    }
  }
  return { runs, loadAverage: [loadBefore, loadavg()[0]!] };
}

/**
 * One server process per app, so neither shares a heap, a JIT or a pool with the other. On PGlite,
 * whose files one process opens at a time, the bare app gets a copy of the seeded data directory.
 */
async function startServers(
  database: BenchDatabase,
  tenant: BenchTenant,
): Promise<{
  servers: Servers;
  stop: () => Promise<void>;
}> {
  const env = benchEnv(database);
  const bareEnv = { ...env };
  if (database.kind === 'pglite') {
    bareEnv.DATA_DIR = `${env.DATA_DIR}-bare`;
    await cp(env.DATA_DIR!, bareEnv.DATA_DIR, { recursive: true });
  }
  const started: ServerProcess[] = [];
  const stop = async () => {
    for (const server of started) await server.stop();
    if (bareEnv.DATA_DIR !== env.DATA_DIR) await rm(bareEnv.DATA_DIR!, { recursive: true, force: true });
  };
  try {
    started.push(await startServerProcess({ env }));
    started.push(
      await startServerProcess({
        env: bareEnv,
        platform: false,
        bare: { module: BARE_MODULE, options: { tenantId: tenant.tenantId } },
      }),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { servers: { platform: started[0]!, bare: started[1]! }, stop };
}

async function benchOn(kind: DatabaseKind): Promise<DatabaseResult> {
  const database = await createBenchDatabase(kind);
  try {
    const services = await createServices(loadConfig(benchEnv(database)));
    let version: string;
    let tenant: BenchTenant;
    let ids: string[];
    try {
      version = await databaseVersion(services.database);
      tenant = await seedTenant(services, {
        slug: 'bench',
        plan: SETTINGS.plan,
        keys: SETTINGS.keys,
        scopes: ['partners:read'],
      });
      const started = Date.now();
      ids = await seedPartners(services.db, tenant.tenantId, SETTINGS.partners);
      log(
        `partners-get: ${database.label}: seeded ${SETTINGS.partners} partners in ${Date.now() - started} ms`,
      );
    } finally {
      // PGlite's files belong to one process at a time: the server processes open them next.
      await closeServices(services);
    }
    const next = partnerRequestMaker(tenant, ids);
    const { servers, stop } = await startServers(database, tenant);
    try {
      await checkSameAnswer(servers, ids[0]!, tenant.keys[0]!.key);
      const inProcess = await measureInProcess(servers, next);
      log(
        `partners-get: ${database.label} in-process: platform ${inProcess.platform.toFixed(0)} µs/req, ` +
          `bare ${inProcess.bare.toFixed(0)} µs/req`,
      );
      const { runs, loadAverage } = await loadTest(database, servers, next);
      return {
        label: database.label,
        version,
        connections: SETTINGS.connections[kind],
        loadAverage,
        runs,
        inProcess,
      };
    } finally {
      await stop();
    }
  } finally {
    await database.drop();
  }
}

export const partnersGetSuite: Suite = {
  name: 'partners-get',
  async run() {
    const { kinds, skipped } = await selectedDatabases();
    const results: DatabaseResult[] = [];
    for (const kind of kinds) results.push(await benchOn(kind));
    return partnersGetReport(results, skipped, SETTINGS);
  },
};
