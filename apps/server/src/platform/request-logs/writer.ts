import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import type { Database, Db, TableCopy } from '../db/index.ts';
import { SerialFlush } from '../serial-flush.ts';
import { ensureRequestLogPartitions } from './partitions.ts';
import { BUCKET_LENGTH, type RequestLogsTable } from './table.ts';

export type RequestLogEntry = RequestLogsTable;

/** Rows waiting to be written; past this, new ones are dropped (and counted) until the database keeps up. */
const MAX_PENDING = 50_000;
/** The same bound in bytes, for rows with long paths and user agents. */
const MAX_PENDING_BYTES = 64 * 1024 * 1024;
const FLUSH_INTERVAL_MS = 1_000;
/** Rows per `COPY` statement. */
const CHUNK = 2_000;
/** A segment's first buffer; 2,000 typical rows take about half a MiB, reached by doubling. */
const SEGMENT_BYTES = 128 * 1024;
const DAY_MS = 86_400_000;

/** "no partition of relation … found for row" */
const NO_PARTITION = '23514';
/** A row with this request id is stored already. */
const UNIQUE_VIOLATION = '23505';

/** The columns both ways of writing set, in the order of their values. */
const COLUMNS =
  'id, tenant_id, created_at, key_id, method, path, route, status, latency_ms, ip, user_agent, response_bytes, error_code';
const POSTING_COLUMNS = 'tenant_id, field, value, bucket, day, first_id, ids';

/**
 * The rows a segment holds of one tenant's key or route, in one bucket and UTC day: a row of
 * request_log_postings, through which `GET /request-logs?keyId=` and `?route=` find rows. It keeps
 * where each row's id starts in the segment's bytes (every line begins with its id), not the id
 * strings: the ids of a second's requests would otherwise stay on the heap until the flush.
 */
interface Posting {
  field: 'key' | 'route';
  tenantId: string;
  value: string;
  bucket: string;
  day: number;
  firstId: string;
  offsets: number[];
}

/** Adds a row to the posting of its bucket and day among those of its key (or route) in `byValue`. */
function post(
  byValue: Map<string, Posting[]>,
  field: Posting['field'],
  tenantId: string,
  value: string,
  id: string,
  offset: number,
  day: number,
): void {
  const postings = byValue.get(value);
  if (postings) {
    // Rows come about in time order: the last posting is almost always the one.
    const last = postings[postings.length - 1] as Posting;
    const posting =
      last.day === day && id.startsWith(last.bucket)
        ? last
        : postings.find((p) => p.day === day && id.startsWith(p.bucket));
    if (posting) {
      posting.offsets.push(offset);
      return;
    }
  }
  const bucket = id.slice(0, BUCKET_LENGTH);
  const posting: Posting = { field, tenantId, value, bucket, day, firstId: id, offsets: [offset] };
  if (postings) postings.push(posting);
  else byValue.set(value, [posting]);
}

const TAB = 0x09;
const COMMA = 0x2c;

/**
 * Copies the id a line begins with (its text up to the first tab) and a comma after it; returns
 * where the next byte goes. Ids are the server's own (`req_…`): no commas, nothing to escape.
 */
function copyId(line: Buffer, offset: number, out: Buffer, at: number): number {
  let to = at;
  for (let from = offset; line[from] !== TAB; from++) out[to++] = line[from] as number;
  out[to] = COMMA;
  return to + 1;
}

/**
 * Up to `CHUNK` rows in `COPY`'s text format, one statement's worth. A row is formatted into the
 * bytes when it is appended, so no row objects wait on the heap for the flush, and a flush has
 * nothing left to format: it hands the bytes to `COPY` as they are.
 */
class Segment {
  bytes: Buffer;
  length = 0;
  rows = 0;
  /** The UTC days (as their first millisecond) its rows fall on, for creating missing partitions. */
  readonly days: number[] = [];
  /** Postings by key id (unique across tenants). */
  private readonly keys = new Map<string, Posting[]>();
  /** Postings by tenant id, then route. */
  private readonly routes = new Map<string, Map<string, Posting[]>>();
  /** The bytes of the ids the postings list, each with the comma (or newline) after it. */
  private postedBytes = 0;

  constructor(bytes: Buffer | undefined) {
    this.bytes = bytes ?? Buffer.allocUnsafeSlow(SEGMENT_BYTES);
  }

  add(line: string, entry: RequestLogEntry, atMs: number): number {
    // A UTF-16 code unit never takes more than three bytes in UTF-8.
    const room = this.length + line.length * 3;
    if (room > this.bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(room, this.bytes.length * 2));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    const offset = this.length;
    const written = this.bytes.write(line, offset);
    this.length += written;
    this.rows += 1;
    const day = atMs - (atMs % DAY_MS);
    if (this.days[this.days.length - 1] !== day && !this.days.includes(day)) this.days.push(day);
    this.index(entry, offset, day);
    return written;
  }

  get data(): Buffer {
    return this.bytes.subarray(0, this.length);
  }

  /** Every posting of its rows: they are written with the rows. */
  postings(): Posting[] {
    const all: Posting[] = [];
    for (const postings of this.keys.values()) all.push(...postings);
    for (const byRoute of this.routes.values()) {
      for (const postings of byRoute.values()) all.push(...postings);
    }
    return all;
  }

  /** The postings in `COPY`'s text format, each id copied from its row's line. */
  postingsData(postings: readonly Posting[]): Buffer {
    const heads = postings.map(
      (p) =>
        `${p.tenantId}\t${p.field}\t${copyField(p.value)}\t${p.bucket}\t${new Date(p.day).toISOString()}\t${p.firstId}\t`,
    );
    let size = this.postedBytes;
    for (const head of heads) size += Buffer.byteLength(head);
    const out = Buffer.allocUnsafe(size);
    const bytes = this.bytes;
    let at = 0;
    for (let i = 0; i < postings.length; i++) {
      at += out.write(heads[i] as string, at);
      for (const offset of (postings[i] as Posting).offsets) at = copyId(bytes, offset, out, at);
      out[at - 1] = 0x0a; // \n in place of the last comma
    }
    return out.subarray(0, at);
  }

  /** A posting's ids, for the rare insert that must skip stored rows. */
  ids(posting: Posting): string[] {
    return posting.offsets.map((offset) =>
      this.bytes.toString('latin1', offset, this.bytes.indexOf(TAB, offset)),
    );
  }

  private index({ id, tenantId, keyId, route }: RequestLogEntry, offset: number, day: number): void {
    if (keyId !== null) {
      post(this.keys, 'key', tenantId, keyId, id, offset, day);
      this.postedBytes += id.length + 1;
    }
    if (route !== null) {
      let byRoute = this.routes.get(tenantId);
      if (!byRoute) {
        byRoute = new Map();
        this.routes.set(tenantId, byRoute);
      }
      post(byRoute, 'route', tenantId, route, id, offset, day);
      this.postedBytes += id.length + 1;
    }
  }
}

/**
 * Buffers request-log rows in memory and writes them every second with `COPY` (on PostgreSQL and
 * PGlite alike); a request never waits on its log line. Rows are kept as `COPY` text from the
 * moment they are appended (see Segment). The buffer is bounded: while the database cannot keep
 * up, further rows are dropped and counted, with one warning per outage. A crash loses at most one
 * second.
 */
export class RequestLogWriter {
  /** Full segments waiting for a flush, oldest first. */
  private readonly waiting: Segment[] = [];
  /** The segment rows are appended to; a flush moves it to `waiting` when it holds any. */
  private open: Segment;
  /** One written segment's buffer, kept for the next segment. */
  private spare: Buffer | undefined;
  private pendingRows = 0;
  private pendingBytes = 0;
  /** The last row's instant and its text: rows come in time order, many in the same millisecond. */
  private lastMs = Number.NaN;
  private lastAt = '';
  private readonly flushes = new SerialFlush(() => this.write());
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
    this.open = new Segment(undefined);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  get pendingCount(): number {
    return this.pendingRows;
  }

  append(entry: RequestLogEntry): void {
    if (this.pendingRows >= MAX_PENDING || this.pendingBytes >= MAX_PENDING_BYTES) {
      this.dropped += 1;
      if (!this.warned) {
        this.warned = true;
        this.log.warn({ pending: this.pendingRows }, 'request log buffer full: dropping log lines');
      }
      return;
    }
    const ms = entry.createdAt.getTime();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastAt = entry.createdAt.toISOString();
    }
    let segment = this.open;
    if (segment.rows === CHUNK) {
      this.waiting.push(segment);
      segment = this.open = this.newSegment();
    }
    this.pendingBytes += segment.add(copyLine(entry, this.lastAt), entry, ms);
    this.pendingRows += 1;
  }

  /** Writes everything buffered so far; resolves once it is stored (or kept after a failure). */
  flush(): Promise<void> {
    return this.flushes.run();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private newSegment(): Segment {
    const bytes = this.spare;
    this.spare = undefined;
    return new Segment(bytes);
  }

  /**
   * Writes the rows buffered when the flush began, a segment per statement. Rows appended meanwhile
   * wait for the next flush: under steady load, draining them too would chain a small `COPY` (and
   * a commit) right after the last for as long as requests keep coming, instead of one batch per
   * interval.
   */
  private async write(): Promise<void> {
    if (this.open.rows > 0) {
      this.waiting.push(this.open);
      this.open = this.newSegment();
    }
    for (let due = this.waiting.length; due > 0; due--) {
      const segment = this.waiting[0] as Segment;
      let stored = true;
      try {
        await this.insertCreatingPartitions(segment);
      } catch (error) {
        if (!isDataError(error)) {
          this.failures += 1;
          if (this.failures === 1)
            this.log.warn({ err: error }, 'could not write request logs; keeping them');
          return;
        }
        // A row the database refuses would block the queue for good: drop its segment.
        this.log.warn(
          { err: error, rows: segment.rows },
          'request log rows refused by the database: dropped',
        );
        this.dropped += segment.rows;
        stored = false;
      }
      this.waiting.shift();
      this.pendingRows -= segment.rows;
      this.pendingBytes -= segment.length;
      // Reused only once the database confirmed every byte; a refused statement may still be sending.
      if (stored) this.spare = segment.bytes;
      this.failures = 0;
      this.warned = false;
    }
  }

  private async insertCreatingPartitions(segment: Segment): Promise<void> {
    try {
      await this.insert(segment);
    } catch (error) {
      if (sqlState(error) !== NO_PARTITION) throw error;
      await ensureRequestLogPartitions(
        this.db,
        segment.days.map((day) => new Date(day)),
      );
      await this.insert(segment);
    }
  }

  /** The segment's rows and their postings, in one transaction. */
  private async insert(segment: Segment): Promise<void> {
    const postings = segment.postings();
    const copies: TableCopy[] = [
      { target: `request_logs (${COLUMNS})`, data: segment.data },
      { target: `request_log_postings (${POSTING_COLUMNS})`, data: segment.postingsData(postings) },
    ];
    try {
      await this.copyFrom(copies);
    } catch (error) {
      // An earlier attempt stored this segment but its answer was lost: COPY cannot skip the rows
      // it already wrote, the inserts can.
      if (sqlState(error) !== UNIQUE_VIOLATION) throw error;
      const stored = postings.map((posting) => ({ ...posting, ids: segment.ids(posting) }));
      await insertSkippingStored(this.db, parseCopyText(segment.data.toString()), stored);
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

/**
 * One row in `COPY`'s text format: a tab between fields, `\N` for null, backslash escapes within
 * text. Only the fields a caller controls (path, IP, user agent) can hold a tab, newline or
 * backslash; the others are ids, codes and labels of the server's own making.
 */
function copyLine(row: RequestLogEntry, at: string): string {
  return (
    `${row.id}\t${row.tenantId}\t${at}\t${row.keyId ?? NULL}\t${row.method}\t${copyField(row.path)}\t` +
    `${row.route ?? NULL}\t${row.status}\t${row.latencyMs}\t${copyField(row.ip)}\t` +
    `${copyField(row.userAgent)}\t${row.responseBytes ?? NULL}\t${row.errorCode ?? NULL}\n`
  );
}

const NULL = '\\N';
const SPECIAL = /[\\\t\n\r\0]/;
const SPECIALS = /[\\\t\n\r\0]/g;
/** PostgreSQL text cannot hold NUL at all, so it is dropped. */
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '' };
const UNESCAPES: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r' };

function copyField(value: string | null): string {
  if (value === null) return NULL;
  return SPECIAL.test(value) ? value.replace(SPECIALS, (char) => ESCAPES[char] as string) : value;
}

function uncopyField(field: string | undefined): string | null {
  if (field === undefined || field === NULL) return null;
  return field.includes('\\') ? field.replace(/\\(.)/g, (_, char: string) => UNESCAPES[char] ?? char) : field;
}

function uncopyNumber(field: string | null | undefined): number | null {
  return field == null ? null : Number(field);
}

/** The rows of `COPY` text as `copyLine` wrote them: for the rare insert that must skip stored rows. */
function parseCopyText(text: string): RequestLogEntry[] {
  const rows: RequestLogEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const f = line.split('\t').map(uncopyField);
    rows.push({
      id: f[0] as string,
      tenantId: f[1] as string,
      createdAt: new Date(f[2] as string),
      keyId: f[3] ?? null,
      method: f[4] as string,
      path: f[5] as string,
      route: f[6] ?? null,
      status: uncopyNumber(f[7]) as number,
      latencyMs: uncopyNumber(f[8]) as number,
      ip: f[9] ?? null,
      userAgent: f[10] ?? null,
      responseBytes: uncopyNumber(f[11]),
      errorCode: f[12] ?? null,
    });
  }
  return rows;
}

/**
 * The rows and postings of a segment that an earlier, ambiguous attempt may have written, in one
 * transaction; what is stored already is skipped.
 */
async function insertSkippingStored(
  db: Db,
  rows: RequestLogEntry[],
  postings: (Posting & { ids: string[] })[],
): Promise<void> {
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
  const postingsJson = JSON.stringify(
    postings.map((p) => ({
      tenant_id: p.tenantId,
      field: p.field,
      value: p.value,
      bucket: p.bucket,
      day: new Date(p.day).toISOString(),
      first_id: p.firstId,
      ids: p.ids.join(','),
    })),
  );
  await db.transaction().execute(async (trx) => {
    await sql`
      insert into request_logs (${sql.raw(COLUMNS)})
      select ${sql.raw(COLUMNS)}
      from jsonb_to_recordset(${json}::jsonb) as r (
        id text, tenant_id text, created_at timestamptz, key_id text, method text, path text, route text,
        status smallint, latency_ms double precision, ip text, user_agent text, response_bytes integer,
        error_code text
      )
      on conflict do nothing
    `.execute(trx);
    await sql`
      insert into request_log_postings (${sql.raw(POSTING_COLUMNS)})
      select ${sql.raw(POSTING_COLUMNS)}
      from jsonb_to_recordset(${postingsJson}::jsonb) as p (
        tenant_id text, field text, value text, bucket text, day timestamptz, first_id text, ids text
      )
      on conflict do nothing
    `.execute(trx);
  });
}
