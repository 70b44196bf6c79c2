import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServeOptions } from './serve.ts';

const SERVE = fileURLToPath(new URL('./serve.ts', import.meta.url));

export interface ServerProcess {
  pid: number;
  /** Base URL of each app the process serves: `platform`, and `bare` and named apps when asked for. */
  urls: Record<string, string>;
  /** CPU time the server process has used so far, user plus system, in µs. */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts serve.ts in its own Node.js process, so the load generator never shares an event loop with
 * the server. BENCH_CPU_PROF=1 writes a V8 CPU profile of each server process on stop, into
 * BENCH_CPU_PROF_DIR (default: partnerline-bench-profiles in the system's temp directory).
 */
export async function startServerProcess(options: ServeOptions): Promise<ServerProcess> {
  const execArgv = [...process.execArgv];
  if (process.env.BENCH_CPU_PROF === '1') {
    const dir = process.env.BENCH_CPU_PROF_DIR ?? join(tmpdir(), 'partnerline-bench-profiles');
    mkdirSync(dir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  const child: ChildProcess = fork(SERVE, [JSON.stringify(options)], { execArgv, stdio: 'inherit' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const urls = await new Promise<Record<string, string>>((resolve, reject) => {
    child.once('message', (message: { type?: string; urls?: Record<string, string> }) => {
      if (message.type === 'ready' && message.urls) resolve(message.urls);
      else reject(new Error(`unexpected message from the benchmark server: ${JSON.stringify(message)}`));
    });
    void exited.then((code) => reject(new Error(`the benchmark server exited early (code ${code})`)));
  });
  return {
    pid: child.pid!,
    urls,
    cpuMicros: () =>
      new Promise((resolve) => {
        const onMessage = (message: { type?: string; usage?: NodeJS.CpuUsage }) => {
          if (message.type !== 'cpu-usage' || !message.usage) return;
          child.off('message', onMessage);
          resolve(message.usage.user + message.usage.system);
        };
        child.on('message', onMessage);
        child.send({ type: 'cpu-usage' });
      }),
    stop: async () => {
      if (child.exitCode === null) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
