import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withServices } from './lib/bench-scope.ts';
import { callgrindAvailable, callgrindWrapper, count, type ThreadCounts } from './lib/callgrind.ts';
import { createBenchDatabase, postgresReachable } from './lib/databases.ts';
import { assertClean, runLoad } from './lib/load.ts';
import { codeVersion, describeMachine, machineLine } from './lib/machine.ts';
import { formatNumber, markdownTable } from './lib/markdown.ts';
import { benchEnv, databaseVersion, partnerRequestMaker, seedPartners, seedTenant } from './lib/seed.ts';
import type { ServeOptions } from './lib/serve.ts';
import { startServerProcess } from './lib/server-process.ts';
import { median } from './lib/stats.ts';
import { log, type Suite, setting } from './lib/suite.ts';
import { BARE_MODULE } from './partners-get-bare.ts';

const SETTINGS = {
  partners: 2_000,
  keys: 400,
  plan: 'enterprise' as const,
  connections: 8,
  /** Requests before counting starts: every key cached, the hot code optimised. */
  warmup: setting('BENCH_INSTRUCTIONS_WARMUP', 10_000),
  /** Requests between the full collection and the count, uncounted. */
  rewarm: 2_000,
  /** Requests counted per server process. */
  counted: setting('BENCH_INSTRUCTIONS_REQUESTS', 2_000),
  /** Server processes per app: the platform's count differs between processes (see the report). */
  processes: setting('BENCH_INSTRUCTIONS_PROCESSES', 3),
};

/** V8 slow paths the report counts: each call is a trip from compiled code into V8's runtime. */
const SLOW_PATHS = [
  'Runtime_DefineKeyedOwnPropertyInLiteral',
  'Runtime_LoadIC_Miss',
  'Runtime_StoreIC_Miss',
  'Runtime_DefineNamedOwnIC_Miss',
  'Builtins_CloneObjectIC_Slow',
] as const;

type App = 'bare' | 'platform';

interface ProcessCount {
  app: App;
  /** Instructions of the server's main thread per counted request. */
  perRequest: number;
  /** Calls of each slow path per counted request. */
  slowPaths: Record<string, number>;
}

async function countProcess(
  app: App,
  options: ServeOptions,
  next: () => { path: string; headers: Record<string, string> },
  outputDir: string,
): Promise<ProcessCount> {
  const prefix = join(outputDir, app);
  const server = await startServerProcess(options, callgrindWrapper(prefix));
  try {
    const url = server.urls[app]!;
    const load = async (amount: number) => {
      const result = await runLoad({
        url,
        connections: SETTINGS.connections,
        amount,
        nextRequest: next,
        requestsPerConnection: 500,
      });
      assertClean(`instructions: ${app}`, result);
      return result.requests;
    };
    await load(SETTINGS.warmup);
    await server.quiesce();
    // The collection may have dropped compiled code and inline caches: warm up again, uncounted.
    await load(SETTINGS.rewarm);
    let requests = 0;
    const counts: ThreadCounts = await count(server.pid, prefix, SLOW_PATHS, async () => {
      requests = await load(SETTINGS.counted);
    });
    const slowPaths = Object.fromEntries(
      Object.entries(counts.calls).map(([name, calls]) => [name, calls / requests]),
    );
    return { app, perRequest: counts.instructions / requests, slowPaths };
  } finally {
    await server.stop();
  }
}

function report(counts: ProcessCount[], database: string): string {
  const machine = describeMachine();
  const of = (app: App) => counts.filter((c) => c.app === app).map((c) => c.perRequest);
  const bare = median(of('bare'));
  const platform = median(of('platform'));
  const rows = counts.map((c, i) => [
    c.app === 'platform' ? 'platform' : 'bare Fastify',
    String((i % SETTINGS.processes) + 1),
    formatNumber(c.perRequest),
    ...SLOW_PATHS.map((name) => formatNumber(c.slowPaths[name] ?? 0, 1)),
  ]);
  return `## Instructions per request (\`npm run bench -- instructions\`)

Run ${new Date().toISOString().slice(0, 10)} on ${machineLine(machine)}; ${database};
${codeVersion()}.

**What is counted.** The partners route of \`partners-get\` (one tenant, ${formatNumber(SETTINGS.partners)}
partners, ${SETTINGS.keys} keys, PostgreSQL), each app in a server process of its own run under
\`valgrind --tool=callgrind\`. Counting is off for the first ${formatNumber(SETTINGS.warmup)} requests
(every key cached, and kept cached for the whole run with \`KEY_CACHE_TTL_SECONDS=3600\`: under
valgrind the default 60 s would expire every key while the counted requests run; the hot code
compiled); then the process stops its timers and background work
after one last flush, so batch writes and polling, which valgrind's slowdown would put on 30 to 50
times fewer requests than in real time, are not counted, and collects all garbage, so each count
starts from a heap in the same state; then ${formatNumber(SETTINGS.rewarm)} more requests, uncounted,
let the code settle again after the collection; then ${formatNumber(SETTINGS.counted)}
requests over ${SETTINGS.connections} keep-alive connections from autocannon, outside valgrind, are.
The figure is the server's main thread's instructions per request, which other load on the machine
does not change, so it tells changes of a few per cent apart where timing runs cannot. The other
columns count calls per request of V8's slow paths (\`Runtime_…\` and \`Builtins_CloneObjectIC_Slow\`):
trips from compiled code into V8's runtime. None of them is in the platform's own code, and a process
that hits them runs many more instructions (see the Findings).

${markdownTable(
  [
    'App',
    'Process',
    'Instructions per request',
    ...SLOW_PATHS.map((name) => `\`${name.replace(/^(Runtime|Builtins)_/, '')}\``),
  ],
  rows,
  ['left', 'right', 'right', ...SLOW_PATHS.map(() => 'right' as const)],
)}

Medians: bare Fastify ${formatNumber(bare)}, platform ${formatNumber(platform)}: the platform runs
**${formatNumber(platform - bare)} instructions per request more (${formatNumber(((platform - bare) / bare) * 100, 1)} %)**.
`;
}

export const instructionsSuite: Suite = {
  name: 'instructions',
  async run() {
    if (!callgrindAvailable()) {
      throw new Error('instructions: valgrind and callgrind_control are needed (apt-get install valgrind)');
    }
    if (!(await postgresReachable())) throw new Error('instructions: PostgreSQL did not answer');
    const database = await createBenchDatabase('postgres');
    const outputDir = await mkdtemp(join(tmpdir(), 'partnerline-callgrind-'));
    try {
      const seeded = await withServices(database, async (services) => {
        const tenant = await seedTenant(services, {
          slug: 'bench',
          plan: SETTINGS.plan,
          keys: SETTINGS.keys,
          scopes: ['partners:read'],
        });
        const ids = await seedPartners(services.db, tenant.tenantId, SETTINGS.partners);
        return { tenant, ids, version: await databaseVersion(services.database) };
      });
      const { tenant, ids } = seeded;
      const next = partnerRequestMaker(tenant, ids);
      // Keys stay cached for the whole run. Under valgrind a server handles 30 to 50 times fewer
      // requests per second, so the default 60 s would expire every key during the counted
      // requests, several times on a slow machine, and count key lookups a real server at this
      // load makes that many times less often.
      const env = { ...benchEnv(database), KEY_CACHE_TTL_SECONDS: '3600' };
      const options: Record<App, ServeOptions> = {
        platform: { env },
        bare: { env, platform: false, bare: { module: BARE_MODULE, options: { tenantId: tenant.tenantId } } },
      };
      const counts: ProcessCount[] = [];
      for (const app of ['bare', 'platform'] as const) {
        for (let i = 0; i < SETTINGS.processes; i++) {
          const counted = await countProcess(app, options[app], next, outputDir);
          log(`instructions: ${app} process ${i + 1}: ${formatNumber(counted.perRequest)} per request`);
          counts.push(counted);
        }
      }
      return report(counts, seeded.version);
    } finally {
      await rm(outputDir, { recursive: true, force: true });
      await database.drop();
    }
  },
};
