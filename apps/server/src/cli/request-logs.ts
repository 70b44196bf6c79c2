import { DATE_FILTER_RULE, dateBound } from '../platform/dates.ts';
import { ApiError } from '../platform/errors.ts';
import { DateFilter } from '../platform/http/schemas.ts';
import { fileUnpostedRequestLogs } from '../platform/request-logs/repair.ts';
import { type Command, optionalString, UsageError } from './command.ts';

const DAY_MS = 86_400_000;
const DATE_FILTER = new RegExp(DateFilter.pattern as string);

/** `--from` as the API's `from` filters take it (`YYYY-MM-DD` or a timestamp); undefined when not given. */
function parseFrom(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  if (!DATE_FILTER.test(value)) throw new UsageError(`--from ${DATE_FILTER_RULE}, got "${value}"`);
  try {
    return dateBound('--from', value, 'from').at;
  } catch (error) {
    if (error instanceof ApiError) throw new UsageError(`${error.message}, got "${value}"`);
    throw error;
  }
}

const repairPostings: Command = {
  name: 'request-logs repair-postings',
  summary: 'Make request-log lines written by processes older than migration 0016 findable by key and route',
  options: {
    from: {
      type: 'string',
      value: '<date>',
      description:
        'Where to start: YYYY-MM-DD (from that UTC day) or a timestamp (default: the oldest day REQUEST_LOG_RETENTION_DAYS keeps)',
    },
  },
  details: [
    'A process of a version before migration 0016 that still runs after it (a rolling deploy) logs',
    'lines that GET /request-logs?keyId= and ?route= cannot find. Run this once such processes are',
    'gone; it files only what is missing, so it is safe while servers run and to run again.',
  ],
  prepare(args) {
    const given = parseFrom(optionalString(args, 'from'));
    return async (ctx) => {
      const from = given ?? new Date(ctx.now.getTime() - (ctx.config.requestLogRetentionDays + 1) * DAY_MS);
      const filed = await fileUnpostedRequestLogs(ctx.database.db, from);
      ctx.print(
        `Filed ${filed.byKey} lines under their key and ${filed.byRoute} under their route (${filed.postings} postings) since ${from.toISOString()}.`,
      );
    };
  },
};

export const requestLogCommands: Command[] = [repairPostings];
