import { CompiledQuery as Compiled, type CompiledQuery, type KyselyPlugin } from 'kysely';
import { listTransactions } from '../apps/server/src/modules/transactions/service.ts';
import type { Db } from '../apps/server/src/platform/db/index.ts';

/** A list request as `listTransactions` gets it from the route. */
export interface ListRequest {
  limit: number;
  page?: number;
  cursor?: string;
}

/** The statements `listTransactions` sends for one request, compiled exactly as the server sends them. */
export async function listStatements(
  db: Db,
  tenantId: string,
  request: ListRequest,
): Promise<CompiledQuery[]> {
  const statements: CompiledQuery[] = [];
  const recorder: KyselyPlugin = {
    transformQuery(args) {
      // The node has been through the app's own plugins (camelCase) already: compile it as it is.
      statements.push(db.getExecutor().compileQuery(args.node, args.queryId));
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  await listTransactions({ db: db.withPlugin(recorder), tenantId }, request);
  return statements;
}

/** `(cost=… width=…) ` estimates are noise next to the actual figures. */
const ESTIMATE = /\(cost=[^)]*\) /;

/**
 * EXPLAIN (ANALYZE, BUFFERS) of a statement after one plain run of it (so caches are as the load left
 * them), without the planner's estimates and its own catalogue reads.
 */
export async function explainAnalyze(db: Db, statement: CompiledQuery): Promise<string[]> {
  await db.executeQuery(statement);
  const { rows } = await db.executeQuery<Record<string, string>>(
    Compiled.raw(`explain (analyze, buffers) ${statement.sql}`, [...statement.parameters]),
  );
  const lines = rows.map((row) => Object.values(row)[0] ?? '');
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === 'Planning:') {
      if (lines[i + 1]?.trim().startsWith('Buffers:')) i++;
      continue;
    }
    kept.push(line.replace(ESTIMATE, ''));
  }
  return kept;
}
