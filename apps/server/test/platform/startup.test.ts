import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  asTarget,
  childEnv,
  freePort,
  PRINTED_KEY,
  SERVER_DIR,
  type ServerProcess,
  startProcess,
  startServerProcess,
  tempDir,
} from '../helpers/child-process.ts';
import { call } from '../helpers/http.ts';

// These run the real `npm start` entry point, which uses PGlite in DATA_DIR in both test modes.
const SLUG = 'startup-acme';

// Each test starts a server process, which takes seconds on a busy machine: more than the default 30 s.
vi.setConfig({ testTimeout: 120_000 });

let dataDir: Awaited<ReturnType<typeof tempDir>>;
let server: ServerProcess | undefined;
let adminKey: string;

beforeAll(async () => {
  dataDir = await tempDir('partnerline-startup');
});
afterAll(async () => {
  if (server) await server.stop();
  await dataDir.remove();
});

/** A POST whose body is sent in two parts, so the request is in flight between them. */
function slowPost(url: string, path: string, key: string, parts: [string, string]) {
  const { hostname, port } = new URL(url);
  const req = request({
    hostname,
    port,
    path,
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
  req.write(parts[0]);
  return { finish: () => req.end(parts[1]), response };
}

describe('first start on an empty DATA_DIR', () => {
  it('creates the DEFAULT_TENANT_SLUG tenant and prints its admin key once', async () => {
    server = await startServerProcess({ DATA_DIR: dataDir.path, DEFAULT_TENANT_SLUG: SLUG });
    const printed = server.stdout().match(new RegExp(PRINTED_KEY, 'g')) ?? [];
    expect(printed).toHaveLength(1);
    expect(server.stdout()).toContain(`Created tenant "${SLUG}"`);
    expect(server.stdout()).toMatch(/shown only this once/);
    adminKey = printed[0] as string;

    const me = await call(asTarget(server), 'GET', '/api/v1/me', { key: adminKey });
    expect(me.status).toBe(200);
    expect(me.body.data).toMatchObject({ scopes: ['admin'], tenant: { slug: SLUG } });
  });

  it('finishes a request in flight on SIGTERM, then exits 0', async () => {
    const running = server as ServerProcess;
    const post = slowPost(running.url, '/api/v1/partners', adminKey, [
      '{"email":"inflight',
      '@example.com","name":"In Flight"}',
    ]);
    // The server has received the request once it has logged it; its body is still incomplete.
    await running.waitForOutput(/"url":"\/api\/v1\/partners"/);
    // Another request whose headers are not complete yet when the shutdown begins.
    const late = connect(Number(new URL(running.url).port), '127.0.0.1');
    let lateAnswer = '';
    late.on('data', (chunk: Buffer) => {
      lateAnswer += chunk.toString();
    });
    const lateClosed = new Promise((resolve) => late.once('close', resolve));
    await new Promise((resolve) => late.once('connect', resolve));
    late.write('GET /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await new Promise((resolve) => setTimeout(resolve, 200));
    running.child.kill('SIGTERM');
    await running.waitForOutput(/shutting down/);
    late.write(`X-API-Key: ${adminKey}\r\n\r\n`);
    await lateClosed;
    // It gets a problem like every other error, with a request id, and is told to come back.
    const [head, body] = lateAnswer.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 503/);
    expect(head).toMatch(/content-type: application\/problem\+json/i);
    expect(head).toMatch(/x-request-id: req_/i);
    expect(head).toMatch(/retry-after: 1/i);
    expect(JSON.parse(body as string)).toMatchObject({ status: 503, code: 'service_unavailable' });
    post.finish();
    const response = await post.response;
    expect(response.status).toBe(201);
    expect(JSON.parse(response.body).data).toMatchObject({ email: 'inflight@example.com' });
    const exit = await running.finished;
    expect(exit.code).toBe(0);
    server = undefined;
  });
});

describe('shutdown under keep-alive load', () => {
  it('resets no connection: requests on open connections get 503, then the listener is gone', async () => {
    const dir = await tempDir('partnerline-drain');
    const running = await startServerProcess({ DATA_DIR: dir.path });
    const { hostname, port } = new URL(running.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const outcomes = new Map<string, number>();
    const count = (outcome: string) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    const get = () =>
      new Promise<string>((resolve) => {
        const req = request({ hostname, port, path: '/health', agent }, (res) => {
          res.resume();
          res.once('end', () => resolve(`status ${res.statusCode}`));
        });
        req.once('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code}`));
        req.end();
      });
    let stopped = false;
    const loop = async () => {
      while (!stopped) {
        const outcome = await get();
        count(outcome);
        if (outcome === 'error ECONNREFUSED') return;
      }
    };
    try {
      const loops = Array.from({ length: 4 }, loop);
      await new Promise((resolve) => setTimeout(resolve, 500));
      running.child.kill('SIGTERM');
      const exit = await running.finished;
      stopped = true;
      await Promise.all(loops);
      expect(exit.code).toBe(0);
      const seen = Object.fromEntries(outcomes);
      expect(Object.keys(seen).sort(), JSON.stringify(seen)).toEqual(
        ['error ECONNREFUSED', 'status 200', 'status 503'].filter((key) => key in seen),
      );
      expect(seen['status 503'], JSON.stringify(seen)).toBeGreaterThan(0);
    } finally {
      stopped = true;
      agent.destroy();
      await dir.remove();
    }
  });
});

describe('second start on the same DATA_DIR', () => {
  it('prints no key and serves the data of the first run', async () => {
    server = await startServerProcess({ DATA_DIR: dataDir.path, DEFAULT_TENANT_SLUG: 'other-slug' });
    expect(server.stdout()).not.toMatch(PRINTED_KEY);
    expect(server.stdout()).not.toContain('Created tenant');

    const me = await call(asTarget(server), 'GET', '/api/v1/me', { key: adminKey });
    expect(me.status).toBe(200);
    expect(me.body.data.tenant.slug).toBe(SLUG);
    const partners = await call(asTarget(server), 'GET', '/api/v1/partners', { key: adminKey });
    expect(partners.status).toBe(200);
    expect(partners.body.data.map((p: { email: string }) => p.email)).toContain('inflight@example.com');
  });

  it('while a server runs on it, a second one refuses to start, with one line, and changes nothing', async () => {
    const port = new URL((server as ServerProcess).url).port;
    const second = startProcess(
      ['--import', 'tsx', 'src/main.ts'],
      childEnv({ DATA_DIR: dataDir.path, PORT: String(Number(port) + 1) }),
    );
    const exit = await second.finished;
    expect(exit.code).toBe(1);
    const lines = exit.stderr.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/open in another process \(pid \d+/);
    const me = await call(asTarget(server as ServerProcess), 'GET', '/api/v1/me', { key: adminKey });
    expect(me.status).toBe(200);

    const stopped = await (server as ServerProcess).stop();
    server = undefined;
    expect(stopped.code).toBe(0);
    expect(existsSync(join(dataDir.path, 'partnerline.lock'))).toBe(false);
  });

  it('takes over the lock a process that died left behind', async () => {
    // No process has this pid: the largest Linux allows is 2^22.
    writeFileSync(join(dataDir.path, 'partnerline.lock'), '4194305');
    server = await startServerProcess({ DATA_DIR: dataDir.path });
    const me = await call(asTarget(server), 'GET', '/api/v1/me', { key: adminKey });
    expect(me.status).toBe(200);
    const exit = await server.stop();
    server = undefined;
    expect(exit.code).toBe(0);
  });
});

describe('two processes opening a DATA_DIR with a stale lock at the same instant', () => {
  it('exactly one of them takes it, round after round', async () => {
    const dir = await tempDir('partnerline-lock-race');
    const lock = join(dir.path, 'partnerline.lock');
    // Each process waits for the same instant, opens the lock, says which way it went and keeps
    // the lock (without releasing it) until it exits.
    const script = (at: number) =>
      `import { lockDataDir } from './src/platform/db/data-dir-lock.ts';
       while (Date.now() < ${at}) {}
       try { lockDataDir(${JSON.stringify(dir.path)}); console.log('locked'); }
       catch (error) { console.log('refused: ' + error.message); }
       setTimeout(() => {}, 300);`;
    try {
      for (let round = 0; round < 8; round++) {
        writeFileSync(lock, '4194305');
        const at = Date.now() + 1_500;
        const runs = [0, 1].map(() =>
          startProcess(['--import', 'tsx', '--input-type=module', '-e', script(at)], childEnv()),
        );
        const outputs = (await Promise.all(runs.map((run) => run.finished))).map((exit) =>
          exit.stdout.trim(),
        );
        expect(
          outputs.filter((output) => output === 'locked'),
          `round ${round}: ${outputs.join(' | ')}`,
        ).toHaveLength(1);
      }
    } finally {
      await dir.remove();
    }
  });
});

describe('what an operator can fix', () => {
  it.concurrent.each([
    [
      'a busy port',
      (busy: number, dir: string) => ({ DATA_DIR: dir, PORT: String(busy) }),
      /cannot listen on 127\.0\.0\.1:\d+.*EADDRINUSE/,
    ],
    [
      'an unreachable database',
      (busy: number) => ({ DATABASE_URL: `postgres://nobody@127.0.0.1:${busy + 1}/nothing` }),
      /cannot open the database: .*ECONNREFUSED/,
    ],
    [
      // The blocker accepts connections and never answers.
      'a database that never answers',
      (busy: number) => ({ DATABASE_URL: `postgres://nobody@127.0.0.1:${busy}/nothing` }),
      /cannot open the database: the database did not answer: /,
    ],
  ])('%s stops the start with one line', async (_, env, expected) => {
    const dir = await tempDir('partnerline-operator');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = (blocker.address() as AddressInfo).port;
    try {
      const exit = await startProcess(['--import', 'tsx', 'src/main.ts'], childEnv(env(busy, dir.path)))
        .finished;
      expect(exit.code).toBe(1);
      const lines = exit.stderr.split('\n').filter((line) => line !== '');
      expect(lines, exit.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(expected);
      // A server that never listened shows no first admin key: nobody could have used it.
      expect(exit.stdout).not.toMatch(PRINTED_KEY);
    } finally {
      blocker.close();
      await dir.remove();
    }
  });
});

describe('a first start that fails on its settings', () => {
  it('creates no tenant, so the next start still creates it and shows its key', async () => {
    const dir = await tempDir('partnerline-failed-first');
    try {
      const env = { DATA_DIR: dir.path, RATE_LIMIT_ROUTES: 'POST /no-such-route=1/60' };
      const failed = await startProcess(['--import', 'tsx', 'src/main.ts'], childEnv(env)).finished;
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/RATE_LIMIT_ROUTES names POST \/no-such-route/);
      expect(failed.stdout).not.toMatch(PRINTED_KEY);
      const next = await startServerProcess({ DATA_DIR: dir.path });
      try {
        expect(next.stdout()).toMatch(PRINTED_KEY);
      } finally {
        await next.stop();
      }
    } finally {
      await dir.remove();
    }
  });
});

describe('a DATA_DIR that cannot hold the database', () => {
  it.concurrent.each([
    ['a plain file', (dir: string) => join(dir, 'afile'), /DATA_DIR ".*\/afile" is not a directory$/],
    [
      'a path below a plain file',
      (dir: string) => join(dir, 'afile', 'data'),
      /DATA_DIR ".*\/afile\/data" cannot be created \(ENOTDIR: /,
    ],
    [
      // Node's own recursive mkdir retries this one forever: /proc exists, its child never can.
      'a path under /proc',
      () => '/proc/partnerline-data',
      /DATA_DIR "\/proc\/partnerline-data" cannot be created \(ENOENT: /,
    ],
    ['a device', () => '/dev/null', /DATA_DIR "\/dev\/null" is not a directory$/],
  ])('%s stops the start at once with one line naming it', async (_, dataDir, expected) => {
    const dir = await tempDir('partnerline-data-dir');
    writeFileSync(join(dir.path, 'afile'), '');
    const run = startProcess(['--import', 'tsx', 'src/main.ts'], childEnv({ DATA_DIR: dataDir(dir.path) }));
    const hung = setTimeout(() => run.child.kill('SIGKILL'), 60_000);
    try {
      const exit = await run.finished;
      expect(exit.signal, 'the start hung').toBeNull();
      expect(exit.code).toBe(1);
      const lines = exit.stderr.split('\n').filter((line) => line !== '');
      expect(lines, exit.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^partnerline: cannot open the database: configuration error: DATA_DIR /);
      expect(lines[0]).toMatch(expected);
      expect(exit.stdout).toBe('');
    } finally {
      clearTimeout(hung);
      await dir.remove();
    }
  });
});

describe('npm start, as the README starts it', () => {
  it('stops the server with it on SIGTERM: no server is left running', async () => {
    const dir = await tempDir('partnerline-npm-start');
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: join(SERVER_DIR, '..', '..'),
      env: childEnv({ DATA_DIR: dir.path, PORT: String(port), HOST: '127.0.0.1' }),
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => npm.once('close', resolve));
    const health = () =>
      fetch(`http://127.0.0.1:${port}/health`).then(
        (response) => response.status,
        () => 0,
      );
    try {
      const deadline = Date.now() + 90_000;
      while ((await health()) !== 200) {
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      npm.kill('SIGTERM');
      await exited;
      // The server shuts down with npm rather than going on as an orphan.
      const stopBy = Date.now() + 20_000;
      while ((await health()) !== 0) {
        expect(Date.now(), 'the server still answers after npm stopped').toBeLessThan(stopBy);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(existsSync(join(dir.path, 'partnerline.lock'))).toBe(false);
    } finally {
      npm.kill('SIGKILL');
      await dir.remove();
    }
  });
});

describe('arguments', () => {
  it('the server refuses any and points to the CLI, before it opens a database or a port', async () => {
    const dir = await tempDir('partnerline-args');
    try {
      const run = startProcess(
        ['--import', 'tsx', 'src/main.ts', 'worker'],
        childEnv({ DATA_DIR: dir.path }),
      );
      const exit = await run.finished;
      expect(exit.code).toBe(2);
      const lines = exit.stderr.split('\n').filter((line) => line !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('npx partnerline');
      expect(exit.stdout).toBe('');
      expect(existsSync(join(dir.path, 'PG_VERSION'))).toBe(false);
    } finally {
      await dir.remove();
    }
  });
});

describe('invalid settings', () => {
  it.concurrent.each([
    ['PORT', 'abc'],
    ['HOST', '999.1.1.1'],
    ['HOST', 'bad_host'],
    ['LOG_LEVEL', 'loud'],
    ['DATABASE_URL', 'mysql://x'],
    ['ADMIN_API_KEY', 'short-secret'],
    ['ADMIN_API_KEY', 'admin-key-with-a-"-quote-0123456789abcdef'],
    ['ADMIN_API_KEY', 'admin-key-with-a-\\-backslash-0123456789abcdef'],
    ['ADMIN_API_KEY', 'admin-key-with-a-non-ascii-é-0123456789abcdef'],
    ['METRICS_TOKEN', 'metrics-token-with-a-"-quote'],
    ['DEFAULT_TENANT_SLUG', 'admin'],
    ['TENANT_LIST_CONCURRENCY', '0'],
  ])('%s=%s exits non-zero with one line naming it', async (name, value) => {
    const { exit, lines } = await startWithSetting(name, value);
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^partnerline: configuration error: ${name} `));
    if (name === 'ADMIN_API_KEY' || name === 'METRICS_TOKEN') expect(lines[0]).not.toContain(value);
    expect(exit.stdout).not.toMatch(PRINTED_KEY);
  });
});

/** Starts the server on a data directory of its own with one setting, to its exit; its stderr lines. */
async function startWithSetting(name: string, value: string) {
  const dir = await tempDir('partnerline-config');
  try {
    const run = startProcess(
      ['--import', 'tsx', 'src/main.ts'],
      childEnv({ DATA_DIR: dir.path, [name]: value }),
    );
    const exit = await run.finished;
    return { exit, lines: exit.stderr.split('\n').filter((line) => line !== '') };
  } finally {
    await dir.remove();
  }
}

describe('a refused setting states the rule it broke', () => {
  it.concurrent.each([
    [
      'DEFAULT_TENANT_SLUG',
      '-abc-',
      'must be 3-40 characters of a-z, 0-9 and -, not starting or ending with -, got "-abc-"',
    ],
    ['KEY_PREFIX', '1abc', 'must be 2-12 lower-case letters or digits, the first a letter, got "1abc"'],
    ['DOCS_ENABLED', 'yes', 'must be true, false, 1 or 0, got "yes"'],
    [
      'WEBHOOK_RETRY_SCHEDULE',
      '5s,8d',
      'must be none or a comma-separated list of up to 50 durations from 1ms to 7d (e.g. 5s,5m,30m; a bare number is ms), got "5s,8d"',
    ],
  ])('%s=%s: one line stating the rule', async (name, value, message) => {
    const { exit, lines } = await startWithSetting(name, value);
    expect(exit.code).not.toBe(0);
    expect(lines).toEqual([`partnerline: configuration error: ${name} ${message}`]);
  });
});
