/**
 * The few metric types /metrics needs, written out in the Prometheus text exposition format
 * (version 0.0.4). Label values are always bounded sets (route templates, methods, status codes):
 * a family never grows with the traffic's raw paths, ids or tenants.
 */

export type LabelValues = readonly string[];

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function labelText(names: readonly string[], values: LabelValues, extra?: [string, string]): string {
  const pairs = names.map((name, i) => `${name}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function header(out: string[], name: string, help: string, type: string): void {
  out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
}

/** A sample of a gauge or counter whose value is read at scrape time. */
export interface Sample {
  labels?: Record<string, string>;
  value: number;
}

/** Writes a family whose values come from elsewhere (process stats, buffers, pools). */
export function writeFamily(
  out: string[],
  family: { name: string; help: string; type: 'gauge' | 'counter' },
  samples: Sample[],
): void {
  header(out, family.name, family.help, family.type);
  for (const sample of samples) {
    const names = Object.keys(sample.labels ?? {});
    const values = Object.values(sample.labels ?? {});
    out.push(`${family.name}${labelText(names, values)} ${formatNumber(sample.value)}`);
  }
}

/** A counter family kept in memory by this process. */
export class Counter {
  private readonly series = new Map<string, { labels: LabelValues; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
  ) {}

  inc(labels: LabelValues = [], by = 1): void {
    const id = labels.join('\u0001');
    const entry = this.series.get(id);
    if (entry) entry.value += by;
    else this.series.set(id, { labels: [...labels], value: by });
  }

  write(out: string[]): void {
    header(out, this.name, this.help, 'counter');
    if (this.series.size === 0 && this.labelNames.length === 0) out.push(`${this.name} 0`);
    for (const { labels, value } of this.series.values()) {
      out.push(`${this.name}${labelText(this.labelNames, labels)} ${formatNumber(value)}`);
    }
  }
}

/** A histogram family with fixed bucket bounds (in the metric's own unit). */
export class Histogram {
  private readonly series = new Map<string, { labels: LabelValues; counts: number[]; sum: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly bounds: readonly number[],
  ) {}

  observe(labels: LabelValues, value: number): void {
    const id = labels.join('\u0001');
    let entry = this.series.get(id);
    if (!entry) {
      entry = { labels: [...labels], counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0 };
      this.series.set(id, entry);
    }
    let slot = this.bounds.findIndex((bound) => value <= bound);
    if (slot === -1) slot = this.bounds.length;
    entry.counts[slot] = (entry.counts[slot] ?? 0) + 1;
    entry.sum += value;
  }

  write(out: string[]): void {
    header(out, this.name, this.help, 'histogram');
    for (const { labels, counts, sum } of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += counts[i] ?? 0;
        const le = i < this.bounds.length ? formatNumber(this.bounds[i] as number) : '+Inf';
        out.push(`${this.name}_bucket${labelText(this.labelNames, labels, ['le', le])} ${cumulative}`);
      }
      const text = labelText(this.labelNames, labels);
      out.push(`${this.name}_sum${text} ${formatNumber(sum)}`, `${this.name}_count${text} ${cumulative}`);
    }
  }
}
