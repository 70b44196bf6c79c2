import type { BlockList } from 'node:net';
import type { Tenant } from '../context.ts';
import type { Db, KeyQuota, KeyRateLimit } from '../db/index.ts';
import { ApiError } from '../errors.ts';
import { compileAllowList } from './ip-allowlist.ts';
import { hashKey, MAX_KEY_LENGTH, parseKey, safeEqual } from './key-format.ts';
import { TtlCache } from './ttl-cache.ts';

/** What a verified key grants, as cached in process after the first lookup. */
export interface VerifiedKey {
  id: string;
  name: string;
  scopes: string[];
  environment: 'live' | 'test';
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  deactivatedAt: Date | null;
  /** Where the key may be used from; null = anywhere. */
  allowedIps: BlockList | null;
  rateLimit: KeyRateLimit | null;
  quota: KeyQuota | null;
  /** When the quota began counting (see migration 0012); null: from the start of the period. */
  quotaSince: Date | null;
  tenant: Tenant;
}

const UNKNOWN = Symbol('unknown key');

/**
 * Verifies presented keys. A cache hit costs one hash and a map read; otherwise the shape and
 * checksum are checked before the database, and a miss costs one indexed query by primary key.
 * Changes made in this process invalidate the cache at once; other processes drop their entries
 * when the change reaches them (KeyChangeHub).
 */
export class KeyVerifier {
  private readonly cache: TtlCache<string, VerifiedKey | typeof UNKNOWN>;
  /** Counts invalidations, so a lookup that overlapped one does not cache what it read before it. */
  private generation = 0;

  constructor(
    private readonly db: Db,
    private readonly prefix: string,
    ttlSeconds: number,
    private readonly now: () => Date,
  ) {
    this.cache = new TtlCache(ttlSeconds * 1000, 50_000);
  }

  /**
   * The key a presented string stands for, from the cache alone: undefined when it is not cached
   * and `verify` has to check it. Throws the 401 of a cached key that is unknown, revoked,
   * deactivated or expired, or of another tenant than `slug` names. No promise on this path: a
   * cache hit is answered synchronously.
   */
  verifyCached(presented: string, slug?: string): VerifiedKey | undefined {
    // Only keys whose shape and checksum passed `verify` are ever cached, so a hit needs neither
    // checked again: it costs one hash and a map read.
    if (presented.length > MAX_KEY_LENGTH) return undefined;
    const key = this.cache.get(hashKey(presented));
    return key === undefined ? undefined : this.usable(key, slug);
  }

  async verify(presented: string, slug?: string): Promise<VerifiedKey> {
    const cached = this.verifyCached(presented, slug);
    if (cached) return cached;
    // The checksum before the database: a typo never costs a query, and is never cached.
    const parsed = parseKey(presented, this.prefix);
    if (!parsed) throw invalidKey();
    const hash = hashKey(presented);
    const generation = this.generation;
    const key = (await this.load(`key_${parsed.idSuffix}`, hash)) ?? UNKNOWN;
    if (generation === this.generation) this.cache.set(hash, key);
    return this.usable(key, slug);
  }

  /**
   * The key if it may be used now. Under another tenant's URL (`slug`) any key of this tenant,
   * revoked or not, is refused exactly like an unknown key, so tenants cannot be probed.
   */
  private usable(key: VerifiedKey | typeof UNKNOWN, slug: string | undefined): VerifiedKey {
    if (key === UNKNOWN || (slug !== undefined && key.tenant.slug !== slug)) throw invalidKey();
    if (key.revokedAt) throw new ApiError('api_key_revoked', 'This API key has been revoked');
    if (key.deactivatedAt) {
      throw new ApiError('api_key_inactive', 'This API key is deactivated; activate it again to use it');
    }
    if (key.expiresAt && key.expiresAt <= this.now()) {
      throw new ApiError('api_key_expired', 'This API key has expired');
    }
    return key;
  }

  /** Drops every cached entry of a key or of a tenant, so the next request reads the database. */
  invalidate(filter: { keyId?: string; tenantId?: string }): void {
    this.generation++;
    this.cache.deleteWhere(
      (key) => key !== UNKNOWN && (key.id === filter.keyId || key.tenant.id === filter.tenantId),
    );
  }

  clear(): void {
    this.generation++;
    this.cache.clear();
  }

  private async load(id: string, hash: string): Promise<VerifiedKey | undefined> {
    const row = await this.db
      .selectFrom('apiKeys as k')
      .innerJoin('tenants as t', 't.id', 'k.tenantId')
      .select([
        'k.id',
        'k.name',
        'k.scopes',
        'k.environment',
        'k.keyHash',
        'k.createdAt',
        'k.lastUsedAt',
        'k.expiresAt',
        'k.revokedAt',
        'k.deactivatedAt',
        'k.allowedIps',
        'k.rateLimit',
        'k.quota',
        'k.quotaSince',
        't.id as tenantId',
        't.slug as tenantSlug',
        't.name as tenantName',
        't.plan as tenantPlan',
        't.status as tenantStatus',
      ])
      .where('k.id', '=', id)
      .executeTakeFirst();
    if (!row || !safeEqual(row.keyHash, hash)) return undefined;
    return {
      id: row.id,
      name: row.name,
      scopes: row.scopes,
      environment: row.environment,
      createdAt: row.createdAt,
      lastUsedAt: row.lastUsedAt,
      expiresAt: row.expiresAt,
      revokedAt: row.revokedAt,
      deactivatedAt: row.deactivatedAt,
      allowedIps: row.allowedIps ? compileAllowList(row.allowedIps) : null,
      rateLimit: row.rateLimit,
      quota: row.quota,
      quotaSince: row.quotaSince,
      tenant: {
        id: row.tenantId,
        slug: row.tenantSlug,
        name: row.tenantName,
        plan: row.tenantPlan,
        status: row.tenantStatus,
      },
    };
  }
}

function invalidKey(): ApiError {
  return new ApiError('api_key_invalid', 'The API key is not valid for this tenant');
}

/**
 * Tenants by slug, for the admin key's requests under `/api/t/{slug}/v1`. Only tenants that exist
 * are cached: a slug asked for before its tenant was created is found at once afterwards, by every
 * process.
 */
export class TenantDirectory {
  private readonly cache: TtlCache<string, Tenant>;

  constructor(
    private readonly db: Db,
    ttlSeconds: number,
  ) {
    this.cache = new TtlCache(ttlSeconds * 1000, 10_000);
  }

  async bySlug(slug: string): Promise<Tenant | undefined> {
    const cached = this.cache.get(slug);
    if (cached !== undefined) return cached;
    const row = await this.db
      .selectFrom('tenants')
      .select(['id', 'slug', 'name', 'plan', 'status'])
      .where('slug', '=', slug)
      .executeTakeFirst();
    if (row) this.cache.set(slug, row);
    return row;
  }

  invalidate(slug: string): void {
    this.cache.delete(slug);
  }

  invalidateTenant(tenantId: string): void {
    this.cache.deleteWhere((tenant) => tenant.id === tenantId);
  }

  clear(): void {
    this.cache.clear();
  }
}
