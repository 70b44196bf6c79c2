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

/** A posting's bucket: an id's first 11 characters, `req_` and the top 33 bits of its time (about 33 s). */
export const BUCKET_LENGTH = 11;

/** One row of request_log_postings (migration 0016): the ids of a key's or route's rows. */
export interface RequestLogPostingsTable {
  tenantId: string;
  field: 'key' | 'route';
  value: string;
  bucket: string;
  day: Date;
  firstId: string;
  /** Comma-separated. */
  ids: string;
}

type RequestLogTables = {
  requestLogs: RequestLogsTable;
  requestLogPostings: RequestLogPostingsTable;
};

/** The request log lives outside the domain schema; this types it on the shared connection. */
export function requestLogDb(db: Db): Kysely<DB & RequestLogTables> {
  return db.withTables<RequestLogTables>();
}
