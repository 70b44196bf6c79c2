/**
 * `npm run bench -- webhooks`: outgoing webhooks on PostgreSQL. A receiver on loopback, one and
 * then two `partnerline worker` processes, and partners created through the domain function (so
 * each change writes its outbox row in its own transaction, as an API request would). Measures
 * deliveries per second from a full outbox, and the delay from a change's commit to its receipt
 * at a steady rate of changes.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { partnersModule } from '../apps/server/src/modules/partners/index.ts';
import { createPartner } from '../apps/server/src/modules/partners/service.ts';
import { closeServices, createServices } from '../apps/server/src/platform/boot.ts';
import { loadConfig } from '../apps/server/src/platform/config.ts';
import type { Services } from '../apps/server/src/platform/services.ts';
import { createEndpoint } from '../apps/server/src/platform/webhooks/endpoints.ts';
import { registerWebhookEventSchemas } from '../apps/server/src/platform/webhooks/event-types.ts';
import { BENCH_DATABASE_URL, createBenchDatabase, postgresReachable } from './lib/databases.ts';
import { codeVersion, describeMachine, machineLine } from './lib/machine.ts';
import { formatNumber, markdownTable } from './lib/markdown.ts';
import { benchEnv, databaseVersion, seedTenant } from './lib/seed.ts';
import { log, type Suite, setting } from './lib/suite.ts';

const BIN = fileURLToPath(new URL('../apps/server/bin/partnerline.js', import.meta.url));
/** Messages queued before the workers start, for the throughput run. */
const BURST = setting('BENCH_WEBHOOK_BURST', 5_000);
/** Changes per second and seconds of the latency run. */
const RATE = setting('BENCH_WEBHOOK_RATE', 100);
const SECONDS = setting('BENCH_WEBHOOK_SECONDS', 10);
const TARGET_PER_WORKER = 500;
const TARGET_P50_MS = 250;

interface Receiver {
  url: string;
  /** Receipt time (performance.now) by partner id. */
  received: Map<string, number>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      const id = (JSON.parse(Buffer.concat(chunks).toString()) as { data: { id: string } }).data.id;
      if (!received.has(id)) received.set(id, at);
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Worker {
  stop(): Promise<void>;
}

async function startWorker(env: Record<string, string>): Promise<Worker> {
  const child = spawn(process.execPath, [BIN, 'worker'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('dispatching webhooks')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${output}`)));
  });
  return {
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('webhook benchmark: deliveries did not arrive in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

interface RunResult {
  workers: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  latencyCount: number;
}

async function measure(
  services: Services,
  ctxBase: { tenantId: string },
  receiver: Receiver,
  workerEnv: Record<string, string>,
  workers: number,
): Promise<RunResult> {
  const ctx = () => ({
    db: services.db,
    tenantId: ctxBase.tenantId,
    actor: { type: 'admin' as const },
    now: new Date(),
  });
  let counter = 0;
  const newPartner = () => {
    counter += 1;
    return createPartner(ctx(), { email: `w${workers}-${counter}-${Date.now()}@bench.example` });
  };
  // Throughput: the outbox is filled first, then the workers drain it.
  log(`webhooks: ${workers} worker(s): queueing ${BURST} changes`);
  const burst: string[] = [];
  for (let i = 0; i < BURST; i += 50) {
    const created = await Promise.all(Array.from({ length: Math.min(50, BURST - i) }, newPartner));
    burst.push(...created.map((p) => p.id));
  }
  const running = await Promise.all(Array.from({ length: workers }, () => startWorker(workerEnv)));
  try {
    await waitUntil(() => burst.every((id) => receiver.received.has(id)), 300_000);
    const times = burst.map((id) => receiver.received.get(id) as number).sort((a, b) => a - b);
    const spanMs = (times.at(-1) as number) - (times[0] as number);
    const perSecond = ((burst.length - 1) / spanMs) * 1000;
    log(`webhooks: ${workers} worker(s): ${perSecond.toFixed(0)} deliveries/s`);

    // Latency: changes at a steady rate, each timed from its commit to its receipt.
    const committed = new Map<string, number>();
    const interval = 1000 / RATE;
    const started = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < RATE * SECONDS; i++) {
      const due = started + i * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      pending.push(
        newPartner().then((partner) => {
          committed.set(partner.id, performance.now());
        }),
      );
    }
    await Promise.all(pending);
    await waitUntil(() => [...committed.keys()].every((id) => receiver.received.has(id)), 60_000);
    const delays = [...committed]
      .map(([id, at]) => (receiver.received.get(id) as number) - at)
      .sort((a, b) => a - b);
    return {
      workers,
      perSecond,
      p50: percentile(delays, 50),
      p99: percentile(delays, 99),
      max: delays.at(-1) ?? Number.NaN,
      latencyCount: delays.length,
    };
  } finally {
    await Promise.all(running.map((w) => w.stop()));
  }
}

async function run(): Promise<string> {
  const heading = '## Webhook delivery (`npm run bench -- webhooks`)';
  if (!(await postgresReachable())) {
    return `${heading}\n\nNot run: it needs PostgreSQL, and ${new URL(BENCH_DATABASE_URL).host} did not answer.`;
  }
  const database = await createBenchDatabase('postgres');
  const receiver = await startReceiver();
  const results: RunResult[] = [];
  let version = '';
  const load: number[] = [];
  try {
    const env = { ...benchEnv(database), WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true', WEBHOOK_ALLOW_HTTP: 'true' };
    const services = await createServices(loadConfig({ ...env, WEBHOOK_DISPATCH: 'off' }));
    try {
      if (partnersModule.webhookEvents) registerWebhookEventSchemas(partnersModule.webhookEvents);
      version = await databaseVersion(services.database);
      const tenant = await seedTenant(services, {
        slug: 'bench-webhooks',
        plan: 'enterprise',
        keys: 1,
        scopes: ['admin'],
      });
      await createEndpoint(
        { db: services.db, tenantId: tenant.tenantId, actor: { type: 'admin' }, now: new Date() },
        { url: receiver.url, eventTypes: ['partner.created'] },
        services.config.webhooks,
      );
      load.push(loadavg()[0] ?? 0);
      for (const workers of [1, 2]) {
        results.push(await measure(services, tenant, receiver, env, workers));
      }
      load.push(loadavg()[0] ?? 0);
    } finally {
      await closeServices(services);
    }
  } finally {
    await receiver.close();
    await database.drop();
  }
  const rows = results.map((r) => [
    String(r.workers),
    formatNumber(r.perSecond),
    formatNumber(r.perSecond / r.workers),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    r.max.toFixed(1),
  ]);
  const verdicts = [
    `- Throughput target ≥ ${TARGET_PER_WORKER} deliveries/s per worker: ${results.map((r) => `${r.perSecond / r.workers >= TARGET_PER_WORKER ? 'met' : 'missed'} with ${r.workers} (${formatNumber(r.perSecond / r.workers)}/s per worker)`).join(', ')}.`,
    `- Latency target p50 < ${TARGET_P50_MS} ms: ${results.every((r) => r.p50 < TARGET_P50_MS) ? 'met' : 'missed'} (${results.map((r) => `${r.p50.toFixed(0)} ms with ${r.workers}`).join(', ')}).`,
  ];
  return [
    heading,
    '',
    `${machineLine(describeMachine())}; ${version}; ${codeVersion()}; load average ${load.map((l) => l.toFixed(2)).join(' → ')}.`,
    '',
    `Everything on this one machine: PostgreSQL, the receiver (Node.js http, answers 204 at once, in the benchmark process), the benchmark process creating partners through \`createPartner\` (one transaction and one outbox row each), and the \`partnerline worker\` processes (default settings: ${'`WEBHOOK_CONCURRENCY=64`, `WEBHOOK_ENDPOINT_CONCURRENCY=10`'}, one endpoint). **Deliveries/s**: ${formatNumber(BURST)} \`partner.created\` changes are committed first, then the workers start; rate from the first to the last receipt (fan-out, claim, signed POST, attempt recorded). **Latency**: ${formatNumber(RATE)} changes/s for ${SECONDS} s with the workers running, from each change's commit to its receipt (workers are woken by PostgreSQL NOTIFY from the outbox insert).`,
    '',
    markdownTable(
      ['workers', 'deliveries/s', 'per worker', 'p50 ms', 'p99 ms', 'max ms'],
      rows,
      Array<'right'>(6).fill('right'),
    ),
    '',
    ...verdicts,
    '- The machine has 2 cores shared by PostgreSQL, the receiver, the producer and the workers, so a second worker competes with all of them for CPU; on hosts of their own, workers add throughput until PostgreSQL is the limit.',
  ].join('\n');
}

export const webhooksSuite: Suite = { name: 'webhooks', run };
