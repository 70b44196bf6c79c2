import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { closeServices, createServices } from '../apps/server/src/platform/boot.ts';
import { loadConfig } from '../apps/server/src/platform/config.ts';
import { BENCH_DATABASE_URL, createBenchDatabase, postgresReachable } from './lib/databases.ts';
import {
  type Distribution,
  distribution,
  measureRevocation,
  type RevocationSample,
} from './lib/key-propagation-revocations.ts';
import { codeVersion, describeMachine, machineLine } from './lib/machine.ts';
import { formatNumber, markdownTable } from './lib/markdown.ts';
import { BENCH_ADMIN_KEY, benchEnv, databaseVersion, seedTenant } from './lib/seed.ts';
import { startServerProcess } from './lib/server-process.ts';
import { log, type Suite, setting } from './lib/suite.ts';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Revocations measured per transport, after WARMUP uncounted ones. */
const REVOCATIONS = setting('BENCH_REVOCATIONS', 100);
const WARMUP = 5;
/** The targets for the delay until another process refuses a revoked key. */
const TARGET_MEDIAN_MS = 200;
const TARGET_MAX_MS = 1_000;

interface Transport {
  name: string;
  env: Record<string, string>;
}

interface TransportResult {
  transport: string;
  delay: Distribution;
  deleteMs: Distribution;
  /** Delay minus A's DELETE time: how long after A answered B still accepted the key (< 0: never). */
  afterAnswerMs: Distribution;
  polls: Distribution;
  databaseVersion: string;
}

/** `Redis 7.0.15`, or undefined when REDIS_URL does not answer. */
async function redisVersion(url: string): Promise<string | undefined> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const version = /^redis_version:(.+)$/m.exec(await redis.info('server'))?.[1]?.trim();
    return `Redis ${version ?? '?'}`;
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

/** A fresh database, REVOCATIONS + WARMUP keys, two server processes, then one revocation per key. */
async function measureTransport(transport: Transport): Promise<TransportResult> {
  const database = await createBenchDatabase('postgres');
  try {
    const env = benchEnv(database);
    const services = await createServices(loadConfig(env));
    let seeded: Awaited<ReturnType<typeof seedTenant>>;
    let version: string;
    try {
      version = await databaseVersion(services.database);
      seeded = await seedTenant(services, {
        slug: 'bench-propagation',
        plan: 'enterprise',
        keys: REVOCATIONS + WARMUP,
        scopes: ['partners:read'],
      });
    } finally {
      await closeServices(services);
    }
    // An hour of caching: only the transport, never expiry, can make B refuse a key it has cached.
    // AUTH_FAILURE_LIMIT=0: a hundred 401s a minute from one IP would otherwise turn into 429s.
    const serverEnv = { ...env, KEY_CACHE_TTL_SECONDS: '3600', AUTH_FAILURE_LIMIT: '0', ...transport.env };
    const [a, b] = await Promise.all([
      startServerProcess({ env: serverEnv }),
      startServerProcess({ env: serverEnv }),
    ]);
    try {
      const target = {
        revokeUrl: a.urls.platform!,
        pollUrl: b.urls.platform!,
        slug: seeded.slug,
        adminKey: BENCH_ADMIN_KEY,
      };
      const samples: RevocationSample[] = [];
      for (const [i, key] of seeded.keys.entries()) {
        const sample = await measureRevocation(target, key);
        if (i >= WARMUP) samples.push(sample);
      }
      const result = {
        transport: transport.name,
        delay: distribution(samples.map((s) => s.delayMs)),
        deleteMs: distribution(samples.map((s) => s.deleteMs)),
        afterAnswerMs: distribution(samples.map((s) => s.delayMs - s.deleteMs)),
        polls: distribution(samples.map((s) => s.polls)),
        databaseVersion: version,
      };
      log(
        `key-propagation: ${transport.name}: median ${ms(result.delay.median)} ms, max ${ms(result.delay.max)} ms`,
      );
      return result;
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  } finally {
    await database.drop();
  }
}

const ms = (value: number) => formatNumber(value, 1);

function verdict(delay: Distribution): string {
  const met = delay.median < TARGET_MEDIAN_MS && delay.max < TARGET_MAX_MS;
  return met ? 'met' : '**missed**';
}

export const keyPropagationSuite: Suite = {
  name: 'key-propagation',
  async run() {
    const heading = '## Key-change propagation between processes (`npm run bench -- key-propagation`)';
    if (!(await postgresReachable())) {
      return `${heading}\n\nNot run: it needs PostgreSQL, and ${new URL(BENCH_DATABASE_URL).host} did not answer.`;
    }
    const redis = await redisVersion(REDIS_URL);
    const transports: Transport[] = [
      { name: 'PostgreSQL LISTEN/NOTIFY', env: {} },
      ...(redis ? [{ name: 'Redis pub/sub', env: { REDIS_URL } }] : []),
    ];
    const loadBefore = loadavg()[0]!;
    const results: TransportResult[] = [];
    for (const transport of transports) {
      log(`key-propagation: ${transport.name}: ${REVOCATIONS} revocations`);
      results.push(await measureTransport(transport));
    }
    const loadAfter = loadavg()[0]!;
    const versions = [results[0]?.databaseVersion ?? 'PostgreSQL ?', ...(redis ? [redis] : [])];
    return [
      heading,
      '',
      `Run ${new Date().toISOString().slice(0, 10)} on ${machineLine(describeMachine())}; ${versions.join(', ')};`,
      `${codeVersion()}; 1-minute load average ${loadBefore.toFixed(2)} → ${loadAfter.toFixed(2)}.`,
      ...(redis ? [] : [`Redis skipped: ${new URL(REDIS_URL).host} did not answer.`]),
      '',
      `Per transport: a fresh PostgreSQL database, one tenant with ${REVOCATIONS + WARMUP} keys and two server processes`,
      'A and B (children of the benchmark, `NODE_ENV=production`, `KEY_CACHE_TTL_SECONDS=3600`, so B can only',
      'learn of a revocation through the transport). For each key: one request with it to B (`GET /api/v1/me`,',
      '200: now cached in B), then `DELETE /api/t/{slug}/v1/api-keys/{id}` to A with the platform admin key and,',
      'from the same instant, requests with the key to B back to back (one in flight at a time) until B answers',
      "401 `api_key_revoked`. The **delay** runs from just before the DELETE is sent to B's first refusal, so it",
      "includes A's own work (transaction, audit record, commit, publish); *after A answered* subtracts A's",
      'DELETE time: how long B still accepted a key whose revocation its client had already been told of',
      `(negative: B refused it first). The first ${WARMUP} revocations warm the processes up and are not counted.`,
      'The benchmark, both servers, PostgreSQL and Redis share the machine.',
      '',
      markdownTable(
        [
          'Transport',
          'Revocations',
          'median ms',
          'p90 ms',
          'max ms',
          'mean ms',
          'DELETE on A, median ms',
          'after A answered, median / max ms',
          'B requests per revocation, median',
          'Target',
        ],
        results.map((r) => [
          r.transport,
          formatNumber(r.delay.count),
          `**${ms(r.delay.median)}**`,
          ms(r.delay.p90),
          `**${ms(r.delay.max)}**`,
          ms(r.delay.mean),
          ms(r.deleteMs.median),
          `${ms(r.afterAnswerMs.median)} / ${ms(r.afterAnswerMs.max)}`,
          formatNumber(r.polls.median),
          verdict(r.delay),
        ]),
        ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
      ),
      '',
      `Target: median < ${TARGET_MEDIAN_MS} ms and max < ${formatNumber(TARGET_MAX_MS)} ms. The cost of a key check on a cache`,
      'hit and on a miss (µs) is measured by `key-verify` above.',
    ].join('\n');
  },
};
