import type { FastifyBaseLogger } from 'fastify';
import { ApiError } from '../errors.ts';
import { rateLimitHeaders } from '../rate-limit/headers.ts';
import type { RateLimitPolicy } from '../rate-limit/policy.ts';

const WINDOW_MS = 60_000;
/** IPs tracked at most: past it, the one whose window began first is dropped for a new one. */
const MAX_TRACKED_IPS = 100_000;

/**
 * Counts failed authentications per client IP in one-minute windows. Past the limit, every request
 * from that IP gets 429 until the window ends, so keys cannot be guessed at speed. The first
 * refusal of each window is logged. Counted per process, for at most MAX_TRACKED_IPS addresses at
 * a time.
 */
export class AuthFailureGuard {
  private readonly windows = new Map<string, { start: number; failures: number }>();
  private lastSweep = 0;
  /** How the guard's 429 describes itself in the rate-limit headers. */
  private readonly policy: RateLimitPolicy;

  constructor(
    private readonly limit: number,
    private readonly log: FastifyBaseLogger,
  ) {
    this.policy = { kind: 'rate', name: 'auth-failures', limit, windowSeconds: WINDOW_MS / 1000 };
  }

  /** Throws 429 when the IP has failed too often in the current window. */
  check(ip: string, nowMs: number): void {
    // No failure anywhere, the usual case: nothing to look up.
    if (this.limit === 0 || this.windows.size === 0) return;
    this.sweep(nowMs);
    const entry = this.current(ip, nowMs);
    if (!entry || entry.failures < this.limit) return;
    const retryAfter = Math.max(1, Math.ceil((entry.start + WINDOW_MS - nowMs) / 1000));
    const decision = {
      allowed: false,
      limit: this.limit,
      remaining: 0,
      resetAt: Math.ceil((entry.start + WINDOW_MS) / 1000),
      resetSeconds: retryAfter,
      retryAfterSeconds: retryAfter,
    };
    throw new ApiError('rate_limited', 'Too many failed authentications from this address; try again later', {
      headers: { ...rateLimitHeaders(this.policy, decision), 'retry-after': String(retryAfter) },
    });
  }

  recordFailure(ip: string, nowMs: number): void {
    if (this.limit === 0) return;
    this.sweep(nowMs);
    let entry = this.current(ip, nowMs);
    if (!entry) {
      entry = { start: nowMs, failures: 0 };
      // Deleted first so the map stays in the order windows began, oldest first.
      this.windows.delete(ip);
      if (this.windows.size >= MAX_TRACKED_IPS) {
        const oldest = this.windows.keys().next();
        if (!oldest.done) this.windows.delete(oldest.value);
      }
      this.windows.set(ip, entry);
    }
    entry.failures += 1;
    if (entry.failures === this.limit) {
      this.log.warn(
        { ip, failures: entry.failures },
        'too many failed authentications: blocking this IP for the rest of the minute',
      );
    }
  }

  private current(ip: string, nowMs: number) {
    const entry = this.windows.get(ip);
    return entry && nowMs - entry.start < WINDOW_MS ? entry : undefined;
  }

  /** How many IPs are tracked, ended windows not yet dropped included. */
  get size(): number {
    return this.windows.size;
  }

  /**
   * Drops ended windows, at most once a second, as failures come or requests are checked. The map
   * is in the order windows began, so the walk stops at the first that has not ended.
   */
  private sweep(nowMs: number): void {
    if (nowMs - this.lastSweep < 1_000) return;
    this.lastSweep = nowMs;
    for (const [ip, entry] of this.windows) {
      if (nowMs - entry.start < WINDOW_MS) break;
      this.windows.delete(ip);
    }
  }
}
