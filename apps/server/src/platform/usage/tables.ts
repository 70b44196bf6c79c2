import type { Kysely } from 'kysely';
import type { DB, Db } from '../db/index.ts';

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';

/** One row of usage_minute, usage_hour or usage_day (migration 0006). */
export interface UsageTable {
  tenantId: string;
  bucket: Date;
  /** '' for the platform admin key. */
  keyId: string;
  route: string;
  method: string;
  statusClass: StatusClass;
  requests: number;
  rateLimited: number;
  /** Requests that took nothing from the key's limits (migration 0015); see UsageHit. */
  uncharged: number;
  latency: number[];
}

export type UsageTables = {
  usageMinute: UsageTable;
  usageHour: UsageTable;
  usageDay: UsageTable;
};

export type UsageDb = Kysely<DB & UsageTables>;

/** The analytics tables live outside the domain schema; this types them on the shared connection. */
export function usageDb(db: Db): UsageDb {
  return db.withTables<UsageTables>();
}
