import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/platform/db/migrate.ts';
import { precompiled, rowById } from '../../src/platform/db/precompiled.ts';
import { selectScoped } from '../../src/platform/db/tenant-scope.ts';
import { createTenant } from '../../src/platform/tenants/service.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

describe('queries compiled once', () => {
  let test: TestDatabase;
  const tenants: { id: string; slug: string }[] = [];

  beforeAll(async () => {
    test = await createTestDatabase();
    await migrate(test.database);
    for (const slug of ['compiled-one', 'compiled-two']) {
      tenants.push(await createTenant(test.database.db, { slug, name: `Tenant ${slug}`, plan: 'starter' }));
    }
  });

  afterAll(async () => {
    await test.database.close();
    await test.drop();
  });

  const tenantBySlug = precompiled((db, slug: string) =>
    db.selectFrom('tenants').select(['id', 'slug', 'createdAt']).where('slug', '=', slug),
  );

  it('runs with each call’s own values, and its rows come back through the plugins', async () => {
    const db = test.database.db;
    for (const tenant of [...tenants, ...tenants]) {
      const rows = await tenantBySlug(db, tenant.slug);
      expect(rows).toHaveLength(1);
      expect(rows[0]?.id).toBe(tenant.id);
      // created_at arrives as createdAt, as with every other query.
      expect(rows[0]?.createdAt).toBeInstanceOf(Date);
    }
    expect(await tenantBySlug(db, 'no-such-tenant')).toEqual([]);
  });

  it('runs inside a transaction, on the transaction’s connection', async () => {
    const db = test.database.db;
    await db
      .transaction()
      .execute(async (trx) => {
        await trx
          .updateTable('tenants')
          .set({ slug: 'compiled-pending' })
          .where('id', '=', tenants[0]!.id)
          .execute();
        expect(await tenantBySlug(trx, 'compiled-pending')).toHaveLength(1);
        throw new Error('roll back');
      })
      .catch((error: Error) => expect(error.message).toBe('roll back'));
    expect(await tenantBySlug(db, 'compiled-pending')).toEqual([]);
    expect(await tenantBySlug(db, 'compiled-one')).toHaveLength(1);
  });

  it('reads a row by id within its tenant only, and not at all for an id of another shape', async () => {
    const db = test.database.db;
    const one = tenants[0]!;
    const two = tenants[1]!;
    const [created] = await db
      .insertInto('partnerGroups')
      .values({
        id: 'grp_01jc000000000000000000000a',
        tenantId: one.id,
        key: 'gold',
        name: 'Gold',
        holdbackDays: 0,
        attributionWindowDays: 30,
        recurring: false,
        isDefault: false,
      })
      .returning('id')
      .execute();
    const groupById = rowById('grp', (scope, id) =>
      selectScoped(scope, 'partnerGroups').select(['id', 'key']).where('id', '=', id),
    );
    expect(await groupById({ db, tenantId: one.id }, created!.id)).toEqual({ id: created!.id, key: 'gold' });
    expect(await groupById({ db, tenantId: two.id }, created!.id)).toBeUndefined();
    expect(await groupById({ db, tenantId: one.id }, 'prt_01jc000000000000000000000a')).toBeUndefined();
    expect(await groupById({ db, tenantId: one.id }, 'not an id')).toBeUndefined();
  });

  it('refuses a query in which a parameter does not appear exactly once', async () => {
    const db = test.database.db;
    const twice = precompiled((db, slug: string) =>
      db.selectFrom('tenants').select('id').where('slug', '=', slug).where('name', '=', slug),
    );
    await expect(twice(db, 'compiled-one')).rejects.toThrow('parameter 0 must appear exactly once');
    const never = precompiled((db, _slug: string) => db.selectFrom('tenants').select('id'));
    await expect(never(db, 'compiled-one')).rejects.toThrow('parameter 0 must appear exactly once');
  });
});
