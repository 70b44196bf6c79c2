import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  asTarget,
  childEnv,
  PRINTED_KEY,
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
    running.child.kill('SIGTERM');
    await running.waitForOutput(/shutting down/);
    post.finish();
    const response = await post.response;
    expect(response.status).toBe(201);
    expect(JSON.parse(response.body).data).toMatchObject({ email: 'inflight@example.com' });
    const exit = await running.finished;
    expect(exit.code).toBe(0);
    server = undefined;
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

    const exit = await server.stop();
    server = undefined;
    expect(exit.code).toBe(0);
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
    ['LOG_LEVEL', 'loud'],
    ['DATABASE_URL', 'mysql://x'],
    ['ADMIN_API_KEY', 'short-secret'],
  ])('%s=%s exits non-zero with one line naming it', async (name, value) => {
    const dir = await tempDir('partnerline-config');
    try {
      const run = startProcess(
        ['--import', 'tsx', 'src/main.ts'],
        childEnv({ DATA_DIR: dir.path, [name]: value }),
      );
      const exit = await run.finished;
      expect(exit.code).not.toBe(0);
      expect(exit.code).not.toBeNull();
      const lines = exit.stderr.split('\n').filter((line) => line !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(name);
      if (name === 'ADMIN_API_KEY') expect(lines[0]).not.toContain(value);
      expect(exit.stdout).not.toMatch(PRINTED_KEY);
    } finally {
      await dir.remove();
    }
  });
});
