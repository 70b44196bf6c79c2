import { randomBytes } from 'node:crypto';
import { type Compilable, CompiledQuery } from 'kysely';
import { type IdPrefix, isId } from '../ids.ts';
import type { Db } from './index.ts';
import type { ScopeContext } from './tenant-scope.ts';

/**
 * A query built and compiled once per process, then run with new values for its string parameters:
 * for the hottest reads, where building the query with Kysely on every call is a large part of the
 * request. Building it means a tree of frozen objects that the camel-case plugin copies and the
 * compiler walks; for one row by id that was about 40 % of the instructions the bare partners route
 * ran per request, and in the platform's process V8 at times gives those objects a new hidden class
 * on every call, so their property reads miss every inline cache (see "Query building" in
 * docs/benchmarks.md).
 *
 * `build` is called once, with placeholders for the parameters; each placeholder must end up as
 * exactly one parameter of the compiled statement, so the statement's text cannot depend on a
 * parameter's value. The text depends only on the query compiler and the plugins, which are the same
 * for PGlite and PostgreSQL. Rows come back through the plugins as with any other query.
 */
export function precompiled<Row, Params extends readonly string[]>(
  build: (db: Db, ...params: Params) => Compilable<Row>,
): (db: Db, ...params: Params) => Promise<Row[]> {
  let statement: { sql: string; template: unknown[]; slots: number[] } | undefined;
  return async (db, ...params) => {
    statement ??= compile(db, build, params.length);
    const values = statement.template.slice();
    let param = 0;
    for (const slot of statement.slots) values[slot] = params[param++];
    const result = await db.executeQuery<Row>(CompiledQuery.raw(statement.sql, values));
    return result.rows;
  };
}

/**
 * One of the tenant's rows by its id, with the query compiled once (see `precompiled`): undefined
 * when the id has another shape or the tenant has no such row. `build` selects from a scoped query.
 */
export function rowById<Row>(
  prefix: IdPrefix,
  build: (scope: ScopeContext, id: string) => Compilable<Row>,
): (ctx: { db: Db; tenantId: string }, id: string) => Promise<Row | undefined> {
  const run = precompiled((db, tenantId: string, id: string) => build({ db, tenantId }, id));
  return async (ctx, id) => (isId(prefix, id) ? (await run(ctx.db, ctx.tenantId, id))[0] : undefined);
}

function compile<Row, Params extends readonly string[]>(
  db: Db,
  build: (db: Db, ...params: Params) => Compilable<Row>,
  arity: number,
): { sql: string; template: unknown[]; slots: number[] } {
  const tag = randomBytes(8).toString('hex');
  const placeholders = Array.from({ length: arity }, (_, i) => `\u0000param:${tag}:${i}`);
  const compiled = build(db, ...(placeholders as unknown as Params)).compile();
  const template = [...compiled.parameters];
  const slots = placeholders.map((placeholder) => {
    const at = template.indexOf(placeholder);
    if (at === -1 || template.indexOf(placeholder, at + 1) !== -1) {
      throw new Error(`precompiled query: parameter ${placeholder.split(':')[2]} must appear exactly once`);
    }
    return at;
  });
  return { sql: compiled.sql, template, slots };
}
