/** The arithmetic mean; NaN for no values. */
export const mean = (values: number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return Number.isInteger(middle) ? (sorted[middle - 1]! + sorted[middle]!) / 2 : sorted[Math.floor(middle)]!;
}

/** A share as a percentage with one decimal and a real minus sign: `−6.3 %`. */
export const percent = (value: number): string =>
  `${value < 0 ? '−' : ''}${Math.abs(value * 100).toFixed(1)} %`;
