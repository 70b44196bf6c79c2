import { type RawBuilder, sql } from 'kysely';
import { ApiError } from './errors.ts';

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

/**
 * The instants the API takes and stores: the years 0001 through 9999, which JavaScript writes as
 * four-digit ISO 8601 years. Outside them it writes `0000-…` (a year PostgreSQL does not have),
 * `-000001-…` or `+010000-…`, which PostgreSQL refuses.
 */
const EARLIEST = Date.parse('0001-01-01T00:00:00.000Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

/** What a date filter (`from`, `createdTo`, …) takes, as its error says. */
export const DATE_FILTER_RULE =
  'must be YYYY-MM-DD or an ISO 8601 timestamp with a time zone, such as 2026-05-01T12:00:00Z';

/** The supported range as error messages name it. */
export const SUPPORTED_DATES = '0001-01-01 through 9999-12-31 (UTC)';

export function isSupportedInstant(ms: number): boolean {
  return ms >= EARLIEST && ms <= LATEST;
}

/**
 * A bound computed from a supported date — the end of its bucket, a start some buckets earlier —
 * moved back into the supported range. Nothing is stored outside it, so the bound selects the
 * same rows as the instant it could not be written as.
 */
export function withinSupportedRange(ms: number): Date {
  return new Date(Math.min(Math.max(ms, EARLIEST), LATEST));
}

/**
 * A date filter as a bound: `YYYY-MM-DD` covers the whole UTC day (inclusive at both ends), a
 * timestamp is taken as given. `to` bounds are exclusive of the next day, hence `lt`; the last
 * supported day has no next day to write, so it ends inclusively at its last millisecond.
 */
/** Fraction digits past the millisecond, not all zero: `.1880001`, `.188001Z`. */
const SUB_MILLISECOND = /\.\d{3}0*[1-9]\d*(?:Z|[+-]\d{2}:?\d{2})?$/i;

export function dateBound(
  field: string,
  value: string,
  edge: 'from' | 'to',
): { op: '>=' | '>' | '<' | '<='; at: Date } {
  const day = DAY.exec(value);
  const at = new Date(day ? `${value}T00:00:00.000Z` : value);
  // Date parsing rolls 2026-02-30 over to March 2; the calendar day written must exist.
  const written = value.slice(0, 10);
  const midnight = new Date(`${written}T00:00:00.000Z`);
  const valid =
    !Number.isNaN(at.getTime()) &&
    !Number.isNaN(midnight.getTime()) &&
    midnight.toISOString().startsWith(written);
  if (!valid) {
    throw new ApiError('validation_error', `${field} is not a valid date`, {
      errors: [{ field, code: 'invalid_format', message: `${field} ${DATE_FILTER_RULE}` }],
    });
  }
  if (!isSupportedInstant(at.getTime())) {
    const message = `${field} must be from ${SUPPORTED_DATES}`;
    throw new ApiError('validation_error', message, {
      errors: [{ field, code: 'out_of_range', message }],
    });
  }
  // Stored times have whole milliseconds and a Date keeps no more: a `from` with a part of a
  // millisecond (`.188001`) starts after the millisecond it is in; a `to` ends within it anyway.
  // The last supported millisecond has no next one to start at: after it, then.
  if (edge === 'from' && SUB_MILLISECOND.test(value)) {
    return at.getTime() < LATEST ? { op: '>=', at: new Date(at.getTime() + 1) } : { op: '>', at };
  }
  if (edge === 'from') return { op: '>=', at };
  if (!day) return { op: '<=', at };
  const next = at.getTime() + DAY_MS;
  return isSupportedInstant(next) ? { op: '<', at: new Date(next) } : { op: '<=', at: new Date(LATEST) };
}

/** A query that can take one more `where` on a timestamp column. */
interface Filterable<Q> {
  where(column: RawBuilder<unknown>, op: '>=' | '>' | '<' | '<=', value: Date): Q;
}

/**
 * Adds the `from`/`to` date filters of a list to a query on one timestamp column (`occurred_at`,
 * `created_at`). `fields` names the two query parameters in error messages. The same day as both
 * ends is that whole day; an end before the start is a 400.
 */
export function withinDates<Q extends Filterable<Q>>(
  query: Q,
  column: string,
  range: { from?: string | undefined; to?: string | undefined },
  fields: readonly [string, string] = ['from', 'to'],
): Q {
  const from = range.from ? dateBound(fields[0], range.from, 'from') : undefined;
  const to = range.to ? dateBound(fields[1], range.to, 'to') : undefined;
  // A range that ends before it begins is a mistake in the request, not an empty answer.
  if (from && to && (to.op === '<' ? from.at >= to.at : from.at > to.at)) {
    const message = `${fields[0]} must not be after ${fields[1]}`;
    throw new ApiError('validation_error', message, {
      errors: [{ field: fields[0], code: 'out_of_range', message }],
    });
  }
  let filtered = query;
  if (from) filtered = filtered.where(sql.ref(column), from.op, from.at);
  if (to) filtered = filtered.where(sql.ref(column), to.op, to.at);
  return filtered;
}

/**
 * The same day and time `months` calendar months later (UTC); a day the target month lacks becomes
 * its last day, so January 31 plus one month is February 28 (or 29), never March 3.
 */
export function addMonths(at: Date, months: number): Date {
  const result = new Date(at);
  result.setUTCDate(1);
  result.setUTCMonth(result.getUTCMonth() + months);
  const lastDay = new Date(result);
  // Day 0 of the next month is the last day of this one.
  lastDay.setUTCMonth(lastDay.getUTCMonth() + 1, 0);
  result.setUTCDate(Math.min(at.getUTCDate(), lastDay.getUTCDate()));
  return result;
}
