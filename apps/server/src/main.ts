import { existsSync } from 'node:fs';
import { buildApp } from './app.ts';
import { closeServices, createServices } from './platform/boot.ts';
import { ConfigError, loadConfig } from './platform/config.ts';
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

const config = configOrExit();
const services = await createServices(config);
const first = await bootstrapFirstTenant(services);
const app = await buildApp(services).catch(async (error: unknown) => {
  // Settings checked against the built routes (RATE_LIMIT_ROUTES) fail here, as one line too.
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`partnerline: configuration error: ${error.message}\n`);
  await closeServices(services);
  process.exit(1);
});

if (first) {
  process.stdout.write(
    [
      '',
      `Created tenant "${first.slug}" and its first admin API key (shown only this once):`,
      '',
      `  ${first.key}`,
      '',
      'Store it in your secrets manager or .env now, then use it as `X-API-Key` or `Authorization: Bearer`;',
      'create narrower keys with POST /api/v1/api-keys and revoke this one when you no longer need it.',
      '',
    ].join('\n'),
  );
}

await app.listen({ port: config.port, host: config.host });

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  app.log.info({ signal }, 'shutting down: finishing in-flight requests');
  try {
    await app.close();
    await closeServices(services);
    process.exit(0);
  } catch (error) {
    app.log.error({ err: error }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
