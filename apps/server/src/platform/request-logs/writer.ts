import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import type { Database, Db } from '../db/index.ts';
import { ensureRequestLogPartitions } from './partitions.ts';
import type { RequestLogsTable } from './table.ts';

export type RequestLogEntry = RequestLogsTable;

/** Entries waiting to be written; past this, new ones are dropped (and counted) until the database keeps up. */
const MAX_PENDING = 50_000;
const FLUSH_INTERVAL_MS = 1_000;
/** Rows per insert statement. */
const CHUNK = 2_000;

/** "no partition of relation … found for row" */
const NO_PARTITION = '23514';
/** A row with this request id is stored already. */
const UNIQUE_VIOLATION = '23505';

/** The columns both ways of writing set, in the order of their values. */
const COLUMNS =
  'id, tenant_id, created_at, key_id, method, path, route, status, latency_ms, ip, user_agent, response_bytes, error_code';
const COPY_STATEMENT = `copy request_logs (${COLUMNS}) from stdin`;

/**
 * Buffers request-log rows in memory and writes them every second, with `COPY` on PostgreSQL and
 * multi-row inserts on PGlite; a request never waits on its log line. The buffer is bounded: while
 * the database cannot keep up, further rows are dropped and counted, with one warning per outage.
 * A crash loses at most one second.
 */
export class RequestLogWriter {
  private buffer: RequestLogEntry[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private warned = false;
  /** Rows dropped because the buffer was full. */
  dropped = 0;
  failures = 0;

  private readonly db: Db;
  private readonly copyFrom: Database['copyFrom'];

  constructor(
    database: Pick<Database, 'db' | 'copyFrom'>,
    private readonly log: FastifyBaseLogger,
  ) {
    this.db = database.db;
    this.copyFrom = database.copyFrom;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  get pendingCount(): number {
    return this.buffer.length;
  }

  append(entry: RequestLogEntry): void {
    if (this.buffer.length >= MAX_PENDING) {
      this.dropped += 1;
      if (!this.warned) {
        this.warned = true;
        this.log.warn({ pending: this.buffer.length }, 'request log buffer full: dropping log lines');
      }
      return;
    }
    this.buffer.push(entry);
  }

  /** Writes everything buffered so far; resolves once it is stored (or kept after a failure). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /**
   * Writes the rows buffered when the flush began, in chunks. Rows appended meanwhile wait for the
   * next flush: under steady load, draining them too would chain a small `COPY` (and a commit) right
   * after the last for as long as requests keep coming, instead of one batch per interval.
   */
  private async write(): Promise<void> {
    let due = this.buffer.length;
    while (due > 0) {
      const batch = this.buffer.slice(0, Math.min(CHUNK, due));
      due -= batch.length;
      try {
        await this.insertCreatingPartitions(batch);
      } catch (error) {
        if (isDataError(error)) {
          // A row the database refuses would block the queue for good: drop its batch.
          this.log.warn(
            { err: error, rows: batch.length },
            'request log rows refused by the database: dropped',
          );
          this.dropped += batch.length;
          this.buffer.splice(0, batch.length);
          continue;
        }
        this.failures += 1;
        if (this.failures === 1) this.log.warn({ err: error }, 'could not write request logs; keeping them');
        return;
      }
      this.buffer.splice(0, batch.length);
      this.failures = 0;
      this.warned = false;
    }
  }

  private async insertCreatingPartitions(batch: RequestLogEntry[]): Promise<void> {
    try {
      await this.insert(batch);
    } catch (error) {
      if (sqlState(error) !== NO_PARTITION) throw error;
      await ensureRequestLogPartitions(
        this.db,
        batch.map((entry) => entry.createdAt),
      );
      await this.insert(batch);
    }
  }

  private async insert(batch: RequestLogEntry[]): Promise<void> {
    if (!this.copyFrom) return insertSkippingStored(this.db, batch);
    try {
      await this.copyFrom(COPY_STATEMENT, copyText(batch));
    } catch (error) {
      // An earlier attempt stored part of this batch but its answer was lost: COPY cannot skip
      // the rows it already wrote, the insert can.
      if (sqlState(error) !== UNIQUE_VIOLATION) throw error;
      await insertSkippingStored(this.db, batch);
    }
  }
}

function sqlState(error: unknown): unknown {
  return (error as { code?: unknown } | undefined)?.code;
}

/** SQLSTATE class 22: the data itself is wrong, so retrying cannot help. */
function isDataError(error: unknown): boolean {
  const code = sqlState(error);
  return typeof code === 'string' && code.startsWith('22');
}

/** COPY's text format: a tab between fields, `\N` for null, backslash escapes within text. */
function copyText(rows: RequestLogEntry[]): string {
  let text = '';
  // Rows come in time order, many within the same millisecond: format each instant once.
  let ms = Number.NaN;
  let at = '';
  for (const row of rows) {
    if (row.createdAt.getTime() !== ms) {
      ms = row.createdAt.getTime();
      at = row.createdAt.toISOString();
    }
    text +=
      `${copyField(row.id)}\t${copyField(row.tenantId)}\t${at}\t` +
      `${copyField(row.keyId)}\t${copyField(row.method)}\t${copyField(row.path)}\t` +
      `${copyField(row.route)}\t${row.status}\t${row.latencyMs}\t${copyField(row.ip)}\t` +
      `${copyField(row.userAgent)}\t${row.responseBytes ?? NULL}\t${copyField(row.errorCode)}\n`;
  }
  return text;
}

const NULL = '\\N';
const SPECIAL = /[\\\t\n\r\0]/;
const SPECIALS = /[\\\t\n\r\0]/g;
/** PostgreSQL text cannot hold NUL at all, so it is dropped. */
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '' };

function copyField(value: string | null): string {
  if (value === null) return NULL;
  return SPECIAL.test(value) ? value.replace(SPECIALS, (char) => ESCAPES[char] as string) : value;
}

/** One insert of many rows; a row already written by an earlier, ambiguous attempt is skipped. */
async function insertSkippingStored(db: Db, rows: RequestLogEntry[]): Promise<void> {
  const json = JSON.stringify(
    rows.map((row) => ({
      id: row.id,
      tenant_id: row.tenantId,
      created_at: row.createdAt.toISOString(),
      key_id: row.keyId,
      method: row.method,
      path: row.path,
      route: row.route,
      status: row.status,
      latency_ms: row.latencyMs,
      ip: row.ip,
      user_agent: row.userAgent,
      response_bytes: row.responseBytes,
      error_code: row.errorCode,
    })),
  );
  await sql`
    insert into request_logs (${sql.raw(COLUMNS)})
    select ${sql.raw(COLUMNS)}
    from jsonb_to_recordset(${json}::jsonb) as r (
      id text, tenant_id text, created_at timestamptz, key_id text, method text, path text, route text,
      status smallint, latency_ms double precision, ip text, user_agent text, response_bytes integer,
      error_code text
    )
    on conflict do nothing
  `.execute(db);
}
