/** True for a unique-constraint violation, optionally of the named constraint or index. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string; message?: string } | undefined;
  if (e?.code !== '23505') return false;
  if (constraint === undefined) return true;
  return e.constraint === constraint || (e.message ?? '').includes(`"${constraint}"`);
}

/** Errors of a socket that could not be opened or broke. */
const SOCKET_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** SQLSTATEs of a server that is shutting down, starting up or full (class 08: connection exception). */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** What `pg` throws when a connection ends under a query, or none can be had in time. */
const UNAVAILABLE_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;
/**
 * SQLSTATE 55000 (object not in prerequisite state) as a new connection gets it from a database
 * that does not take connections now (`ALLOW_CONNECTIONS false` during maintenance); the same state
 * of a statement is a fault of the statement, and stays one.
 */
const NOT_ACCEPTING_CONNECTIONS = /is not currently accepting connections/;

/**
 * True when `error` says the database could not be reached, not that the statement was wrong: the
 * request may succeed when sent again.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; errors?: unknown } | undefined;
  if (typeof e !== 'object' || e === null) return false;
  if (
    typeof e.code === 'string' &&
    (SOCKET_ERRORS.has(e.code) || UNAVAILABLE_STATES.has(e.code) || e.code.startsWith('08'))
  ) {
    return true;
  }
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true;
  if (e.code === '55000' && typeof e.message === 'string' && NOT_ACCEPTING_CONNECTIONS.test(e.message)) {
    return true;
  }
  // Node.js tries every address of a host and reports each failure.
  return e instanceof AggregateError && e.errors.some(isDatabaseUnavailable);
}
