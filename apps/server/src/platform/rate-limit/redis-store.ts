import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { admit, type CellState, describe } from './gcra.ts';
import { type Cell, cellOf, type LimitCheck, type LimitResult, type RateLimitStore } from './policy.ts';

/**
 * Takes a request from every bucket in KEYS, or from none: the same arithmetic as gcra.ts.
 * ARGV[1] is now (ms); then per key: kind (`g` rate bucket, `c` quota counter), limit, and the
 * window (ms) or the counter's time to live (ms). A bucket is stored as `ms:frac` (see Tat) and
 * expires when it is full again. Returns [allowed, then per key its state before: ms, frac or
 * count, 0], with -1 for a bucket that did not exist.
 */
const SCRIPT = `
local now = tonumber(ARGV[1])
local allowed = 1
local reply = {}
local nexts = {}
local ttls = {}
for i = 1, #KEYS do
  local kind = ARGV[i * 3 - 1]
  local limit = tonumber(ARGV[i * 3])
  local param = tonumber(ARGV[i * 3 + 1])
  local raw = redis.call('GET', KEYS[i])
  if kind == 'g' then
    local ms, frac = -1, 0
    if raw then
      local sep = string.find(raw, ':', 1, true)
      ms = tonumber(string.sub(raw, 1, sep - 1))
      frac = tonumber(string.sub(raw, sep + 1))
    end
    reply[i * 2] = ms
    reply[i * 2 + 1] = frac
    if ms < now then ms, frac = now, 0 end
    local whole = math.floor(param / limit)
    ms = ms + whole
    frac = frac + (param - whole * limit)
    if frac >= limit then ms, frac = ms + 1, frac - limit end
    if (ms - now) * limit + frac > param * limit then allowed = 0 end
    nexts[i] = string.format('%.0f:%.0f', ms, frac)
    ttls[i] = string.format('%.0f', ms - now + 1)
  else
    local count = tonumber(raw or '0')
    reply[i * 2] = count
    reply[i * 2 + 1] = 0
    if count >= limit then allowed = 0 end
  end
end
reply[1] = allowed
if allowed == 1 then
  for i = 1, #KEYS do
    if ARGV[i * 3 - 1] == 'g' then
      redis.call('SET', KEYS[i], nexts[i], 'PX', ttls[i])
    else
      redis.call('INCR', KEYS[i])
      redis.call('PEXPIRE', KEYS[i], ARGV[i * 3 + 1])
    end
  end
end
return reply
`;

const SCRIPT_SHA = createHash('sha1').update(SCRIPT).digest('hex');

/** A quota counter outlives its period by this much, so processes with slightly late clocks find it. */
const COUNTER_GRACE_MS = 60_000;

/**
 * Buckets in Redis, shared exactly by every process: one EVALSHA per request, whatever the number
 * of buckets. Time comes from the caller (the app clock), not Redis TIME: quota periods are
 * calendar dates computed here, and tests can move the clock; NTP keeps servers' clocks within
 * milliseconds, a fraction of an emission interval. Keys carry the caller in a hash tag, so all
 * buckets of one request share a Redis Cluster slot.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly failures = 0;

  constructor(
    private readonly client: Redis,
    private readonly prefix: string,
    /** How long a request waits for Redis before the call counts as failed. */
    private readonly timeoutMs: number,
  ) {}

  async hit(checks: readonly LimitCheck[], nowMs: number): Promise<LimitResult> {
    const cells = checks.map((check) => cellOf(check, nowMs));
    const keys = cells.map((cell) => `${this.prefix}${cell.key}`);
    const args = [String(nowMs), ...cells.flatMap((cell) => cellArgs(cell, nowMs))];
    const reply = (await withDeadline(this.run(keys, args), this.timeoutMs)) as number[];
    const allowed = reply[0] === 1;
    const states = cells.map((cell, i): CellState => {
      const a = reply[i * 2 + 1] ?? -1;
      if (cell.kind === 'counter') return a;
      return a < 0 ? undefined : { ms: a, frac: reply[i * 2 + 2] ?? 0 };
    });
    return { allowed, decisions: describe(cells, states, admit(cells, states, nowMs), allowed, nowMs) };
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }

  /** EVALSHA; when Redis does not know the script yet (new or restarted), EVAL loads it. */
  private async run(keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.client.evalsha(SCRIPT_SHA, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await this.client.eval(SCRIPT, keys.length, ...keys, ...args);
    }
  }
}

/**
 * Rejects when `promise` has not settled `ms` after the call. The deadline is checked once more
 * after the event loop has read pending I/O (setImmediate runs after the poll phase): when a busy
 * event loop delays the timer, it fires before a reply that arrived meanwhile is read, and that
 * must not count as Redis failing — a false outage would split the shared limit into per-process
 * ones. (ioredis's own `commandTimeout` has exactly that flaw.)
 */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (!settled) reject(new Error(`Redis did not answer within ${ms} ms`));
      });
    }, ms);
    promise.then(
      (value) => {
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        settled = true;
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function cellArgs(cell: Cell, nowMs: number): string[] {
  if (cell.kind === 'gcra') return ['g', String(cell.limit), String(cell.windowMs)];
  return ['c', String(cell.limit), String(Math.max(1, cell.endsAtMs - nowMs + COUNTER_GRACE_MS))];
}
