import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseCommandArgs, UsageError } from '../src/cli/command.ts';
import { keyCommands } from '../src/cli/keys.ts';
import { tenantCommands } from '../src/cli/tenants.ts';
import {
  childDatabase,
  childEnv,
  type Finished,
  PRINTED_KEY,
  runCli,
  SERVER_DIR,
  type ServerProcess,
  startProcess,
  startServerProcess,
} from './helpers/child-process.ts';
import { onPostgres } from './helpers/database.ts';
import { call, uniqueSlug } from './helpers/http.ts';
import type { TestServer } from './helpers/server.ts';

// The CLI and the server run as child processes on one database: a fresh PGlite DATA_DIR, or a
// fresh PostgreSQL database when the suite runs with DATABASE_URL.
const MIGRATIONS = readdirSync(join(SERVER_DIR, 'migrations'))
  .filter((file) => file.endsWith('.sql'))
  .map((file) => file.replace(/\.sql$/, ''))
  .sort();
const KEY = new RegExp(`^${PRINTED_KEY.source}$`);

// Each test starts processes (a server takes seconds on a busy machine): more than the default 30 s.
vi.setConfig({ testTimeout: 120_000 });

let databaseEnv: Record<string, string>;
let cleanup: () => Promise<void>;
let server: ServerProcess | undefined;
const slug = uniqueSlug('cli');
/** A second tenant, for what key ids that span tenants must not leak. */
const otherSlug = uniqueSlug('cli');
const UNKNOWN_KEY = 'key_01jd8x3v4w5y6z7a8b9c0d1e2f';
let key: string;
let keyId: string;
let pausable: string;

const keyIdOf = (plaintext: string) => `key_${plaintext.split('_')[2]}`;

beforeAll(async () => {
  const database = await childDatabase('partnerline-cli');
  databaseEnv = database.env;
  cleanup = database.remove;
});
afterAll(async () => {
  await server?.stop();
  await cleanup();
});

const cli = (...args: string[]) => runCli(args, childEnv(databaseEnv));
const lines = (text: string) => text.split('\n').filter((line) => line !== '');

/** Exit 0; on failure the assertion shows stderr too. */
function expectSuccess(run: Finished): void {
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
}

/** Runs `fn` against a server process on the CLI's database; PGlite allows one process at a time. */
async function withServer(fn: (target: TestServer) => Promise<void>): Promise<void> {
  server = await startServerProcess({ ...databaseEnv, KEY_CACHE_TTL_SECONDS: '0' });
  try {
    await fn({ url: server.url } as TestServer);
  } finally {
    const exit = await server.stop();
    server = undefined;
    expect(exit.code).toBe(0);
  }
}

describe('partnerline --help', () => {
  it('lists every command, and each command explains its options', async () => {
    const [general, create] = await Promise.all([cli('--help'), cli('keys', 'create', '--help')]);
    expect(general.code).toBe(0);
    for (const command of [
      'migrate',
      'worker',
      'tenants create',
      'tenants list',
      'keys create',
      'keys list',
      'keys revoke',
      'keys rotate',
      'keys deactivate',
      'keys activate',
      'request-logs repair-postings',
    ]) {
      expect(general.stdout).toContain(command);
    }
    expect(create.code).toBe(0);
    expect(create.stdout).toMatch(/--tenant <slug>.*--name <name>.*--scopes <a,b>/);
    expect(create.stdout).toContain('one process at a time');
  });

  it('is linked as a workspace bin at the repository root', async () => {
    const bin = join(SERVER_DIR, '..', '..', 'node_modules', '.bin', 'partnerline');
    const run = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(bin, ['--help'], { env: childEnv(), stdio: 'ignore' });
      child.once('error', reject);
      child.once('close', resolve);
    });
    expect(run).toBe(0);
  });
});

describe('bad arguments exit 2 with one line on stderr; bad settings exit 1', () => {
  it.concurrent.each([
    [['frobnicate'], /^partnerline: unknown command "frobnicate"/],
    [['keys'], /^partnerline: missing command/],
    [
      ['keys', 'create', '--tenant', 'acme', '--name', 'x', '--scopes', 'read,partners:delete'],
      /^partnerline keys create: unknown scope "partners:delete" in --scopes; known scopes: read, write, admin, /,
    ],
    [['keys', 'list', '--tenant', 'acme', '--bogus'], /^partnerline keys list: unknown option --bogus/],
    [
      ['request-logs', 'repair-postings', '--from', '2026-02-30'],
      /^partnerline request-logs repair-postings: --from is not a valid date, got "2026-02-30"\n$/,
    ],
    [
      ['request-logs', 'repair-postings', '--from', 'yesterday'],
      /^partnerline request-logs repair-postings: --from must be YYYY-MM-DD or an ISO 8601 timestamp/,
    ],
  ])('%j', async (args, message) => {
    const run = await cli(...args);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });

  it.concurrent('a bad setting exits 1 with one line naming it', async () => {
    const run = await runCli(['tenants', 'list'], childEnv({ DATABASE_URL: 'mysql://x' }));
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual([
      expect.stringMatching(/^partnerline tenants list: configuration error: DATABASE_URL/),
    ]);
  });

  it.concurrent.each([
    ['migrate', [], '/proc/partnerline-data', /cannot be created \(ENOENT: /],
    ['worker', [], '/proc/partnerline-data', /cannot be created \(ENOENT: /],
    ['tenants list', [], '/proc/partnerline-data', /cannot be created \(ENOENT: /],
    ['keys list', ['--tenant', 'acme'], '/dev/null', /is not a directory$/],
  ])(
    '%s %j with DATA_DIR=%s exits 1 at once with one line naming it',
    async (name, args, dataDir, reason) => {
      const run = startProcess(
        ['bin/partnerline.js', ...name.split(' '), ...args],
        childEnv({ DATA_DIR: dataDir }),
      );
      const hung = setTimeout(() => run.child.kill('SIGKILL'), 60_000);
      const exit = await run.finished.finally(() => clearTimeout(hung));
      expect(exit.signal, 'the command hung').toBeNull();
      expect(exit.code).toBe(1);
      expect(lines(exit.stderr)).toEqual([
        expect.stringMatching(`^partnerline ${name}: configuration error: DATA_DIR "${dataDir}" `),
      ]);
      expect(lines(exit.stderr)[0]).toMatch(reason);
      expect(exit.stdout).toBe('');
    },
  );

  // The same checks in process, where a case costs no process start.
  const COMMANDS = [...tenantCommands, ...keyCommands];
  it.each([
    ['keys create', ['--tenant', 'acme', '--name', 'x'], /--scopes is required/],
    ['keys create', ['--tenant', 'acme', '--scopes', 'read'], /--name is required/],
    ['keys create', ['--tenant', 'acme', '--name', 'x', '--scopes', ''], /at least one scope/],
    ['keys create', ['--tenant', 'acme', '--name', 'x', '--scopes', 'read,read'], /lists read twice/],
    ['keys create', ['--tenant', 'acme', '--name', ' ', '--scopes', 'read'], /--name must not be empty/],
    ['keys create', ['--tenant', 'acme', '--name', 'n'.repeat(101), '--scopes', 'read'], /at most 100/],
    [
      'keys create',
      ['--tenant', 'acme', '--name', 'x', '--scopes', 'read', '--environment', 'prod'],
      /live or test/,
    ],
    ['keys create', ['--tenant', 'Not_A_Slug', '--name', 'x', '--scopes', 'read'], /--tenant must be 3-40/],
    ['keys create', ['--tenant', 'acme-', '--name', 'x', '--scopes', 'read'], /--tenant must be 3-40/],
    ['keys create', ['--tenant', 'acme', '--name'], /option --name needs a value/],
    [
      'keys rotate',
      ['key_01jd8x3v4w5y6z7a8b9c0d1e2f', '--tenant', 'acme', '--grace-period', '-5'],
      /--grace-period needs a value \(one that starts with "-" is written --grace-period=<value>\)/,
    ],
    ['keys revoke', ['nope', '--tenant', 'acme'], /not an API key id/],
    ['keys revoke', ['--tenant', 'acme'], /missing argument <id>/],
    [
      'keys revoke',
      ['key_01jd8x3v4w5y6z7a8b9c0d1e2f', 'extra', '--tenant', 'acme'],
      /unexpected argument "extra"/,
    ],
    ['keys list', ['--tenant', 'Not_A_Slug'], /--tenant must be 3-40/],
    ['keys revoke', ['key_01jd8x3v4w5y6z7a8b9c0d1e2f', '--tenant', 'acme-'], /--tenant must be 3-40/],
    ['keys create', ['--name', 'x', '--scopes', 'read'], /--tenant is required/],
    ['keys rotate', ['nope', '--tenant', 'acme'], /not an API key id/],
    ...['-1', '604801', '1.5', 'abc', '', '1e3'].map((grace): [string, string[], RegExp] => [
      'keys rotate',
      ['key_01jd8x3v4w5y6z7a8b9c0d1e2f', '--tenant', 'acme', `--grace-period=${grace}`],
      /--grace-period must be a number of seconds from 0 to 604800/,
    ]),
    ['keys deactivate', ['nope', '--tenant', 'acme'], /not an API key id/],
    ['keys deactivate', ['--tenant', 'acme'], /missing argument <id>/],
    [
      'keys activate',
      ['key_01jd8x3v4w5y6z7a8b9c0d1e2f', '--tenant', 'acme', '--force'],
      /unknown option --force/,
    ],
    ['tenants create', ['--slug', 'ab', '--name', 'Acme'], /--slug must be 3-40/],
    ['tenants create', ['--slug', 'acme', '--name', 'Acme', '--plan', 'gold'], /unknown plan "gold"/],
    ['tenants list', ['--slug', 'acme'], /unknown option --slug/],
  ])('%s %j', (name, argv, message) => {
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new Error(`no command ${name}`);
    expect(() => command.prepare(parseCommandArgs(command, argv))).toThrow(message);
    expect(() => command.prepare(parseCommandArgs(command, argv))).toThrow(UsageError);
  });

  // Key ids are unique across tenants: --tenant is an optional check on the commands that take one.
  it.each([
    ['keys list', []],
    ...['revoke', 'rotate', 'deactivate', 'activate'].map((action): [string, string[]] => [
      `keys ${action}`,
      ['key_01jd8x3v4w5y6z7a8b9c0d1e2f'],
    ]),
  ])('%s %j needs no --tenant', (name, argv) => {
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new Error(`no command ${name}`);
    expect(command.prepare(parseCommandArgs(command, argv))).toBeTypeOf('function');
  });
});

describe('against a database', () => {
  it('migrate applies every migration, then reports the database up to date', async () => {
    const first = await cli('migrate');
    expectSuccess(first);
    expect(lines(first.stdout)).toEqual(MIGRATIONS.map((version) => `Applied ${version}`));
    const second = await cli('migrate');
    expectSuccess(second);
    expect(second.stdout).toMatch(/up to date/);
  });

  it('request-logs repair-postings files what no posting lists, and says how much', async () => {
    const run = await cli('request-logs', 'repair-postings', '--from', '2026-01-01');
    expectSuccess(run);
    expect(lines(run.stdout)).toEqual([
      'Filed 0 lines under their key and 0 under their route (0 postings) since 2026-01-01T00:00:00.000Z.',
    ]);
  });

  it('tenants create and list; a taken slug exits 1', async () => {
    const created = await cli('tenants', 'create', '--slug', slug, '--name', 'CLI Corp', '--plan', 'starter');
    expectSuccess(created);
    expect(created.stdout).toMatch(
      new RegExp(`Created tenant ${slug} \\(ten_[0-9a-z]{26}\\) on plan starter`),
    );

    const taken = await cli('tenants', 'create', '--slug', slug, '--name', 'Again');
    expect(taken.code).toBe(1);
    expect(lines(taken.stderr)).toEqual([`partnerline tenants create: The slug ${slug} is already taken`]);

    const listed = await cli('tenants', 'list');
    expectSuccess(listed);
    const [header, ...rows] = lines(listed.stdout);
    expect(header?.split(/\s+/)).toEqual(['ID', 'SLUG', 'NAME', 'PLAN', 'STATUS', 'CREATED']);
    expect(rows.find((row) => row.includes(slug))).toMatch(/CLI Corp\s+starter\s+active/);
  });

  it('keys create prints the key once; keys list shows no secret', async () => {
    const created = await cli(
      'keys',
      'create',
      '--tenant',
      slug,
      '--name',
      'CRM sync',
      '--scopes',
      'read,partners:write',
    );
    expectSuccess(created);
    expect(lines(created.stdout)).toHaveLength(1);
    key = created.stdout.trim();
    expect(key).toMatch(KEY);
    expect(created.stderr).toMatch(/shown only now/);
    keyId = `key_${key.split('_')[2]}`;

    const listed = await cli('keys', 'list', '--tenant', slug);
    expectSuccess(listed);
    const row = lines(listed.stdout).find((line) => line.startsWith(keyId));
    expect(row?.split(/\s{2,}/)).toEqual([
      keyId,
      'CRM sync',
      'read,partners:write',
      'live',
      'active',
      `plk_live_${key.split('_')[2]}`,
      '-',
    ]);
    expect(listed.stdout).not.toContain(key);
    expect(listed.stdout).not.toContain(key.split('_')[3]);
  });

  it('the key authenticates against a server on the same database', async () => {
    await withServer(async (target) => {
      const me = await call(target, 'GET', '/api/v1/me', { key });
      expect(me.status).toBe(200);
      expect(me.body.data).toMatchObject({ id: keyId, name: 'CRM sync', tenant: { slug } });
      expect(me.headers.get('x-ratelimit-limit')).toBe('60');
      const partner = await call(target, 'POST', '/api/v1/partners', {
        key,
        body: { email: 'cli@example.com' },
      });
      expect(partner.status).toBe(201);

      if (!onPostgres) {
        // PGlite is single-process: the CLI must refuse the DATA_DIR the server holds.
        const refused = await cli('tenants', 'list');
        expect(refused.code).toBe(1);
        expect(lines(refused.stderr)).toHaveLength(1);
        expect(refused.stderr).toMatch(/open in another process/);
      } else {
        // PostgreSQL: the CLI works beside a running server, and the server sees its changes.
        const second = await cli('keys', 'create', '--tenant', slug, '--name', 'live', '--scopes', 'read');
        expectSuccess(second);
        expect((await call(target, 'GET', '/api/v1/me', { key: second.stdout.trim() })).status).toBe(200);
      }
    });
  });

  it('keys revoke <id> needs no --tenant; --tenant of another tenant is refused like an unknown id', async () => {
    expectSuccess(await cli('tenants', 'create', '--slug', otherSlug, '--name', 'Other Corp'));
    const auditor = await cli('keys', 'create', '--tenant', slug, '--name', 'Auditor', '--scopes', 'admin');
    expectSuccess(auditor);

    // The key exists, but not in otherSlug: the same line and exit code as an id that exists nowhere.
    for (const id of [keyId, UNKNOWN_KEY]) {
      const refused = await cli('keys', 'revoke', id, '--tenant', otherSlug);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(lines(refused.stderr)).toEqual([`partnerline keys revoke: No API key with id ${id}`]);
    }
    const untouched = await cli('keys', 'list', '--tenant', slug, '--json');
    expect(JSON.parse(untouched.stdout).find((k: { id: string }) => k.id === keyId)).toMatchObject({
      status: 'active',
      revokedAt: null,
    });

    const revoked = await cli('keys', 'revoke', keyId);
    expectSuccess(revoked);
    expect(revoked.stdout).toMatch(new RegExp(`^Revoked ${keyId} "CRM sync" at \\d{4}-`));
    // Revoking again, with the right --tenant, changes nothing and prints the same line.
    const again = await cli('keys', 'revoke', keyId, '--tenant', slug);
    expectSuccess(again);
    expect(again.stdout).toBe(revoked.stdout);

    const listed = await cli('keys', 'list', '--tenant', slug, '--json');
    expectSuccess(listed);
    const record = JSON.parse(listed.stdout).find((k: { id: string }) => k.id === keyId);
    expect(record).toMatchObject({ tenant: slug, status: 'revoked', revokedAt: expect.any(String) });
    expect(listed.stdout).not.toMatch(/"key"|hash/i);

    await withServer(async (target) => {
      const response = await call(target, 'GET', '/api/v1/me', { key });
      expect(response.status).toBe(401);
      expect(response.body.code).toBe('api_key_revoked');
      // One audit entry, by the CLI, in the key's own tenant: the second revoke changed nothing.
      const audit = await call(
        target,
        'GET',
        `/api/v1/audit-log?resourceId=${keyId}&action=api_key.revoked`,
        {
          key: auditor.stdout.trim(),
        },
      );
      expect(audit.status).toBe(200);
      expect(audit.body.data).toEqual([
        expect.objectContaining({
          actorType: 'cli',
          changes: expect.objectContaining({ revokedAt: expect.anything() }),
        }),
      ]);
    });
  });

  it("keys list without --tenant lists every tenant's keys under a TENANT column", async () => {
    const created = await cli(
      'keys',
      'create',
      '--tenant',
      otherSlug,
      '--name',
      'Other sync',
      '--scopes',
      'read',
    );
    expectSuccess(created);
    const otherId = keyIdOf(created.stdout.trim());

    const listed = await cli('keys', 'list');
    expectSuccess(listed);
    const [header, ...rows] = lines(listed.stdout);
    expect(header?.split(/\s{2,}/)).toEqual([
      'TENANT',
      'ID',
      'NAME',
      'SCOPES',
      'ENV',
      'STATUS',
      'START',
      'LAST USED',
    ]);
    expect(
      rows
        .find((row) => row.includes(otherId))
        ?.split(/\s{2,}/)
        .slice(0, 3),
    ).toEqual([otherSlug, otherId, 'Other sync']);
    expect(
      rows
        .find((row) => row.includes(keyId))
        ?.split(/\s{2,}/)
        .slice(0, 3),
    ).toEqual([slug, keyId, 'CRM sync']);
    expect(listed.stdout).not.toContain(created.stdout.trim());

    const json = await cli('keys', 'list', '--json');
    expectSuccess(json);
    const all = JSON.parse(json.stdout) as { id: string; tenant: string }[];
    expect(all.find((k) => k.id === otherId)).toMatchObject({ tenant: otherSlug, name: 'Other sync' });
    expect(all.find((k) => k.id === keyId)).toMatchObject({ tenant: slug, status: 'revoked' });
    expect(all.map((k) => k.id)).toEqual(
      all
        .map((k) => k.id)
        .sort()
        .reverse(),
    );
    expect(json.stdout).not.toMatch(/"key"|hash|tenantId/i);

    // One tenant's list leaves the others' keys out.
    const one = await cli('keys', 'list', '--tenant', otherSlug, '--json');
    expect(JSON.parse(one.stdout).map((k: { id: string }) => k.id)).toEqual([otherId]);
  });

  it('keys deactivate makes a key 401 api_key_inactive until keys activate', async () => {
    const created = await cli('keys', 'create', '--tenant', slug, '--name', 'Pausable', '--scopes', 'read');
    expectSuccess(created);
    pausable = created.stdout.trim();
    const id = keyIdOf(pausable);

    const off = await cli('keys', 'deactivate', id, '--tenant', slug);
    expectSuccess(off);
    expect(off.stdout).toBe(`Deactivated ${id} "Pausable".\n`);
    await withServer(async (target) => {
      const response = await call(target, 'GET', '/api/v1/me', { key: pausable });
      expect(response.status).toBe(401);
      expect(response.body.code).toBe('api_key_inactive');
    });

    const on = await cli('keys', 'activate', id, '--tenant', slug, '--json');
    expectSuccess(on);
    expect(JSON.parse(on.stdout)).toMatchObject({ id, status: 'active', deactivatedAt: null });
    // Checked against a server in the next test, with the rotated keys.
  });

  it('keys rotate prints the new key alone; the old one expires after --grace-period', async () => {
    const keys = [];
    for (const name of ['Rotated now', 'Rotated later']) {
      const created = await cli(
        'keys',
        'create',
        '--tenant',
        slug,
        '--name',
        name,
        '--scopes',
        'read,partners:write',
      );
      expectSuccess(created);
      keys.push(created.stdout.trim());
    }
    const [now, later] = keys as [string, string];

    const instant = await cli('keys', 'rotate', keyIdOf(now), '--tenant', slug, '--grace-period', '0');
    expectSuccess(instant);
    expect(lines(instant.stdout)).toHaveLength(1);
    const nowSuccessor = instant.stdout.trim();
    expect(nowSuccessor).toMatch(KEY);
    expect(nowSuccessor).not.toBe(now);
    expect(instant.stderr).toMatch(
      new RegExp(`Rotated ${keyIdOf(now)} into ${keyIdOf(nowSuccessor)}; the old key works until \\d{4}-`),
    );

    const before = Date.now();
    const graceful = await cli('keys', 'rotate', keyIdOf(later), '--tenant', slug, '--grace-period', '3600');
    const after = Date.now();
    expectSuccess(graceful);
    const laterSuccessor = graceful.stdout.trim();
    expect(laterSuccessor).toMatch(KEY);

    const listed = await cli('keys', 'list', '--tenant', slug, '--json');
    expectSuccess(listed);
    const record = (plaintext: string) =>
      JSON.parse(listed.stdout).find((k: { id: string }) => k.id === keyIdOf(plaintext));
    expect(record(now)).toMatchObject({ status: 'expired', replacedBy: keyIdOf(nowSuccessor) });
    expect(record(later)).toMatchObject({ status: 'active', replacedBy: keyIdOf(laterSuccessor) });
    const expiresAt = Date.parse(record(later).expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3_600_000 - 1_000);
    expect(expiresAt).toBeLessThanOrEqual(after + 3_600_000);
    expect(record(nowSuccessor)).toMatchObject({
      name: 'Rotated now',
      scopes: ['read', 'partners:write'],
      status: 'active',
      createdBy: 'cli',
      replacedBy: null,
    });
    expect(listed.stdout).not.toContain(nowSuccessor.split('_')[3]);

    // A key is rotated once; a revoked key not at all.
    for (const [id, message] of [
      [keyIdOf(later), /already rotated into/],
      [keyId, /this one is revoked/],
    ] as const) {
      const refused = await cli('keys', 'rotate', id, '--tenant', slug);
      expect(refused.code).toBe(1);
      expect(lines(refused.stderr)).toEqual([expect.stringMatching(message)]);
      expect(refused.stdout).toBe('');
    }

    await withServer(async (target) => {
      const status = async (key: string) => {
        const response = await call(target, 'GET', '/api/v1/me', { key });
        return response.status === 200 ? 200 : `${response.status} ${response.body.code}`;
      };
      expect(await status(pausable)).toBe(200);
      expect(await status(now)).toBe('401 api_key_expired');
      expect(await status(nowSuccessor)).toBe(200);
      expect(await status(later)).toBe(200);
      expect(await status(laterSuccessor)).toBe(200);
      const me = await call(target, 'GET', '/api/v1/me', { key: nowSuccessor });
      expect(me.body.data).toMatchObject({ name: 'Rotated now', scopes: ['read', 'partners:write'] });
    });
  });

  it('key commands on an unknown key exit 1 naming it, with or without --tenant', async () => {
    for (const [command, tenant] of [
      ['deactivate', ['--tenant', slug]],
      ['rotate', ['--tenant', slug]],
      ['revoke', []],
      ['activate', []],
    ] as const) {
      const run = await cli('keys', command, UNKNOWN_KEY, ...tenant);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(lines(run.stderr)).toEqual([`partnerline keys ${command}: No API key with id ${UNKNOWN_KEY}`]);
    }
  });

  it("key commands with another tenant's --tenant exit 1 as for an unknown key, and change nothing", async () => {
    const id = keyIdOf(pausable);
    for (const command of ['deactivate', 'rotate', 'activate']) {
      const run = await cli('keys', command, id, '--tenant', otherSlug);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(lines(run.stderr)).toEqual([`partnerline keys ${command}: No API key with id ${id}`]);
    }
    const listed = await cli('keys', 'list', '--json');
    expect(JSON.parse(listed.stdout).find((k: { id: string }) => k.id === id)).toMatchObject({
      tenant: slug,
      status: 'active',
      replacedBy: null,
    });
  });
});
