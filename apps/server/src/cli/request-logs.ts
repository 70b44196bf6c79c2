import { fileUnpostedRequestLogs } from '../platform/request-logs/repair.ts';
import { type Command, optionalString, UsageError } from './command.ts';

const DAY_MS = 86_400_000;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** `--from YYYY-MM-DD` as the start of that UTC day; undefined when not given. */
function parseDay(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const match = DATE.exec(value);
  const day = match ? new Date(`${value}T00:00:00.000Z`) : undefined;
  if (day === undefined || Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== value) {
    throw new UsageError(`--from must be a date as YYYY-MM-DD, got "${value}"`);
  }
  return day;
}

const repairPostings: Command = {
  name: 'request-logs repair-postings',
  summary: 'Make request-log lines written by processes older than migration 0016 findable by key and route',
  options: {
    from: {
      type: 'string',
      value: '<YYYY-MM-DD>',
      description: 'First UTC day to look at (default: the oldest day REQUEST_LOG_RETENTION_DAYS keeps)',
    },
  },
  details: [
    'A process of a version before migration 0016 that still runs after it (a rolling deploy) logs',
    'lines that GET /request-logs?keyId= and ?route= cannot find. Run this once such processes are',
    'gone; it files only what is missing, so it is safe while servers run and to run again.',
  ],
  prepare(args) {
    const given = parseDay(optionalString(args, 'from'));
    return async (ctx) => {
      const from = given ?? new Date(ctx.now.getTime() - (ctx.config.requestLogRetentionDays + 1) * DAY_MS);
      const filed = await fileUnpostedRequestLogs(ctx.database.db, from);
      ctx.print(
        `Filed ${filed.byKey} lines under their key and ${filed.byRoute} under their route (${filed.postings} postings) since ${from.toISOString().slice(0, 10)}.`,
      );
    };
  },
};

export const requestLogCommands: Command[] = [repairPostings];
