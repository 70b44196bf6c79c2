import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { insertApiKey } from '../../apps/server/src/platform/api-keys/service.ts';
import type { Database, Db, KeyRateLimit } from '../../apps/server/src/platform/db/index.ts';
import { newId } from '../../apps/server/src/platform/ids.ts';
import type { PlanName } from '../../apps/server/src/platform/plans.ts';
import type { Services } from '../../apps/server/src/platform/services.ts';
import { createTenant } from '../../apps/server/src/platform/tenants/service.ts';
import type { BenchDatabase } from './databases.ts';

/** The platform admin key of benchmark servers: set, as in production, so its check is on the path. */
export const BENCH_ADMIN_KEY = 'bench-admin-key-0123456789abcdefghijklmnop';

/**
 * The environment a benchmark server runs with: production mode (no docs) and per-request logging
 * off, so both the platform and the bare app measure request handling rather than log writing.
 */
export function benchEnv(database: BenchDatabase): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    ADMIN_API_KEY: BENCH_ADMIN_KEY,
    PORT: '0',
    ...database.env,
  };
}

const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;

/**
 * `GET /api/v1/partners/{id}` for a random seeded partner with a random key of the tenant: a
 * warm-up reaches every key, and the load spreads evenly over them.
 */
export function partnerRequestMaker(
  tenant: BenchTenant,
  ids: string[],
): () => { path: string; headers: Record<string, string> } {
  return () => ({ path: `/api/v1/partners/${pick(ids)}`, headers: { 'x-api-key': pick(tenant.keys).key } });
}

export interface BenchTenant {
  tenantId: string;
  slug: string;
  keys: { id: string; key: string }[];
}

/** A tenant and its API keys, created through the platform's own service functions. */
export async function seedTenant(
  services: Services,
  options: {
    slug: string;
    plan: PlanName;
    keys: number;
    scopes: string[];
    /** Each key's own rate limit instead of the plan's. */
    rateLimit?: KeyRateLimit;
  },
): Promise<BenchTenant> {
  const tenant = await createTenant(services.db, {
    slug: options.slug,
    name: `Benchmark ${options.slug}`,
    plan: options.plan,
  });
  const keys: BenchTenant['keys'] = [];
  for (let i = 0; i < options.keys; i++) {
    const created = await insertApiKey(services.db, {
      tenantId: tenant.id,
      keyPrefix: services.config.keyPrefix,
      name: `bench ${i + 1}`,
      scopes: options.scopes,
      rateLimit: options.rateLimit,
      createdBy: 'system',
      now: services.clock.now(),
    });
    keys.push({ id: created.id, key: created.key });
  }
  return { tenantId: tenant.id, slug: tenant.slug, keys };
}

/**
 * Inserts `count` partners in one `insert … select`: ids come from the platform's own generator (real
 * UUIDv7 TypeIDs), everything else is derived from the row number in SQL.
 */
export async function seedPartners(db: Db, tenantId: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => newId('prt'));
  await sql`
    insert into partners (id, tenant_id, email, name, status, group_key, referral_code, metadata,
                          version, invited_at, created_at, updated_at)
    select p.id, ${tenantId}, 'partner' || p.n || '@example.com', 'Partner ' || p.n,
           case when p.n % 10 = 0 then 'invited' when p.n % 50 = 1 then 'revoked' else 'active' end,
           case when p.n % 3 = 0 then 'premium' end,
           'REF' || lpad(p.n::text, 7, '0'),
           jsonb_build_object('crmId', 'hs-' || p.n, 'region', 'eu'),
           1,
           case when p.n % 10 = 0 then now() end,
           now() - make_interval(secs => ${count} - p.n),
           now() - make_interval(secs => ${count} - p.n)
    from unnest(string_to_array(${ids.join(',')}, ',')) with ordinality as p (id, n)
  `.execute(db);
  await sql`analyze partners`.execute(db);
  return ids;
}

function packageVersion(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    const parent = dirname(dir);
    if (parent === dir) return '?';
    dir = parent;
  }
}

/** `PostgreSQL 16.4` or `PGlite 0.5.16 (PostgreSQL 17.5)`, for the machine line of a report. */
export async function databaseVersion(database: Database): Promise<string> {
  const { rows } = await sql<{ serverVersion: string }>`show server_version`.execute(database.db);
  const version = (rows[0]?.serverVersion ?? '?').split(' ')[0];
  return database.kind === 'pglite'
    ? `PGlite ${packageVersion('@electric-sql/pglite')} (PostgreSQL ${version})`
    : `PostgreSQL ${version}`;
}
