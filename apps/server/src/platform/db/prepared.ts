import { createHash } from 'node:crypto';
import pg from 'pg';

/** SQLSTATE 0A000 with this message: a column was added to a table a prepared `*` reads. */
const PLAN_CHANGED = 'cached plan must not change result type';

interface NamedStatement {
  name: string;
  text: string;
  values: unknown[];
}

/**
 * Submits a named statement as a query object of `pg`'s own. Handed a plain config object instead,
 * `pg` would copy it property by property (`Object.getOwnPropertyDescriptors`) on every call, as
 * dear as parsing the row of a one-row read; `new Query(text, values)` takes the two as they are,
 * and the name is set on the query before it is queued.
 */
function submitNamed(
  submit: (query: pg.Query) => unknown,
  statement: NamedStatement,
): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    const query = new pg.Query(statement.text, statement.values, (error, result) =>
      error ? reject(error) : resolve(result as unknown as pg.QueryResult),
    );
    // Not in the type definitions, but what `pg` reads to name (prepare) the statement.
    (query as { name?: string }).name = statement.name;
    submit(query);
  });
}

/**
 * Makes every connection of the pool run parameterised statements as named prepared statements,
 * so PostgreSQL parses and plans each statement text once per connection instead of on every
 * call — for the one-statement sale of `POST /events` that planning was most of its database time.
 * The name is a hash of the text, so the same text always gets the same name. At most
 * `maxStatements` texts are named per pool (each connection keeps a plan for each): beyond that,
 * new texts run unnamed. A statement whose plan a migration invalidated (a column added to a table
 * it reads with `*`) runs unnamed from then on, and at once again when it was not in a transaction
 * (in one, PostgreSQL has aborted the transaction; its caller sees the error).
 *
 * A prepared statement is planned before its parameters have values, so whatever PostgreSQL must
 * decide from the text alone has to be a literal there: the predicate of a partial unique index
 * named by `ON CONFLICT (…) WHERE …` (see payouts), for instance.
 */
export function prepareStatements(pool: pg.Pool, maxStatements: number): void {
  /** Text → its statement name; null for a text that runs unnamed for good. */
  const names = new Map<string, string | null>();
  const nameOf = (text: string): string | null => {
    let name = names.get(text);
    if (name === undefined) {
      name = names.size < maxStatements ? `pl_${createHash('sha1').update(text).digest('hex')}` : null;
      if (name !== null) names.set(text, name);
    }
    return name;
  };
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    const named = async (config: NamedStatement): Promise<pg.QueryResult> => {
      try {
        return await submitNamed(query, config);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.includes(PLAN_CHANGED)) throw error;
        names.set(config.text, null);
        return (await query(config.text, config.values)) as pg.QueryResult;
      }
    };
    // Kysely calls query(text, values) and awaits the promise; other forms pass through unchanged.
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const [text, values] = args;
      if (args.length === 2 && typeof text === 'string' && Array.isArray(values) && values.length > 0) {
        const name = nameOf(text);
        if (name !== null) return named({ name, text, values });
      }
      return query(...args);
    };
  });
}
