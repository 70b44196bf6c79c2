import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openPostgres } from '../../src/platform/db/index.ts';
import { createTestDatabase, onPostgres, type TestDatabase } from '../helpers/database.ts';

// Prepared statements are a PostgreSQL connection feature; PGlite runs every statement in process.
describe.runIf(onPostgres)('prepared statements on PostgreSQL', () => {
  let test: TestDatabase;
  /** One connection, so the session the checks read is the one the statements ran on. */
  const opened: Database[] = [];
  const open = async (preparedStatements: boolean) => {
    const database = await openPostgres(test.url as string, { poolSize: 1, preparedStatements });
    opened.push(database);
    return database.db;
  };
  const prepared = async (db: Database['db']) =>
    (
      await sql<{
        name: string;
        statement: string;
      }>`select name, statement from pg_prepared_statements`.execute(db)
    ).rows;

  beforeAll(async () => {
    test = await createTestDatabase();
    await sql`create table things (id int primary key, label text)`.execute(test.database.db);
    await sql`insert into things values (1, 'one'), (2, 'two')`.execute(test.database.db);
  });

  afterAll(async () => {
    for (const database of opened) await database.close();
    await test.database.close();
    await test.drop();
  });

  it('prepares a parameterised statement once and reuses it', async () => {
    const db = await open(true);
    for (const id of [1, 2, 1]) {
      const { rows } = await sql<{ label: string }>`select label from things where id = ${id}`.execute(db);
      expect(rows).toEqual([{ label: id === 1 ? 'one' : 'two' }]);
    }
    const statements = (await prepared(db)).filter((s) => s.statement.includes('from things'));
    expect(statements).toHaveLength(1);
    expect(statements[0]?.name).toMatch(/^pl_[0-9a-f]{40}$/);
  });

  it('runs a statement again when a migration changed the columns its plan returns', async () => {
    const db = await open(true);
    const read = () => sql<Record<string, unknown>>`select * from things where id = ${1}`.execute(db);
    expect((await read()).rows).toEqual([{ id: 1, label: 'one' }]);
    await sql`alter table things add column note text`.execute(test.database.db);
    expect((await read()).rows).toEqual([{ id: 1, label: 'one', note: null }]);
  });

  it('prepares nothing with DATABASE_PREPARED_STATEMENTS=false', async () => {
    const db = await open(false);
    await sql`select label from things where id = ${2}`.execute(db);
    expect(await prepared(db)).toEqual([]);
  });
});
