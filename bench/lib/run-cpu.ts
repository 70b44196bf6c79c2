import { ForeignCpuMeter, processTicks } from './cpu-share.ts';
import type { BenchDatabase } from './databases.ts';
import type { ServerProcess } from './server-process.ts';

/** Where the CPU time of one load run went, per request. */
export interface RunCpu {
  /** User + system CPU time of the server process, µs (PGlite's work included: it runs in-process). */
  serverCpuUs: number;
  /** Of the server's PostgreSQL sessions, µs; undefined on PGlite. */
  databaseCpuUs: number | undefined;
  /** Share of the machine's CPU that other processes used during the run (Linux only). */
  foreignCpu: number | undefined;
}

/** Linux clock ticks (USER_HZ) in µs. */
const TICK_US = 10_000;

/**
 * Runs one load and adds the CPU time the server and its database sessions spent on it per request.
 * Sessions opened during the run count in full; a session that closed during it (an idle pool
 * connection timing out) is left out, and so are parallel-query workers.
 */
export async function withRunCpu<T extends { requests: number }>(
  database: BenchDatabase,
  server: ServerProcess,
  run: () => Promise<T>,
): Promise<T & RunCpu> {
  const backendsBefore = await database.backendPids();
  const ticksBefore = new Map(backendsBefore.map((pid) => [pid, processTicks(pid)]));
  const meter = new ForeignCpuMeter([process.pid, server.pid, ...backendsBefore]);
  const cpuBefore = await server.cpuMicros();
  meter.begin();
  const result = await run();
  const foreignCpu = meter.end();
  const serverCpu = (await server.cpuMicros()) - cpuBefore;
  const backendsAfter = await database.backendPids();
  const databaseTicks = backendsAfter.reduce(
    (sum, pid) => sum + processTicks(pid) - (ticksBefore.get(pid) ?? 0),
    0,
  );
  return {
    ...result,
    serverCpuUs: serverCpu / result.requests,
    databaseCpuUs: database.kind === 'postgres' ? (databaseTicks * TICK_US) / result.requests : undefined,
    foreignCpu,
  };
}
