import { performance } from 'node:perf_hooks';
import type { CompiledQuery, KyselyPlugin } from 'kysely';
import { KeyVerifier } from '../../apps/server/src/platform/auth/key-verifier.ts';
import type { Database } from '../../apps/server/src/platform/db/index.ts';

export interface Timing {
  iterations: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
}

function summarize(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  const total = samples.reduce((sum, value) => sum + value, 0);
  return { iterations: samples.length, meanUs: total / samples.length, p50Us: at(50), p99Us: at(99) };
}

/** Times `fn` one call at a time, after a warm-up, for `iterations` calls or `budgetMs`, whichever ends first. */
async function time(
  fn: () => Promise<unknown>,
  options: { iterations: number; budgetMs: number; before?: () => void },
): Promise<Timing> {
  const warmup = Math.ceil(options.iterations / 10);
  for (let i = 0; i < warmup; i++) {
    options.before?.();
    await fn();
  }
  const samples: number[] = [];
  const deadline = performance.now() + options.budgetMs;
  while (samples.length < options.iterations && performance.now() < deadline) {
    options.before?.();
    const start = performance.now();
    await fn();
    samples.push((performance.now() - start) * 1000);
  }
  return summarize(samples);
}

/**
 * The cost of `KeyVerifier.verify` for one valid key: a cache hit (SHA-256, map read) and a miss (the
 * same plus the shape and checksum check and one query by primary key), the miss forced by
 * invalidating the key before each call.
 */
export async function measureKeyVerification(
  verifier: KeyVerifier,
  key: { id: string; key: string },
): Promise<{ hit: Timing; miss: Timing }> {
  await verifier.verify(key.key);
  const hit = await time(() => verifier.verify(key.key), { iterations: 50_000, budgetMs: 3_000 });
  const miss = await time(() => verifier.verify(key.key), {
    iterations: 5_000,
    budgetMs: 3_000,
    before: () => verifier.invalidate({ keyId: key.id }),
  });
  return { hit, miss };
}

/**
 * The statements one cache miss runs, each with the first line of its query plan that reads a table,
 * so a report can show that a miss is one indexed lookup. Uses a verifier of its own whose database
 * handle records every query it compiles.
 */
export async function missQueryPlans(
  database: Database,
  keyPrefix: string,
  key: string,
): Promise<{ queries: number; plans: string[] }> {
  const compiled: CompiledQuery[] = [];
  const recorder: KyselyPlugin = {
    transformQuery: ({ node, queryId }) => {
      compiled.push(database.db.getExecutor().compileQuery(node, queryId));
      return node;
    },
    transformResult: async ({ result }) => result,
  };
  const verifier = new KeyVerifier(database.db.withPlugin(recorder), keyPrefix, 60, () => new Date());
  await verifier.verify(key);
  const plans: string[] = [];
  for (const query of compiled) {
    const rows = await database.withSession((client) =>
      client.query<{ 'QUERY PLAN': string }>(`explain ${query.sql}`, [...query.parameters]),
    );
    const scans = rows.map((row) => row['QUERY PLAN'].replace(/^[\s->]+/, '').replace(/\s+\(cost=.*$/, ''));
    plans.push(scans.filter((line) => /Scan/.test(line)).join('; '));
  }
  return { queries: compiled.length, plans };
}
