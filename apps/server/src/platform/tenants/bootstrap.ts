import { insertApiKey } from '../api-keys/service.ts';
import { ApiError } from '../errors.ts';
import type { Services } from '../services.ts';
import { createTenant, type TenantRecord } from './service.ts';

/**
 * On the first start with an empty database: creates the default tenant and one admin key for it.
 * Returns the plaintext key (shown once) or undefined when tenants already exist.
 */
export async function bootstrapFirstTenant(
  services: Services,
): Promise<{ slug: string; key: string } | undefined> {
  const { db, config, clock } = services;
  const existing = await db.selectFrom('tenants').select('id').limit(1).executeTakeFirst();
  if (existing) return undefined;
  let tenant: TenantRecord;
  try {
    tenant = await createTenant(
      db,
      { slug: config.defaultTenantSlug, name: 'Default tenant' },
      { actor: { type: 'system' }, now: clock.now() },
    );
  } catch (error) {
    // Another process starting on the same empty database got there first; it prints the key.
    if (error instanceof ApiError && error.code === 'tenant_slug_taken') return undefined;
    throw error;
  }
  const { key } = await insertApiKey(db, {
    tenantId: tenant.id,
    keyPrefix: config.keyPrefix,
    name: 'Initial admin key',
    scopes: ['admin'],
    createdBy: 'bootstrap',
    now: clock.now(),
  });
  return { slug: tenant.slug, key };
}
