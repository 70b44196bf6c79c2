import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { subMap } from '../nested-map.ts';
import { SerialFlush } from '../serial-flush.ts';
import { addHistogram, bucketOf, emptyHistogram } from './histogram.ts';
import type { StatusClass } from './tables.ts';

/** One metered request: who called what, how it ended and how long it took. */
export interface UsageHit {
  tenantId: string;
  /** Null for the platform admin key. */
  keyId: string | null;
  route: string;
  method: string;
  status: number;
  rateLimited: boolean;
  /**
   * Took nothing from the key's limits and quota: refused by them (429), or refused before them
   * (an address the key does not allow, a suspended tenant). Restored quotas leave these out.
   */
  uncharged: boolean;
  latencyMs: number;
  at: Date;
}

interface Aggregate {
  tenantId: string;
  keyId: string;
  route: string;
  method: string;
  statusClass: StatusClass;
  /** Start of the bucket, in ms since the epoch (UTC). */
  bucket: number;
  requests: number;
  rateLimited: number;
  uncharged: number;
  latency: number[];
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const TABLES = [
  ['usage_minute', MINUTE_MS],
  ['usage_hour', HOUR_MS],
  ['usage_day', DAY_MS],
] as const;
/** Aggregates kept while the database refuses flushes; past this, new requests go uncounted. */
const MAX_PENDING = 100_000;

const STATUS_CLASSES: readonly StatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx'];

function statusClassIndex(status: number): number {
  return Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
}

/**
 * Aggregates by minute, owner (the key, or the tenant for the admin key), route and method, with
 * one slot per status class. Nested maps keyed by strings the caller reuses (ids, route labels),
 * whose hashes V8 keeps, so counting a request builds no lookup key.
 */
class Aggregates {
  private readonly byMinute = new Map<
    number,
    Map<string, Map<string, Map<string, (Aggregate | undefined)[]>>>
  >();
  private readonly all: Aggregate[] = [];

  get size(): number {
    return this.all.length;
  }

  values(): Aggregate[] {
    return this.all;
  }

  /** The aggregate of this minute, owner, route, method and status class; undefined when none yet. */
  get(
    bucket: number,
    owner: string,
    route: string,
    method: string,
    statusClass: number,
  ): Aggregate | undefined {
    return this.slots(bucket, owner, route, method)[statusClass];
  }

  add(aggregate: Aggregate): void {
    const { bucket, keyId, tenantId, route, method } = aggregate;
    this.addTo(this.slots(bucket, keyId || tenantId, route, method), aggregate);
  }

  /** Adds an aggregate to the slots `slots` gave for its minute, owner, route and method. */
  addTo(slots: (Aggregate | undefined)[], aggregate: Aggregate): void {
    slots[STATUS_CLASSES.indexOf(aggregate.statusClass)] = aggregate;
    this.all.push(aggregate);
  }

  /** The slots of a minute, owner, route and method, one per status class; made when missing. */
  slots(bucket: number, owner: string, route: string, method: string): (Aggregate | undefined)[] {
    const byMethod = subMap(subMap(subMap(this.byMinute, bucket), owner), route);
    let slots = byMethod.get(method);
    if (!slots) {
      slots = new Array<Aggregate | undefined>(STATUS_CLASSES.length).fill(undefined);
      byMethod.set(method, slots);
    }
    return slots;
  }
}

/**
 * Where one key's requests on one route were last counted: the slots of a minute in one batch of
 * the meter. The caller keeps it per key and route (see KeyRoute) and hands it back, so a request
 * in the same minute finds its counters without a lookup.
 */
export interface UsageSlots {
  batch: object | undefined;
  bucket: number;
  slots: (Aggregate | undefined)[];
}

export function emptyUsageSlots(): UsageSlots {
  return { batch: undefined, bucket: 0, slots: [] };
}

/**
 * Counts requests in memory per tenant, key, route, method, status class and minute, and adds
 * them to usage_minute, usage_hour and usage_day every flush interval: one multi-row upsert per
 * table, in one transaction, so several processes can flush into the same rows. A failed flush is
 * kept for the next; a crash loses at most one interval of counts.
 */
export class UsageMeter {
  private pending = new Aggregates();
  private readonly flushes = new SerialFlush(() => this.write());
  private timer: NodeJS.Timeout | undefined;
  /** Requests not counted because the buffer was full while the database was failing. */
  dropped = 0;
  failures = 0;
  /** The batch of a write that failed, and the id it was written under, had it been stored after all. */
  private unconfirmed: { id: string; batch: Aggregates } | undefined;

  constructor(
    private readonly db: Db,
    private readonly log: FastifyBaseLogger,
    private readonly flushIntervalMs: number,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  /** Aggregates waiting for the next flush, a failed write's included. */
  get pendingCount(): number {
    return this.pending.size + (this.unconfirmed?.batch.size ?? 0);
  }

  /**
   * Counts one request. `memo` is the caller's `UsageSlots` for this owner, route and method, for
   * callers that meter the same ones again and again; it is checked, so a stale one is harmless.
   */
  record(hit: UsageHit, memo?: UsageSlots): void {
    const cls = statusClassIndex(hit.status);
    const bucket = Math.floor(hit.at.getTime() / MINUTE_MS) * MINUTE_MS;
    const keyId = hit.keyId ?? '';
    const pending = this.pending;
    let slots: (Aggregate | undefined)[];
    if (memo !== undefined && memo.batch === pending && memo.bucket === bucket) slots = memo.slots;
    else {
      slots = pending.slots(bucket, keyId || hit.tenantId, hit.route, hit.method);
      if (memo !== undefined) {
        memo.batch = pending;
        memo.bucket = bucket;
        memo.slots = slots;
      }
    }
    let aggregate = slots[cls];
    if (!aggregate) {
      if (pending.size >= MAX_PENDING) {
        this.dropped += 1;
        return;
      }
      aggregate = {
        tenantId: hit.tenantId,
        keyId,
        route: hit.route,
        method: hit.method,
        statusClass: STATUS_CLASSES[cls] as StatusClass,
        bucket,
        requests: 0,
        rateLimited: 0,
        uncharged: 0,
        latency: emptyHistogram(),
      };
      pending.addTo(slots, aggregate);
    }
    aggregate.requests += 1;
    if (hit.rateLimited) aggregate.rateLimited += 1;
    if (hit.uncharged) aggregate.uncharged += 1;
    const slot = bucketOf(hit.latencyMs);
    aggregate.latency[slot] = (aggregate.latency[slot] ?? 0) + 1;
  }

  /** Writes everything counted so far; resolves once it is in the database (or kept after a failure). */
  flush(): Promise<void> {
    return this.flushes.run();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async write(): Promise<void> {
    if (this.unconfirmed) {
      // The last write failed, perhaps after its COMMIT was stored: only its id tells.
      const { id, batch } = this.unconfirmed;
      let stored: boolean;
      try {
        stored = await flushStored(this.db, id);
      } catch (error) {
        this.failed(error);
        return;
      }
      this.unconfirmed = undefined;
      if (!stored) this.restore(batch);
    }
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Aggregates();
    const minutes = batch.values();
    const id = randomUUID();
    try {
      await this.db.transaction().execute(async (trx) => {
        await sql`insert into usage_flushes (id, written_at) values (${id}, now())`.execute(trx);
        for (const [table, unitMs] of TABLES) {
          const rows = unitMs === MINUTE_MS ? minutes : rollUp(minutes, unitMs);
          await upsert(trx, table, rows);
        }
      });
      this.failures = 0;
    } catch (error) {
      this.failed(error);
      this.unconfirmed = { id, batch };
    }
  }

  private failed(error: unknown): void {
    this.failures += 1;
    if (this.failures === 1) this.log.warn({ err: error }, 'could not write usage counts; keeping them');
  }

  /** Puts a batch that could not be written back in front of what arrived meanwhile. */
  private restore(batch: Aggregates): void {
    for (const newer of this.pending.values()) {
      const older = batch.get(
        newer.bucket,
        newer.keyId || newer.tenantId,
        newer.route,
        newer.method,
        STATUS_CLASSES.indexOf(newer.statusClass),
      );
      if (older) {
        older.requests += newer.requests;
        older.rateLimited += newer.rateLimited;
        older.uncharged += newer.uncharged;
        addHistogram(older.latency, newer.latency);
      } else if (batch.size < MAX_PENDING) batch.add(newer);
      else this.dropped += newer.requests;
    }
    this.pending = batch;
  }
}

/** Whether the flush with this id was stored. */
async function flushStored(db: Db, id: string): Promise<boolean> {
  const { rows } = await sql<{ stored: boolean }>`
    select exists (select 1 from usage_flushes where id = ${id}) as stored`.execute(db);
  return rows[0]?.stored === true;
}

/** Minute aggregates summed into hour or day buckets. */
function rollUp(minutes: Aggregate[], unitMs: number): Aggregate[] {
  const out = new Map<string, Aggregate>();
  for (const minute of minutes) {
    const bucket = Math.floor(minute.bucket / unitMs) * unitMs;
    const id = `${minute.tenantId}\n${minute.keyId}\n${minute.route}\n${minute.method}\n${minute.statusClass}\n${bucket}`;
    const sum = out.get(id);
    if (sum) {
      sum.requests += minute.requests;
      sum.rateLimited += minute.rateLimited;
      sum.uncharged += minute.uncharged;
      addHistogram(sum.latency, minute.latency);
    } else {
      out.set(id, { ...minute, bucket, latency: [...minute.latency] });
    }
  }
  return [...out.values()];
}

/** Key order of the primary key, so concurrent flushes lock rows in the same order (no deadlocks). */
function byPrimaryKey(a: Aggregate, b: Aggregate): number {
  return (
    compare(a.tenantId, b.tenantId) ||
    a.bucket - b.bucket ||
    compare(a.keyId, b.keyId) ||
    compare(a.route, b.route) ||
    compare(a.method, b.method) ||
    compare(a.statusClass, b.statusClass)
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function upsert(db: Db, table: (typeof TABLES)[number][0], rows: Aggregate[]): Promise<void> {
  const json = JSON.stringify(
    rows.sort(byPrimaryKey).map((row) => ({
      tenant_id: row.tenantId,
      bucket: new Date(row.bucket).toISOString(),
      key_id: row.keyId,
      route: row.route,
      method: row.method,
      status_class: row.statusClass,
      requests: row.requests,
      rate_limited: row.rateLimited,
      uncharged: row.uncharged,
      latency: row.latency,
    })),
  );
  await sql`
    insert into ${sql.table(table)} as u
      (tenant_id, bucket, key_id, route, method, status_class, requests, rate_limited, uncharged, latency)
    select tenant_id, bucket, key_id, route, method, status_class, requests, rate_limited, uncharged, latency
    from jsonb_to_recordset(${json}::jsonb) as r (
      tenant_id text, bucket timestamptz, key_id text, route text, method text, status_class text,
      requests bigint, rate_limited bigint, uncharged bigint, latency bigint[]
    )
    on conflict (tenant_id, bucket, key_id, route, method, status_class) do update set
      requests = u.requests + excluded.requests,
      rate_limited = u.rate_limited + excluded.rate_limited,
      uncharged = u.uncharged + excluded.uncharged,
      latency = usage_histogram_add(u.latency, excluded.latency)
  `.execute(db);
}
