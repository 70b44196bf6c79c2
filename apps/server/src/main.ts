import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import pg from 'pg';
import { buildApp } from './app.ts';
import { closeServices, createServices, unwrittenAtStop } from './platform/boot.ts';
import { ConfigError, loadConfig } from './platform/config.ts';
import { DataDirInUseError } from './platform/db/data-dir-lock.ts';
import { MigrationError } from './platform/db/migrate.ts';
import { bootstrapFirstTenant } from './platform/tenants/bootstrap.ts';

if (existsSync('.env')) process.loadEnvFile('.env');

// The server is configured by environment variables alone; commands belong to the CLI.
if (process.argv.length > 2) {
  process.stderr.write(
    `partnerline: the server takes no arguments (got ${JSON.stringify(process.argv.slice(2).join(' '))}); ` +
      'run commands such as `worker` or `migrate` with `npx partnerline <command>` (see `npx partnerline --help`)\n',
  );
  process.exit(2);
}

function configOrExit() {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`partnerline: configuration error: ${error.message}\n`);
    process.exit(1);
  }
}

/** Errors of the machine or the network at start, as opposed to faults of the code. */
const OPERATIONAL_CODES = new Set([
  'EADDRINUSE',
  'EADDRNOTAVAIL',
  'EACCES',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

const UNANSWERED_DATABASE = [
  'Connection terminated due to connection timeout',
  'Connection terminated unexpectedly',
  'timeout exceeded when trying to connect',
];

/**
 * What stopped the start, as one line, when it is something the operator can fix (a setting, a
 * busy port or data directory, a database that cannot be reached or refuses us); undefined for a
 * fault of the code, which keeps its stack.
 */
function startupProblem(error: unknown): string | undefined {
  if (error instanceof ConfigError) return `configuration error: ${error.message}`;
  if (error instanceof DataDirInUseError) return error.message;
  if (error instanceof MigrationError) return error.message;
  if (error instanceof pg.DatabaseError) return `the database refused to start the server: ${error.message}`;
  const { code, message } = error as { code?: unknown; message?: unknown };
  // pg and pg-pool report a server that accepts connections but never answers without a code.
  if (typeof message === 'string' && UNANSWERED_DATABASE.some((text) => message.startsWith(text))) {
    return `the database did not answer: ${message}`;
  }
  if (typeof code !== 'string' || !OPERATIONAL_CODES.has(code)) return undefined;
  // node-postgres reports a refused connection as an AggregateError without a message.
  return typeof message === 'string' && message !== '' ? message : code;
}

async function startOrExit<T>(
  what: string,
  step: () => Promise<T>,
  cleanUp?: () => Promise<void>,
): Promise<T> {
  try {
    return await step();
  } catch (error) {
    const problem = startupProblem(error);
    if (problem === undefined) throw error;
    process.stderr.write(`partnerline: cannot ${what}: ${problem}\n`);
    await cleanUp?.().catch(() => {});
    process.exit(1);
  }
}

/**
 * Binds HOST:PORT once and lets it go again: an address that is not this machine's, a port in use
 * or not ours to take fails here, before the first tenant's key is printed for a server that never
 * ran. The listener itself comes after the key, so a client that sees the server up has it shown.
 */
async function checkListenAddress(host: string, port: number): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ host, port }, resolve);
  });
  await new Promise((resolve) => probe.close(resolve));
}

const config = configOrExit();
const listenWhat = `listen on ${config.host}:${config.port} (set HOST and PORT)`;
const services = await startOrExit('open the database', () => createServices(config));
const stopServices = () => closeServices(services);
// Settings checked against the built routes (RATE_LIMIT_ROUTES) fail here, as one line too. Before
// the first tenant is made: a start that fails on them must not leave a key nobody was shown.
const app = await startOrExit('start', () => buildApp(services), stopServices);
const stopAll = async () => {
  await app.close();
  await stopServices();
};
await startOrExit(listenWhat, () => checkListenAddress(config.host, config.port), stopAll);
const first = await startOrExit('create the first tenant', () => bootstrapFirstTenant(services), stopAll);

// Shown as soon as it exists, so that a start failing later (the port taken since the check) has
// shown it all the same: it is stored, and the next start serves it.
if (first) {
  process.stdout.write(
    [
      '',
      `Created tenant "${first.slug}" and its first admin API key (shown only this once):`,
      '',
      `  ${first.key}`,
      '',
      'Store it in your secrets manager now (only its hash is kept), then use it in your API clients as `X-API-Key` or `Authorization: Bearer`;',
      'create narrower keys with POST /api/v1/api-keys and revoke this one when you no longer need it.',
      '',
    ].join('\n'),
  );
}

await startOrExit(listenWhat, () => app.listen({ port: config.port, host: config.host }), stopAll);

/**
 * How long a shutdown lets the clients of open keep-alive connections learn that the server goes
 * away (a request gets 503 and `Connection: close`) before the connections still idle are closed.
 */
const DRAIN_MS = 1_000;

/** Resolves once no connection is open, or after DRAIN_MS. */
async function drained(server: Server): Promise<void> {
  const deadline = Date.now() + DRAIN_MS;
  while (Date.now() < deadline) {
    const open = await new Promise<number>((resolve) =>
      server.getConnections((error, count) => resolve(error ? 0 : count)),
    );
    if (open === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  app.log.info({ signal }, 'shutting down: finishing in-flight requests');
  try {
    app.stopAccepting();
    await drained(app.server);
    await app.close();
    await closeServices(services);
    const lost = unwrittenAtStop(services);
    if (Object.keys(lost).length > 0) {
      app.log.error(lost, 'stopped while the database did not take these; they are lost');
      process.exit(1);
    }
    process.exit(0);
  } catch (error) {
    app.log.error({ err: error }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
