import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KyselyPlugin } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertApiKey } from '../../src/platform/api-keys/service.ts';
import { sendKeyChange } from '../../src/platform/auth/key-changes.ts';
import { KeyVerifier } from '../../src/platform/auth/key-verifier.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { openPostgres } from '../../src/platform/db/index.ts';
import { migrate } from '../../src/platform/db/migrate.ts';
import { createTenant } from '../../src/platform/tenants/service.ts';
import { childEnv, type ServerProcess, startProcess, startServerProcess } from '../helpers/child-process.ts';
import { type ApiResponse, call, uniqueSlug } from '../helpers/http.ts';
import { ADMIN_KEY, type TestServer } from '../helpers/server.ts';

// Propagation is a property of several processes on one PostgreSQL, so this file always runs on
// PostgreSQL: DATABASE_URL's server when the suite has one, else the local server CI and every dev
// machine run (the PGlite run still proves propagation instead of skipping it). No PostgreSQL there
// is a failure with a clear message, not a skip. Redis likewise: REDIS_URL, else the local default.
const POSTGRES_URL = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The promise: a change reaches every process within a second. */
const WITHIN_MS = 1_000;
/** How long B is polled before the change counts as lost. */
const GIVE_UP_MS = 2_000;
const POLL_EVERY_MS = 15;

interface ScratchDatabase {
  url: string;
  /** Runs one statement on a connection of the test's own. */
  query<R extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `key-propagation.test.ts runs on PostgreSQL and could not reach ${new URL(url).host}: ` +
        `${(error as Error).message}. Start PostgreSQL there or set DATABASE_URL.`,
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database on POSTGRES_URL's server, dropped afterwards. */
async function createScratchDatabase(): Promise<ScratchDatabase> {
  const name = `pl_test_${randomBytes(6).toString('hex')}`;
  await withClient(POSTGRES_URL, (client) => client.query(`create database ${name}`));
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    query: (text, params = []) => withClient(url.toString(), async (c) => (await c.query(text, params)).rows),
    drop: async () => {
      await withClient(POSTGRES_URL, (c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}

const target = (server: ServerProcess) => ({ url: server.url }) as TestServer;

/** `200`, or the status and problem code: what a probe is compared by. */
function outcome(response: ApiResponse): string {
  return response.status < 300 ? String(response.status) : `${response.status} ${response.body?.code}`;
}

/**
 * Polls `probe` every POLL_EVERY_MS until it answers `expected`; returns the milliseconds since
 * `since` (a `performance.now()`), or throws after `giveUpMs`.
 */
async function msUntil(
  probe: () => Promise<ApiResponse>,
  expected: string,
  since: number,
  giveUpMs = GIVE_UP_MS,
): Promise<number> {
  for (;;) {
    const seen = outcome(await probe());
    const elapsed = performance.now() - since;
    if (seen === expected) return elapsed;
    if (elapsed > giveUpMs)
      throw new Error(`still "${seen}" after ${Math.round(elapsed)} ms, not "${expected}"`);
    await sleep(POLL_EVERY_MS);
  }
}

describe.each([
  { transport: 'Redis pub/sub', env: { REDIS_URL } as Record<string, string> },
  { transport: 'PostgreSQL LISTEN/NOTIFY', env: {} as Record<string, string> },
])('a key change made through one process reaches the other within 1 s: $transport', ({ env }) => {
  let database: ScratchDatabase;
  let a: ServerProcess;
  let b: ServerProcess;
  /** The `admin` key of the tenant `default`, printed by whichever process started first. */
  let adminKey: string;
  // An hour of caching: only propagation, never expiry, can explain a change seen within seconds.
  const serverEnv = () => ({
    DATABASE_URL: database.url,
    ADMIN_API_KEY: ADMIN_KEY,
    KEY_CACHE_TTL_SECONDS: '3600',
    LOG_LEVEL: 'warn',
    ...env,
  });

  beforeAll(async () => {
    database = await createScratchDatabase();
    // Both start at once on the empty database, as a deployment of N processes does.
    const started = await Promise.allSettled([
      startServerProcess(serverEnv()),
      startServerProcess(serverEnv()),
    ]);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) {
      await Promise.all(
        started.map((result) => (result.status === 'fulfilled' ? result.value.stop() : null)),
      );
      throw failed.reason;
    }
    [a, b] = started.map((result) => (result as PromiseFulfilledResult<ServerProcess>).value) as [
      ServerProcess,
      ServerProcess,
    ];
    const printed = [a, b].flatMap((server) => server.stdout().match(/plk_live_\w+/g) ?? []);
    expect(printed).toHaveLength(1);
    adminKey = printed[0] as string;
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.drop();
  });

  const onA = (method: string, path: string, body?: unknown) =>
    call(target(a), method, `/api/v1${path}`, { key: adminKey, ...(body === undefined ? {} : { body }) });
  const listPartners = (server: ServerProcess, key: string) =>
    call(target(server), 'GET', '/api/v1/partners?limit=1', { key });

  /** A new key with `scopes`, already verified (so cached) by both processes. */
  async function warmKey(scopes = ['partners:read']): Promise<{ id: string; key: string }> {
    const created = await onA('POST', '/api-keys', { name: 'propagation', scopes });
    expect(created.status).toBe(201);
    const { id, key } = created.body.data;
    for (const server of [a, b]) expect(outcome(await listPartners(server, key))).toBe('200');
    return { id, key };
  }

  /**
   * Makes `change` through A, then expects `probe` to answer `expected` on A at once and on B within
   * WITHIN_MS of sending the change.
   */
  async function expectPropagated(
    change: () => Promise<ApiResponse>,
    probe: (server: ServerProcess) => Promise<ApiResponse>,
    expected: string,
  ): Promise<void> {
    const started = performance.now();
    const response = await change();
    expect(response.status, JSON.stringify(response.body)).toBeLessThan(300);
    expect(outcome(await probe(a))).toBe(expected);
    const ms = await msUntil(() => probe(b), expected, started);
    expect(ms, `B answered "${expected}" after ${Math.round(ms)} ms`).toBeLessThan(WITHIN_MS);
  }

  it('the processes cache key checks, and carry changes only when they are announced', async () => {
    const { id, key } = await warmKey();
    // Revoked behind the servers' backs: nobody announces it, so both keep their cached answer.
    await database.query('update api_keys set revoked_at = now() where id = $1', [id]);
    await sleep(500);
    for (const server of [a, b]) expect(outcome(await listPartners(server, key))).toBe('200');
    // Each server listens on PostgreSQL, with Redis too: that is where the CLI's changes arrive.
    const sessions = await database.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
        where datname = current_database() and query = 'listen partnerline_key_changes'`,
    );
    expect(sessions[0]?.n).toBe(2);
    // Revoking again changes no row, but is announced: now both refuse the key.
    await expectPropagated(
      () => onA('DELETE', `/api-keys/${id}`),
      (server) => listPartners(server, key),
      '401 api_key_revoked',
    );
  });

  it.each([
    { change: 'revoke', method: 'DELETE', path: '', body: undefined, expected: '401 api_key_revoked' },
    { change: 'deactivate', method: 'POST', path: '/deactivate', body: {}, expected: '401 api_key_inactive' },
    {
      change: 'scopes without partners:read',
      method: 'PATCH',
      path: '',
      body: { scopes: ['customers:read'] },
      expected: '403 insufficient_scope',
    },
    {
      change: 'allowedIps 10.0.0.0/8',
      method: 'PATCH',
      path: '',
      body: { allowedIps: ['10.0.0.0/8'] },
      expected: '403 ip_not_allowed',
    },
  ])('$change: B answers $expected', async ({ method, path, body, expected }) => {
    const { id, key } = await warmKey(['partners:read', 'customers:read']);
    await expectPropagated(
      () => onA(method, `/api-keys/${id}${path}`, body),
      (server) => listPartners(server, key),
      expected,
    );
  });

  it('activate after deactivate: B accepts the key again', async () => {
    const { id, key } = await warmKey();
    const probe = (server: ServerProcess) => listPartners(server, key);
    await expectPropagated(
      () => onA('POST', `/api-keys/${id}/deactivate`, {}),
      probe,
      '401 api_key_inactive',
    );
    // B now caches the deactivated key: only the announcement can bring it back.
    await expectPropagated(() => onA('POST', `/api-keys/${id}/activate`, {}), probe, '200');
  });

  it('rotate with gracePeriodSeconds 0: B refuses the old key as expired and accepts the new one', async () => {
    const old = await warmKey();
    let rotated: ApiResponse | undefined;
    await expectPropagated(
      async () => {
        rotated = await onA('POST', `/api-keys/${old.id}/rotate`, { gracePeriodSeconds: 0 });
        return rotated;
      },
      (server) => listPartners(server, old.key),
      '401 api_key_expired',
    );
    const replacement = rotated?.body.data.key as string;
    for (const server of [a, b]) expect(outcome(await listPartners(server, replacement))).toBe('200');
  });

  it('rotate with a grace period: the old key stops on B when the grace period ends', async () => {
    const old = await warmKey();
    const rotated = await onA('POST', `/api-keys/${old.id}/rotate`, { gracePeriodSeconds: 2 });
    expect(rotated.status).toBe(201);
    expect(outcome(await listPartners(b, old.key))).toBe('200');
    const ends = Date.parse((await onA('GET', `/api-keys/${old.id}`)).body.data.expiresAt);
    // B only learns when the grace period ends if the rotation reached it: its cached entry had no expiry.
    await msUntil(() => listPartners(b, old.key), '401 api_key_expired', performance.now(), 4_000);
    const late = Date.now() - ends;
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late, `B refused the old key ${late} ms after the grace period`).toBeLessThan(WITHIN_MS);
  });

  it('tenant suspended through the admin API on A: B answers 403 tenant_suspended, then 200 again', async () => {
    const slug = uniqueSlug('prop');
    const admin = (method: string, path: string, body: unknown) =>
      call(target(a), method, path, { key: ADMIN_KEY, body });
    expect((await admin('POST', '/api/admin/tenants', { slug, name: 'Propagation' })).status).toBe(201);
    const created = await admin('POST', `/api/t/${slug}/v1/api-keys`, {
      name: 'k',
      scopes: ['partners:read'],
    });
    expect(created.status).toBe(201);
    const key = created.body.data.key as string;
    const probe = (server: ServerProcess) => listPartners(server, key);
    for (const server of [a, b]) expect(outcome(await probe(server))).toBe('200');

    const setStatus = (status: string) => () => admin('PATCH', `/api/admin/tenants/${slug}`, { status });
    await expectPropagated(setStatus('suspended'), probe, '403 tenant_suspended');
    await expectPropagated(setStatus('active'), probe, '200');
  });

  it.each([
    { cli: 'configured like the servers', cliEnv: () => env },
    { cli: 'given only DATABASE_URL', cliEnv: () => ({}) },
    {
      cli: 'with a Redis prefix of another deployment',
      cliEnv: () => ({ REDIS_URL, RATE_LIMIT_REDIS_PREFIX: 'pl:other:' }),
    },
  ])('partnerline keys revoke (CLI, its own process, $cli) reaches both servers', async ({ cliEnv }) => {
    const { id, key } = await warmKey();
    // The CLI announces through the database it wrote the change to, whatever its Redis settings.
    const cli = startProcess(
      ['bin/partnerline.js', 'keys', 'revoke', id, '--tenant', 'default'],
      childEnv({ DATABASE_URL: database.url, ...cliEnv() }),
    );
    // It prints after the change is committed and sent; the clock starts when the line is seen.
    await cli.waitForOutput(/^Revoked key_/m);
    const sent = performance.now();
    const delays = await Promise.all(
      [a, b].map((server) => msUntil(() => listPartners(server, key), '401 api_key_revoked', sent)),
    );
    for (const ms of delays) expect(ms).toBeLessThan(WITHIN_MS);
    expect((await cli.finished).code).toBe(0);
  });
});

describe('a change announced while a key lookup is in flight', () => {
  let database: ScratchDatabase;
  let close: () => Promise<void>;
  let verifier: KeyVerifier;
  let revoke: (id: string) => Promise<void>;
  let newKey: () => Promise<{ id: string; key: string }>;
  let gate: { hold(): { reached: Promise<void>; release(): void } };

  beforeAll(async () => {
    database = await createScratchDatabase();
    const opened = await openPostgres(database.url);
    close = () => opened.close();
    await migrate(opened);
    const tenant = await createTenant(opened.db, { slug: uniqueSlug('race'), name: 'Race' });
    newKey = () =>
      insertApiKey(opened.db, {
        tenantId: tenant.id,
        keyPrefix: 'plk',
        name: 'race',
        scopes: ['partners:read'],
        createdBy: 'system',
        now: new Date(),
      });
    revoke = async (id) => {
      await opened.db.updateTable('apiKeys').set({ revokedAt: new Date() }).where('id', '=', id).execute();
    };
    // Holds the verifier's next query result after the database answered it, until released.
    let held: { reached(): void; until: Promise<void> } | undefined;
    const plugin: KyselyPlugin = {
      transformQuery: ({ node }) => node,
      transformResult: async ({ result }) => {
        const current = held;
        held = undefined;
        if (current) {
          current.reached();
          await current.until;
        }
        return result;
      },
    };
    gate = {
      hold: () => {
        let reached = () => {};
        let release = () => {};
        const reachedPromise = new Promise<void>((resolve) => {
          reached = resolve;
        });
        const until = new Promise<void>((resolve) => {
          release = resolve;
        });
        held = { reached, until };
        return { reached: reachedPromise, release };
      },
    };
    verifier = new KeyVerifier(opened.db.withPlugin(plugin), 'plk', 3600, () => new Date());
  });
  afterAll(async () => {
    await close?.();
    await database?.drop();
  });

  it('does not let the lookup cache what it read before the change', async () => {
    const { id, key } = await newKey();
    const held = gate.hold();
    const lookup = verifier.verify(key);
    await held.reached;
    await revoke(id);
    verifier.invalidate({ keyId: id });
    held.release();
    // The request that was already under way may pass: it read the key before the change.
    await expect(lookup).resolves.toMatchObject({ id });
    await expect(verifier.verify(key)).rejects.toMatchObject({ code: 'api_key_revoked' });
  });
});

describe('a change the CLI cannot send', () => {
  it('is refused with a line saying it is saved and when servers apply it anyway', async () => {
    const opened = await openPostgres(POSTGRES_URL);
    await opened.close();
    const config = loadConfig({ DATABASE_URL: POSTGRES_URL, KEY_CACHE_TTL_SECONDS: '90' });
    await expect(sendKeyChange(config, opened, { keyId: 'key_x' })).rejects.toThrow(
      /^the change is saved, but could not be sent to running servers \(.+\); they apply it when their cached keys expire, within KEY_CACHE_TTL_SECONDS \(90 s\)$/,
    );
  });
});
