import { deepStrictEqual } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setTimeout } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { closeServices, createServices } from '../apps/server/src/platform/boot.ts';
import { loadConfig } from '../apps/server/src/platform/config.ts';
import { planLimit } from '../apps/server/src/platform/plans.ts';
import { type BenchDatabase, createBenchDatabase, postgresReachable } from './lib/databases.ts';
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
import type { ServeOptions } from './lib/serve.ts';
import { type ServerProcess, startServerProcess } from './lib/server-process.ts';
import { log, type Suite, setting } from './lib/suite.ts';
import { BARE_MODULE } from './partners-get-bare.ts';
import { measureAccuracy, metricValue } from './rate-limit-accuracy.ts';
import type { LibraryLimitOptions } from './rate-limit-apps.ts';
import { type Run, rateLimitReport, type ThroughputResult } from './rate-limit-report.ts';

export const SETTINGS = {
  plan: 'enterprise' as const,
  partners: setting('BENCH_PARTNERS', 20_000),
  durationSeconds: setting('BENCH_DURATION', 5),
  warmupSeconds: setting('BENCH_WARMUP', 3),
  /** Rounds of one run per variant, each round in the reverse order of the last (ABBA). */
  rounds: setting('BENCH_ROUNDS', 4),
  connections: setting('BENCH_CONNECTIONS_POSTGRES', 32),
  /** As in partners-get: 400 keys × 1,000/min keep every key clear of its limit up to ~6,600 req/s. */
  keys: 400,
  requestsPerConnection: 2_000,
  redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  accuracy: {
    limit: 500,
    /** One request back every 7.2 s (GCRA): none during a run of a second or two. */
    windowSeconds: 3_600,
    requests: 2_000,
    connections: 64,
    runs: setting('BENCH_ACCURACY_RUNS', 3),
  },
};

export const VARIANTS = [
  'none',
  'limit-only',
  'metering-only',
  'memory',
  'redis',
  'bare',
  'fastify-rate-limit-memory',
  'fastify-rate-limit',
  'rate-limiter-flexible',
] as const;
export type Variant = (typeof VARIANTS)[number];

/** The server process's app each variant is served by: `platform` is the real app, on Redis. */
const APP_OF: Record<Variant, string> = {
  none: 'none',
  'limit-only': 'limit-only',
  'metering-only': 'metering-only',
  memory: 'memory',
  redis: 'platform',
  bare: 'bare',
  'fastify-rate-limit': 'fastify-rate-limit',
  'rate-limiter-flexible': 'rate-limiter-flexible',
  'fastify-rate-limit-memory': 'fastify-rate-limit-memory',
};

/** Variants that set no rate-limit headers. */
const UNLIMITED: ReadonlySet<Variant> = new Set(['none', 'metering-only', 'bare']);
/** Variants that write request-log rows, flushed once a second after the requests. */
const METERED: ReadonlySet<Variant> = new Set(['metering-only', 'memory', 'redis']);
/** Long enough for the request-log writer's last flush of a metered run to land before the next run. */
const SETTLE_MS = 1_200;

const APPS_MODULE = fileURLToPath(new URL('./rate-limit-apps.ts', import.meta.url));

/** CPU time Redis has used since it started (all its threads), µs. */
async function redisCpuMicros(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6;
}

/** Resident memory of a process, MiB (Linux). */
function residentMiB(pid: number): number | undefined {
  try {
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) / 1024;
  } catch {
    return undefined;
  }
}

/** Every variant answers the same body; the limited ones say which limit they applied, `none` says nothing. */
async function checkVariants(urls: Record<Variant, string>, id: string, key: string): Promise<void> {
  const answers = await Promise.all(
    VARIANTS.map(async (variant) => {
      const response = await fetch(`${urls[variant]}/api/v1/partners/${id}`, {
        headers: { 'x-api-key': key },
      });
      if (response.status !== 200) throw new Error(`sanity check: ${variant} answered ${response.status}`);
      return { variant, limit: response.headers.get('x-ratelimit-limit'), body: await response.json() };
    }),
  );
  const expectedLimit = String(planLimit(SETTINGS.plan).limit);
  for (const answer of answers) {
    deepStrictEqual(answer.body, answers[0]!.body, `sanity check: ${answer.variant} answers another body`);
    const expected = UNLIMITED.has(answer.variant) ? null : expectedLimit;
    if (answer.limit !== expected) {
      throw new Error(
        `sanity check: ${answer.variant} sent x-ratelimit-limit ${answer.limit}, not ${expected}`,
      );
    }
  }
}

/**
 * How each variant's server process is started: the real app is the platform app of a process
 * started with REDIS_URL; every other variant is the only app of its process.
 */
function variantProcess(
  variant: Variant,
  env: Record<string, string>,
  tenantId: string,
  library: Omit<LibraryLimitOptions, 'prefix'>,
  prefix: string,
): ServeOptions {
  if (variant === 'redis') return { env };
  if (variant === 'bare')
    return { env, platform: false, bare: { module: BARE_MODULE, options: { tenantId } } };
  const builders: Record<Exclude<Variant, 'redis' | 'bare'>, { builder: string; options?: unknown }> = {
    none: { builder: 'buildUnlimitedApp' },
    'limit-only': { builder: 'buildLimitOnlyApp' },
    'metering-only': { builder: 'buildMeteringOnlyApp' },
    memory: { builder: 'buildMemoryLimitedApp' },
    'fastify-rate-limit-memory': { builder: 'buildFastifyRateLimitMemoryApp', options: library },
    'fastify-rate-limit': {
      builder: 'buildFastifyRateLimitApp',
      options: { ...library, prefix: `${prefix}frl:` },
    },
    'rate-limiter-flexible': {
      builder: 'buildRateLimiterFlexibleApp',
      options: { ...library, prefix: `${prefix}rlf` },
    },
  };
  return { env, platform: false, apps: { [variant]: { module: APPS_MODULE, ...builders[variant] } } };
}

async function measureThroughput(
  database: BenchDatabase,
  env: Record<string, string>,
  redis: Redis,
  tenant: BenchTenant,
  ids: string[],
  prefix: string,
): Promise<Omit<ThroughputResult, 'requestLogRows'>> {
  const library: Omit<LibraryLimitOptions, 'prefix'> = {
    tenantId: tenant.tenantId,
    redisUrl: SETTINGS.redisUrl,
    ...planLimit(SETTINGS.plan),
  };
  const servers = {} as Record<Variant, ServerProcess>;
  const urls = {} as Record<Variant, string>;
  try {
    // One process per variant, as each would be deployed: see the report's setup.
    for (const variant of VARIANTS) {
      const server = await startServerProcess(variantProcess(variant, env, tenant.tenantId, library, prefix));
      servers[variant] = server;
      urls[variant] = server.urls[APP_OF[variant]]!;
    }
    await checkVariants(urls, ids[0]!, tenant.keys[0]!.key);
    const next = partnerRequestMaker(tenant, ids);
    const load = async (variant: Variant, seconds: number): Promise<Run> => {
      const redisBefore = await redisCpuMicros(redis);
      const result = await withRunCpu(database, servers[variant], () =>
        runLoad({
          url: urls[variant],
          connections: SETTINGS.connections,
          durationSeconds: seconds,
          nextRequest: next,
          requestsPerConnection: SETTINGS.requestsPerConnection,
        }),
      );
      assertClean(`rate-limit ${variant}`, result);
      if (METERED.has(variant)) await setTimeout(SETTLE_MS);
      return { ...result, redisCpuUs: ((await redisCpuMicros(redis)) - redisBefore) / result.requests };
    };
    for (let round = 0; round < 2; round++) {
      for (const variant of VARIANTS) await load(variant, SETTINGS.warmupSeconds);
    }
    const runs = Object.fromEntries(VARIANTS.map((v) => [v, [] as Run[]])) as Record<Variant, Run[]>;
    const loadBefore = loadavg()[0]!;
    for (let round = 0; round < SETTINGS.rounds; round++) {
      const order = round % 2 === 0 ? [...VARIANTS] : [...VARIANTS].reverse();
      for (const variant of order) {
        await load(variant, PRIMING_SECONDS);
        const result = await load(variant, SETTINGS.durationSeconds);
        runs[variant].push(result);
        log(
          `rate-limit: ${variant}: ${formatNumber(result.requestsPerSecond)} req/s, ` +
            `p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, ` +
            `server ${result.serverCpuUs.toFixed(0)} µs/req, PostgreSQL ${(result.databaseCpuUs ?? Number.NaN).toFixed(0)} µs/req, ` +
            `Redis ${result.redisCpuUs.toFixed(0)} µs/req, other ${((result.foreignCpu ?? Number.NaN) * 100).toFixed(0)} %`,
        );
      }
    }
    const loadAverage: [number, number] = [loadBefore, loadavg()[0]!];
    const storeFailures = await metricValue(urls.redis, 'partnerline_rate_limit_store_failures_total');
    if (storeFailures > 0) {
      throw new Error(
        `rate-limit: ${storeFailures} Redis calls failed: the redis variant was partly limited in memory`,
      );
    }
    let droppedLogRows = 0;
    for (const variant of METERED) {
      droppedLogRows += await metricValue(urls[variant], 'partnerline_request_log_dropped_total');
    }
    return { runs, loadAverage, residentMiB: residentMiB(servers.redis.pid), droppedLogRows };
  } finally {
    for (const server of Object.values(servers)) await server.stop();
  }
}

async function countRequestLogRows(database: BenchDatabase): Promise<number> {
  const client = new pg.Client({ connectionString: database.env.DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ count: string }>('select count(*) from request_logs');
    return Number(rows[0]?.count ?? 0);
  } finally {
    await client.end();
  }
}

/** Deletes what the run left in the shared Redis. */
async function dropRedisKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

export const rateLimitSuite: Suite = {
  name: 'rate-limit',
  async run() {
    if (!(await postgresReachable())) throw new Error('rate-limit: needs PostgreSQL (BENCH_DATABASE_URL)');
    const redis = new Redis(SETTINGS.redisUrl, { maxRetriesPerRequest: 1 });
    const prefix = `plbench:${randomBytes(4).toString('hex')}:`;
    const database = await createBenchDatabase('postgres');
    try {
      const env = {
        ...benchEnv(database),
        REDIS_URL: SETTINGS.redisUrl,
        RATE_LIMIT_REDIS_PREFIX: `${prefix}rl:`,
      };
      const services = await createServices(loadConfig(benchEnv(database)));
      let version: string;
      let tenant: BenchTenant;
      let limited: BenchTenant;
      let ids: string[];
      let limitedIds: string[];
      try {
        version = `${await databaseVersion(services.database)}, Redis ${/^redis_version:(\S+)/m.exec(await redis.info('server'))?.[1] ?? '?'}`;
        tenant = await seedTenant(services, {
          slug: 'bench',
          plan: SETTINGS.plan,
          keys: SETTINGS.keys,
          scopes: ['partners:read'],
        });
        const { limit, windowSeconds, runs } = SETTINGS.accuracy;
        limited = await seedTenant(services, {
          slug: 'bench-limited',
          plan: SETTINGS.plan,
          keys: runs * 4,
          scopes: ['partners:read'],
          rateLimit: { limit, windowSeconds },
        });
        ids = await seedPartners(services.db, tenant.tenantId, SETTINGS.partners);
        limitedIds = await seedPartners(services.db, limited.tenantId, 100);
      } finally {
        await closeServices(services);
      }
      const throughput = await measureThroughput(database, env, redis, tenant, ids, prefix);
      const requestLogRows = await countRequestLogRows(database);
      const accuracy = await measureAccuracy({
        env,
        tenantId: limited.tenantId,
        redisUrl: SETTINGS.redisUrl,
        prefix,
        ids: limitedIds,
        keys: limited.keys.map((k) => k.key),
        ...SETTINGS.accuracy,
      });
      return rateLimitReport({ version, throughput: { ...throughput, requestLogRows }, accuracy }, SETTINGS);
    } finally {
      await dropRedisKeys(redis, prefix);
      redis.disconnect();
      await database.drop();
    }
  },
};
