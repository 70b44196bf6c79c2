import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, onPostgres } from './database.ts';
import type { TestServer } from './server.ts';

/** apps/server: where `npm start` runs the server and the migrations live. */
export const SERVER_DIR = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The environment of a child process: only what node needs plus `extra`, so the suite's own
 * DATABASE_URL or ADMIN_API_KEY never leak into a child that should not see them.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { PATH, HOME, TMPDIR } = process.env;
  return { ...(PATH ? { PATH } : {}), ...(HOME ? { HOME } : {}), ...(TMPDIR ? { TMPDIR } : {}), ...extra };
}

/** A live API key as a server prints it (its first admin key, say). */
export const PRINTED_KEY = /plk_live_[0-9a-z]{26}_[0-9A-Za-z]{36}/;

/** A server process as the HTTP helpers address it. */
export const asTarget = (server: ServerProcess) => ({ url: server.url }) as TestServer;

/**
 * A fresh database for child processes: a new PostgreSQL database when the suite runs on
 * PostgreSQL, else an empty PGlite DATA_DIR; `env` names it, `remove` drops it.
 */
export async function childDatabase(
  prefix: string,
): Promise<{ env: Record<string, string>; remove(): Promise<void> }> {
  if (onPostgres) {
    const testDb = await createTestDatabase();
    await testDb.database.close();
    return { env: { DATABASE_URL: testDb.url as string }, remove: testDb.drop };
  }
  const dir = await tempDir(prefix);
  return { env: { DATA_DIR: dir.path }, remove: dir.remove };
}

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  finished: Promise<Finished>;
  /** Resolves once stdout + stderr match `pattern`; rejects if the process exits first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

export function startProcess(args: string[], env: NodeJS.ProcessEnv): RunningProcess {
  const child = spawn(process.execPath, args, { cwd: SERVER_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const finished = new Promise<Finished>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  let exited = false;
  void finished.then(() => {
    exited = true;
  });
  const waitForOutput = async (pattern: RegExp, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(stdout + stderr)) {
      if (exited) throw new Error(`process exited before printing ${pattern}:\n${stdout}\n${stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${stdout}\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return { child, stdout: () => stdout, stderr: () => stderr, finished, waitForOutput };
}

/** Runs `partnerline <args>` through its bin script and waits for it to exit. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<Finished> {
  return startProcess(['bin/partnerline.js', ...args], env).finished;
}

export interface ServerProcess extends RunningProcess {
  url: string;
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<Finished>;
}

/** Starts `node --import tsx src/main.ts` on a free port and waits until /health answers. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const port = await freePort();
  const running = startProcess(
    ['--import', 'tsx', 'src/main.ts'],
    childEnv({ HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  let exited = false;
  void running.finished.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`server exited during startup:\n${running.stdout()}\n${running.stderr()}`);
    if (Date.now() > deadline) {
      running.child.kill('SIGKILL');
      throw new Error(`server did not become healthy:\n${running.stdout()}\n${running.stderr()}`);
    }
    const healthy = await fetch(`${url}/health`).then(
      (response) => response.ok,
      () => false,
    );
    if (healthy) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    ...running,
    url,
    stop: () => {
      if (!exited) running.child.kill('SIGTERM');
      return running.finished;
    },
  };
}
