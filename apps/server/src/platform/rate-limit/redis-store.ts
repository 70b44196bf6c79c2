import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { admit, type CellState, describe } from './gcra.ts';
import type { HeldCounter } from './memory-store.ts';
import { type Cell, cellOf, type LimitCheck, type LimitResult, type RateLimitStore } from './policy.ts';

/**
 * Takes each request of a batch from every one of its buckets, or from none: the same arithmetic as
 * gcra.ts. The requests are taken one after the other, each seeing what the ones before it took.
 * KEYS holds the buckets of all requests, in order. ARGV[1] holds every number of the batch as
 * little-endian doubles (see `packBatch`): the number of requests; then per request its now (ms)
 * and its number of buckets; then per bucket its kind (0 a rate bucket, 1 a quota counter), its
 * limit, and its window (ms) or the counter's time to live (ms). Doubles, not decimal strings:
 * converting numbers to and from text was the largest part of the script's work, and every value
 * here is a whole number below 2^53, which a double holds exactly. Times to live go to Redis as
 * integers written by `%d`: how Redis itself writes a Lua number differs between its versions.
 *
 * A rate bucket is stored as three doubles, `ms`, `frac` (see Tat) and `seen` (the latest now it
 * was used at), and expires when it is full again. A bucket's time never goes back: a caller whose
 * now is behind a bucket's `seen` (another process read its clock a moment later, but reached
 * Redis first) is treated as arriving at `seen`, so answers are the same whichever process made the
 * call. A quota counter is a plain integer (INCR). Returns per request: allowed, then per bucket its
 * state before (ms and frac, or count and 0; -1 for a bucket that did not exist), then the now it
 * decided at.
 */
const SCRIPT = `
local unpack, pack, floor, tonum, format = struct.unpack, struct.pack, math.floor, tonumber, string.format
local data = ARGV[1]
local reply = {}
local out, key = 0, 1
local requests, pos = unpack('<d', data)
-- Per bucket of the current request, reused by every request: only entries 1..n are read.
local kinds, limits, params, raws, mss, fracs, nexts, ttls = {}, {}, {}, {}, {}, {}, {}, {}
for _ = 1, requests do
  local now, n
  now, n, pos = unpack('<dd', data, pos)
  for i = 1, n do
    kinds[i], limits[i], params[i], pos = unpack('<ddd', data, pos)
    local raw = redis.call('GET', KEYS[key + i - 1])
    raws[i], mss[i], fracs[i] = raw, -1, 0
    if raw and kinds[i] == 0 then
      local ms, frac, seen = unpack('<ddd', raw)
      mss[i], fracs[i] = ms, frac
      if seen > now then now = seen end
    end
  end
  local allowed = 1
  for i = 1, n do
    local limit, param = limits[i], params[i]
    if kinds[i] == 0 then
      local ms, frac = mss[i], fracs[i]
      reply[out + i * 2] = ms
      reply[out + i * 2 + 1] = frac
      if ms < now then ms, frac = now, 0 end
      local whole = floor(param / limit)
      ms = ms + whole
      frac = frac + (param - whole * limit)
      if frac >= limit then ms, frac = ms + 1, frac - limit end
      if (ms - now) * limit + frac > param * limit then allowed = 0 end
      nexts[i] = pack('<ddd', ms, frac, now)
      ttls[i] = format('%d', ms - now + 1)
    else
      local count = tonum(raws[i] or '0')
      reply[out + i * 2] = count
      reply[out + i * 2 + 1] = 0
      if count >= limit then allowed = 0 end
    end
  end
  reply[out + 1] = allowed
  reply[out + n * 2 + 2] = now
  if allowed == 1 then
    for i = 1, n do
      if kinds[i] == 0 then
        redis.call('PSETEX', KEYS[key + i - 1], ttls[i], nexts[i])
      else
        redis.call('INCR', KEYS[key + i - 1])
        redis.call('PEXPIRE', KEYS[key + i - 1], format('%d', params[i]))
      end
    end
  end
  out = out + n * 2 + 2
  key = key + n
end
return reply
`;

const SCRIPT_SHA = createHash('sha1').update(SCRIPT).digest('hex');

/**
 * Raises quota counters to counts taken elsewhere, never lowers one. KEYS are the counters; ARGV
 * holds per counter its count and its time to live (ms).
 */
const RAISE_SCRIPT = `
for i = 1, #KEYS do
  local count = tonumber(ARGV[i * 2 - 1])
  if tonumber(redis.call('GET', KEYS[i]) or '0') < count then
    redis.call('SET', KEYS[i], ARGV[i * 2 - 1], 'PX', ARGV[i * 2])
  end
end
return #KEYS
`;

/** A quota counter outlives its period by this much, so processes with slightly late clocks find it. */
const COUNTER_GRACE_MS = 60_000;
/** Requests per script call; a larger batch is split. */
const MAX_BATCH = 256;

/** A request waiting for its batch to be sent. */
interface QueuedHit {
  cells: Cell[];
  nowMs: number;
  resolve: (result: LimitResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Buckets in Redis, shared exactly by every process. The requests that reach the store in one turn
 * of the event loop go to Redis together, in one EVALSHA that takes each of them atomically, whatever
 * the number of buckets: under load, a request costs a share of one script call instead of a call of
 * its own, and never more than one round trip. A batch holds the buckets of many callers, so the
 * store needs one Redis server (not a Redis Cluster). Time comes from the caller (the app clock),
 * not Redis TIME: quota periods are calendar dates computed here, and tests can move the clock; NTP
 * keeps servers' clocks within milliseconds, a fraction of an emission interval.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly failures = 0;
  private readonly deadlines: Deadlines;
  private queue: QueuedHit[] = [];

  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    /** How long a request waits for Redis before the call counts as failed. */
    timeoutMs: number,
  ) {
    this.deadlines = new Deadlines(timeoutMs);
  }

  hit(checks: readonly LimitCheck[], nowMs: number): Promise<LimitResult> {
    const cells = checks.map((check) => cellOf(check, nowMs));
    return new Promise((resolve, reject) => {
      this.queue.push({ cells, nowMs, resolve, reject });
      // After the poll phase: every request read in this turn of the event loop joins the batch.
      if (this.queue.length === 1) setImmediate(() => this.sendQueued());
    });
  }

  /**
   * Raises each counter to at least `count` (see RAISE_SCRIPT), in calls of up to MAX_BATCH
   * counters, each of which fails like a request's once Redis has not answered within the timeout.
   */
  async raiseCounters(counters: readonly HeldCounter[], nowMs: number): Promise<void> {
    for (let start = 0; start < counters.length; start += MAX_BATCH) {
      const keys: string[] = [];
      const args: string[] = [];
      for (const { key, count, endsAtMs } of counters.slice(start, start + MAX_BATCH)) {
        keys.push(this.prefix + key);
        args.push(String(count), String(Math.max(1, endsAtMs - nowMs + COUNTER_GRACE_MS)));
      }
      await this.deadlines.race(this.client.eval(RAISE_SCRIPT, keys.length, ...keys, ...args));
    }
  }

  async close(): Promise<void> {
    this.deadlines.close();
    this.client.disconnect();
  }

  private sendQueued(): void {
    const queue = this.queue;
    this.queue = [];
    for (let start = 0; start < queue.length; start += MAX_BATCH) {
      this.send(queue.slice(start, start + MAX_BATCH));
    }
  }

  private send(batch: QueuedHit[]): void {
    const keys: string[] = [];
    for (const { cells } of batch) for (const cell of cells) keys.push(this.prefix + cell.key);
    this.deadlines.race(this.run(keys, packBatch(batch))).then(
      (reply) => {
        const replies = reply as number[];
        let offset = 0;
        for (const hit of batch) {
          hit.resolve(resultOf(hit, replies, offset));
          offset += hit.cells.length * 2 + 2;
        }
      },
      (error: unknown) => {
        for (const hit of batch) hit.reject(error);
      },
    );
  }

  /** EVALSHA; when Redis does not know the script yet (new or restarted), EVAL loads it. */
  private run(keys: string[], data: Buffer): Promise<unknown> {
    return this.client.evalsha(SCRIPT_SHA, keys.length, ...keys, data).catch((error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.client.eval(SCRIPT, keys.length, ...keys, data);
    });
  }
}

/** One request's answer, from its part of the script's reply (starting at `offset`). */
function resultOf({ cells, nowMs }: QueuedHit, replies: number[], offset: number): LimitResult {
  const allowed = replies[offset] === 1;
  const states = cells.map((cell, i): CellState => {
    const a = replies[offset + i * 2 + 1] ?? -1;
    if (cell.kind === 'counter') return a;
    return a < 0 ? undefined : { ms: a, frac: replies[offset + i * 2 + 2] ?? 0 };
  });
  // The script's now: the caller's, or a bucket's later one (its time never goes back).
  const at = replies[offset + cells.length * 2 + 1] ?? nowMs;
  return { allowed, decisions: describe(cells, states, admit(cells, states, at), allowed, at) };
}

interface PendingCall {
  startedAt: number;
  settled: boolean;
  reject: (error: Error) => void;
}

/**
 * Fails calls Redis has not answered `timeoutMs` after they were made, without a timer per call:
 * while calls are pending, one sweep every quarter of the timeout fails the expired ones, so a call
 * fails between 1 and 1.25 timeouts after it began. Calls are kept in the order they were made, so
 * a sweep stops at the first one still in time. The sweep fails them only after the event loop has
 * read pending I/O (setImmediate runs after the poll phase): when a busy event loop delays the
 * sweep, a reply that arrived meanwhile must not count as Redis failing — a false outage would
 * split the shared limit into per-process ones. (ioredis's own `commandTimeout` has exactly that
 * flaw.)
 */
class Deadlines {
  private calls: PendingCall[] = [];
  /** Index of the oldest call not yet swept out. */
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly timeoutMs: number) {}

  /** `promise`, or a rejection once it has taken longer than the timeout. */
  race<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call: PendingCall = { startedAt: performance.now(), settled: false, reject };
      this.calls.push(call);
      if (!this.timer) {
        this.timer = setInterval(() => this.sweep(), Math.max(1, this.timeoutMs / 4));
        this.timer.unref();
      }
      promise.then(
        (value) => {
          call.settled = true;
          resolve(value);
        },
        (error: unknown) => {
          call.settled = true;
          reject(error);
        },
      );
    });
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    const expiredBefore = performance.now() - this.timeoutMs;
    const expired: PendingCall[] = [];
    while (this.head < this.calls.length) {
      const call = this.calls[this.head] as PendingCall;
      if (!call.settled) {
        if (call.startedAt > expiredBefore) break;
        expired.push(call);
      }
      this.head += 1;
    }
    if (this.head === this.calls.length) {
      this.calls = [];
      this.head = 0;
      this.close();
    } else if (this.head > 1_024 && this.head * 2 > this.calls.length) {
      this.calls = this.calls.slice(this.head);
      this.head = 0;
    }
    if (expired.length === 0) return;
    setImmediate(() => {
      for (const call of expired) {
        if (call.settled) continue;
        call.settled = true;
        call.reject(new Error(`Redis did not answer within ${this.timeoutMs} ms`));
      }
    });
  }
}

/** The numbers of a batch as the script reads them from ARGV[1]: little-endian doubles. */
function packBatch(batch: readonly QueuedHit[]): Buffer {
  let count = 1;
  for (const { cells } of batch) count += 2 + cells.length * 3;
  const data = Buffer.allocUnsafe(count * 8);
  let offset = data.writeDoubleLE(batch.length, 0);
  for (const { cells, nowMs } of batch) {
    offset = data.writeDoubleLE(nowMs, offset);
    offset = data.writeDoubleLE(cells.length, offset);
    for (const cell of cells) {
      if (cell.kind === 'gcra') {
        offset = data.writeDoubleLE(0, offset);
        offset = data.writeDoubleLE(cell.limit, offset);
        offset = data.writeDoubleLE(cell.windowMs, offset);
      } else {
        offset = data.writeDoubleLE(1, offset);
        offset = data.writeDoubleLE(cell.limit, offset);
        offset = data.writeDoubleLE(Math.max(1, cell.endsAtMs - nowMs + COUNTER_GRACE_MS), offset);
      }
    }
  }
  return data;
}
