import { type RawBuilder, sql } from 'kysely';
import { ApiError } from './errors.ts';

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * A date filter as a bound: `YYYY-MM-DD` covers the whole UTC day (inclusive at both ends), a
 * timestamp is taken as given. `to` bounds are exclusive of the next day, hence `lt`.
 */
export function dateBound(
  field: string,
  value: string,
  edge: 'from' | 'to',
): { op: '>=' | '<' | '<='; at: Date } {
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
      errors: [
        { field, code: 'invalid_format', message: `${field} must be YYYY-MM-DD or an ISO 8601 timestamp` },
      ],
    });
  }
  if (edge === 'from') return { op: '>=', at };
  if (day) return { op: '<', at: new Date(at.getTime() + 86_400_000) };
  return { op: '<=', at };
}

/** A query that can take one more `where` on a timestamp column. */
interface Filterable<Q> {
  where(column: RawBuilder<unknown>, op: '>=' | '<' | '<=', value: Date): Q;
}

/**
 * Adds the `from`/`to` date filters of a list to a query on one timestamp column (`occurred_at`,
 * `created_at`). `fields` names the two query parameters in error messages.
 */
export function withinDates<Q extends Filterable<Q>>(
  query: Q,
  column: string,
  range: { from?: string | undefined; to?: string | undefined },
  fields: readonly [string, string] = ['from', 'to'],
): Q {
  let filtered = query;
  if (range.from) {
    const bound = dateBound(fields[0], range.from, 'from');
    filtered = filtered.where(sql.ref(column), bound.op, bound.at);
  }
  if (range.to) {
    const bound = dateBound(fields[1], range.to, 'to');
    filtered = filtered.where(sql.ref(column), bound.op, bound.at);
  }
  return filtered;
}
