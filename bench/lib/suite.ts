/** One benchmark: its name on the command line and in docs/benchmarks.md markers, and its run. */
export interface Suite {
  name: string;
  /** Runs the benchmark and returns its Markdown section, heading included. */
  run(): Promise<string>;
}

/** A numeric setting from the environment, e.g. BENCH_DURATION=5 for a quick run. */
export function setting(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
