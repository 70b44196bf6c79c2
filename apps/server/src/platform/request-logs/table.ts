import type { Kysely } from 'kysely';
import type { DB, Db } from '../db/index.ts';

/** One row of the partitioned request_logs table (migration 0006). */
export interface RequestLogsTable {
  /** The request id (`req_…`), as sent in `X-Request-Id`. */
  id: string;
  tenantId: string;
  createdAt: Date;
  keyId: string | null;
  method: string;
  path: string;
  route: string | null;
  status: number;
  latencyMs: number;
  ip: string | null;
  userAgent: string | null;
  responseBytes: number | null;
  errorCode: string | null;
}

/** The request log lives outside the domain schema; this types it on the shared connection. */
export function requestLogDb(db: Db): Kysely<DB & { requestLogs: RequestLogsTable }> {
  return db.withTables<{ requestLogs: RequestLogsTable }>();
}
