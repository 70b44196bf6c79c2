import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Database, openPglite } from '../../src/platform/db/index.ts';
import { MigrationError, migrate } from '../../src/platform/db/migrate.ts';
import { newId } from '../../src/platform/ids.ts';
import { childEnv, PRINTED_KEY, startProcess, tempDir } from '../helpers/child-process.ts';
import { call, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

// Starting a server process takes seconds on a busy machine.
vi.setConfig({ testTimeout: 120_000 });

const REFERRAL_CASE = '0013_referral_code_case';

/**
 * Takes the database back to before 0013: referral codes unique only as written, and 0013 not
 * applied, as in a database of a version before it.
 */
async function beforeReferralCase(database: Database): Promise<void> {
  await sql`drop index partners_referral_code_uq`.execute(database.db);
  await sql`create unique index partners_referral_code_uq on partners (tenant_id, referral_code)`.execute(
    database.db,
  );
  await sql`delete from schema_migrations where version = ${REFERRAL_CASE}`.execute(database.db);
}

describe('upgrading a database whose partners hold referral codes that differ only in case (0013)', () => {
  let server: TestServer;
  let tenant: TestTenant;
  const partners: string[] = [];

  beforeAll(async () => {
    server = await startServer();
    tenant = await createTenant(server);
    for (const [email, code] of [
      ['summer@example.com', 'Summer24'],
      ['sun@example.com', 'Other123'],
    ]) {
      const created = await call(server, 'POST', '/api/v1/partners', {
        key: tenant.key,
        body: { email, referralCode: code },
      });
      expect(created.status).toBe(201);
      partners.push(created.body.data.id);
    }
    await beforeReferralCase(server.services.database);
    // As a version before 0013 allowed it.
    await sql`update partners set referral_code = 'SUMMER24' where id = ${partners[1]}`.execute(
      server.services.database.db,
    );
  });
  afterAll(() => server.close());

  it('is refused, naming the tenant, the partners and their codes, and how to change one', async () => {
    const refused = await migrate(server.services.database).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(MigrationError);
    const message = (refused as Error).message;
    expect(message).toContain(`migration ${REFERRAL_CASE} failed: tenant ${tenant.slug} (${tenant.id})`);
    expect(message).toContain(`${partners[0]} (Summer24), ${partners[1]} (SUMMER24)`);
    expect(message).toContain('PATCH /partners/{id} on the version running now');
    expect(message).toContain("update partners set referral_code = 'NEWCODE'");
  });

  it('applies once a code is changed as it says, and then holds codes unique in any case', async () => {
    const changed = await call(server, 'PATCH', `/api/v1/partners/${partners[1]}`, {
      key: tenant.key,
      body: { referralCode: 'WINTER25' },
    });
    expect(changed.status).toBe(200);
    expect(await migrate(server.services.database)).toEqual([REFERRAL_CASE]);
    const clash = await call(server, 'PATCH', `/api/v1/partners/${partners[1]}`, {
      key: tenant.key,
      body: { referralCode: 'summer24' },
    });
    expect(clash.status).toBe(409);
  });
});

describe('a database a newer version has migrated', () => {
  it('is refused, naming what this version does not know, and left as it is', async () => {
    const server = await startServer();
    try {
      const { db } = server.services.database;
      await sql`insert into schema_migrations (version) values ('9999_from_a_later_version')`.execute(db);
      const refused = await migrate(server.services.database).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(MigrationError);
      expect((refused as Error).message).toBe(
        'the database was migrated by a newer version of Partnerline (9999_from_a_later_version); run that version or a later one',
      );
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from schema_migrations`.execute(db);
      expect(rows[0]?.n).toBeGreaterThan(16);
    } finally {
      await server.close();
    }
  });
});

describe('a server started on such a database', () => {
  it('stops with one line saying what to change, and changes nothing', async () => {
    const dir = await tempDir('partnerline-migration');
    try {
      const database = await openPglite(dir.path);
      try {
        await migrate(database);
        await beforeReferralCase(database);
        const tenantId = newId('ten');
        await sql`insert into tenants (id, slug, name) values (${tenantId}, 'acme', 'Acme')`.execute(
          database.db,
        );
        for (const [email, code] of [
          ['summer@example.com', 'Summer24'],
          ['sun@example.com', 'summer24'],
        ]) {
          await sql`insert into partners (id, tenant_id, email, status, referral_code)
            values (${newId('prt')}, ${tenantId}, ${email}, 'active', ${code})`.execute(database.db);
        }
      } finally {
        await database.close();
      }
      const exit = await startProcess(['--import', 'tsx', 'src/main.ts'], childEnv({ DATA_DIR: dir.path }))
        .finished;
      expect(exit.code).toBe(1);
      const lines = exit.stderr.split('\n').filter((line) => line !== '');
      expect(lines, exit.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^partnerline: cannot open the database: migration 0013_referral_code_case failed: tenant acme \(ten_\w+\) has partners whose referral codes differ only in letter case: prt_\w+ \(Summer24\), prt_\w+ \(summer24\); give all but one/,
      );
      expect(exit.stdout).not.toMatch(PRINTED_KEY);

      const after = await openPglite(dir.path);
      try {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from schema_migrations where version = ${REFERRAL_CASE}`.execute(
          after.db,
        );
        expect(rows[0]?.n).toBe(0);
      } finally {
        await after.close();
      }
    } finally {
      await dir.remove();
    }
  });
});
