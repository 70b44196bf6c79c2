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

/** One labelled series of a counter; callers on a hot path keep it and add to `value` directly. */
export interface CounterSeries {
  readonly labels: LabelValues;
  value: number;
}

/** One labelled series of a histogram; `Histogram.observeIn` records into it. */
export interface HistogramSeries {
  readonly labels: LabelValues;
  readonly counts: number[];
  sum: number;
}

/** A counter family kept in memory by this process. */
export class Counter {
  private readonly series = new Map<string, CounterSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
  ) {}

  inc(labels: LabelValues = [], by = 1): void {
    this.seriesOf(labels).value += by;
  }

  /** The series with these label values, made (at 0) when missing. */
  seriesOf(labels: LabelValues): CounterSeries {
    const id = labels.join('\u0001');
    let entry = this.series.get(id);
    if (!entry) {
      entry = { labels: [...labels], value: 0 };
      this.series.set(id, entry);
    }
    return entry;
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
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    readonly bounds: readonly number[],
  ) {}

  /** The series with these label values, made (empty) when missing. */
  seriesOf(labels: LabelValues): HistogramSeries {
    const id = labels.join('\u0001');
    let entry = this.series.get(id);
    if (!entry) {
      entry = { labels: [...labels], counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0 };
      this.series.set(id, entry);
    }
    return entry;
  }

  /** Records a value into a series of this histogram (see `seriesOf`). */
  observeIn(series: HistogramSeries, value: number): void {
    const { bounds } = this;
    let slot = 0;
    while (slot < bounds.length && !(value <= (bounds[slot] as number))) slot++;
    series.counts[slot] = (series.counts[slot] ?? 0) + 1;
    series.sum += value;
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
