import { closeServices, createServices } from '../../apps/server/src/platform/boot.ts';
import { loadConfig } from '../../apps/server/src/platform/config.ts';
import type { Services } from '../../apps/server/src/platform/services.ts';
import type { BenchDatabase } from './databases.ts';
import { benchEnv } from './seed.ts';
import { type ServerProcess, startServerProcess } from './server-process.ts';

/** The platform's services on the benchmark database, in this process, for the length of `fn`. */
export async function withServices<T>(
  database: BenchDatabase,
  fn: (services: Services) => Promise<T>,
): Promise<T> {
  const services = await createServices(loadConfig(benchEnv(database)));
  try {
    return await fn(services);
  } finally {
    // PGlite's files belong to one process at a time: a server process may open them next.
    await closeServices(services);
  }
}

/** A benchmark server process on the database, for the length of `fn`. */
export async function withServer<T>(
  database: BenchDatabase,
  fn: (server: ServerProcess) => Promise<T>,
): Promise<T> {
  const server = await startServerProcess({ env: benchEnv(database) });
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}
