import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InjectRequest } from './inject.ts';
import type { ServeOptions } from './serve.ts';

const SERVE = fileURLToPath(new URL('./serve.ts', import.meta.url));

export interface ServerProcess {
  pid: number;
  /** Base URL of each app the process serves: `platform`, and `bare` and named apps when asked for. */
  urls: Record<string, string>;
  /** CPU time the server process has used so far, user plus system, in µs. */
  cpuMicros(): Promise<number>;
  /**
   * Sends the requests to one of the process's apps through `app.inject`, `concurrency` at a time,
   * and returns the CPU time the server process spent per request, µs (see injectCost).
   */
  injectCost(app: string, requests: InjectRequest[], concurrency: number): Promise<number>;
  /**
   * Stops the process's timers and background work (flushes, jobs, the webhook dispatcher) after
   * one last flush, so that what runs afterwards is request handling alone (requests are still
   * metered, into memory), then collects all garbage.
   */
  quiesce(): Promise<void>;
  stop(): Promise<void>;
}

/** A program the server process runs under, e.g. valgrind with its options; Node.js is its last word. */
export interface Wrapper {
  command: string;
  args: string[];
}

/**
 * Starts serve.ts in its own Node.js process, so the load generator never shares an event loop with
 * the server. BENCH_CPU_PROF=1 writes a V8 CPU profile of each server process on stop, into
 * BENCH_CPU_PROF_DIR (default: partnerline-bench-profiles in the system's temp directory).
 */
export async function startServerProcess(options: ServeOptions, wrapper?: Wrapper): Promise<ServerProcess> {
  const execArgv = [...process.execArgv];
  if (process.env.BENCH_CPU_PROF === '1') {
    const dir = process.env.BENCH_CPU_PROF_DIR ?? join(tmpdir(), 'partnerline-bench-profiles');
    mkdirSync(dir, { recursive: true });
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  const child: ChildProcess = fork(SERVE, [JSON.stringify(options)], {
    stdio: 'inherit',
    ...(wrapper
      ? { execPath: wrapper.command, execArgv: [...wrapper.args, process.execPath, ...execArgv] }
      : { execArgv }),
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const urls = await new Promise<Record<string, string>>((resolve, reject) => {
    child.once('message', (message: { type?: string; urls?: Record<string, string> }) => {
      if (message.type === 'ready' && message.urls) resolve(message.urls);
      else reject(new Error(`unexpected message from the benchmark server: ${JSON.stringify(message)}`));
    });
    void exited.then((code) => reject(new Error(`the benchmark server exited early (code ${code})`)));
  });
  /** Sends one request over IPC and resolves with the answer of the same type. */
  const ask = <T>(request: { type: string; [field: string]: unknown }): Promise<T & { error?: string }> =>
    new Promise((resolve) => {
      const onMessage = (message: T & { type?: string; error?: string }) => {
        if (message.type !== request.type) return;
        child.off('message', onMessage);
        resolve(message);
      };
      child.on('message', onMessage);
      child.send(request);
    });
  return {
    pid: child.pid!,
    urls,
    cpuMicros: async () => {
      const { usage } = await ask<{ usage: NodeJS.CpuUsage }>({ type: 'cpu-usage' });
      return usage.user + usage.system;
    },
    injectCost: async (app, requests, concurrency) => {
      const answer = await ask<{ cpuUs: number }>({ type: 'inject', app, requests, concurrency });
      if (answer.error !== undefined) throw new Error(`inject on ${app}: ${answer.error}`);
      return answer.cpuUs;
    },
    quiesce: async () => {
      const answer = await ask<{ type: string }>({ type: 'quiesce' });
      if (answer.error !== undefined) throw new Error(`quiesce: ${answer.error}`);
    },
    stop: async () => {
      if (child.exitCode === null) child.send({ type: 'stop' });
      // Under a wrapper such as valgrind, shutting down takes far longer.
      const timer = setTimeout(() => child.kill('SIGKILL'), wrapper ? 120_000 : 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
