import { performance } from 'node:perf_hooks';

/** A revocation that has not reached the other process after this long counts as lost: the run fails. */
const GIVE_UP_MS = 5_000;

/** Two server processes on one database: keys are revoked on `revokeUrl` and watched on `pollUrl`. */
export interface PropagationTarget {
  revokeUrl: string;
  pollUrl: string;
  slug: string;
  adminKey: string;
}

export interface RevocationSample {
  /** From just before the DELETE was sent to A until B first answered 401 `api_key_revoked`. */
  delayMs: number;
  /** How long A took to answer the DELETE. */
  deleteMs: number;
  /** Requests B answered for the key from the DELETE on, the refusing one included. */
  polls: number;
}

async function probe(baseUrl: string, key: string): Promise<{ status: number; code: string | undefined }> {
  const response = await fetch(`${baseUrl}/api/v1/me`, { headers: { 'x-api-key': key } });
  const text = await response.text();
  if (response.status < 400) return { status: response.status, code: undefined };
  return { status: response.status, code: (JSON.parse(text) as { code?: string }).code };
}

/**
 * Warms `key` in B's cache, revokes it through A and polls B back-to-back (one request in flight)
 * until B refuses it.
 */
export async function measureRevocation(
  target: PropagationTarget,
  key: { id: string; key: string },
): Promise<RevocationSample> {
  const warm = await probe(target.pollUrl, key.key);
  if (warm.status !== 200)
    throw new Error(`key ${key.id} was not accepted before its revocation: ${warm.status}`);
  const started = performance.now();
  const revoked = fetch(`${target.revokeUrl}/api/t/${target.slug}/v1/api-keys/${key.id}`, {
    method: 'DELETE',
    headers: { 'x-api-key': target.adminKey },
  }).then(async (response) => {
    await response.text();
    if (response.status !== 200) throw new Error(`DELETE of ${key.id} answered ${response.status}`);
    return performance.now() - started;
  });
  // Awaited below; this only keeps a failed DELETE from being reported twice.
  revoked.catch(() => {});
  let polls = 0;
  for (;;) {
    const seen = await probe(target.pollUrl, key.key);
    polls++;
    if (seen.status === 401) {
      if (seen.code !== 'api_key_revoked')
        throw new Error(`key ${key.id}: expected api_key_revoked, got ${seen.code}`);
      break;
    }
    if (performance.now() - started > GIVE_UP_MS) {
      throw new Error(`key ${key.id} was still accepted ${GIVE_UP_MS} ms after its revocation: lost change`);
    }
  }
  const delayMs = performance.now() - started;
  return { delayMs, deleteMs: await revoked, polls };
}

export interface Distribution {
  count: number;
  min: number;
  median: number;
  p90: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles, as the other benchmarks report them. */
export function distribution(values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  return {
    count: sorted.length,
    min: sorted[0] ?? 0,
    median: at(50),
    p90: at(90),
    max: sorted[sorted.length - 1] ?? 0,
    mean: sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length),
  };
}
