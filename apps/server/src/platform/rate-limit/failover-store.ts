import type { FastifyBaseLogger } from 'fastify';
import { ApiError } from '../errors.ts';
import type { MemoryRateLimitStore } from './memory-store.ts';
import type { LimitCheck, LimitResult, RateLimitStore } from './policy.ts';
import type { RedisRateLimitStore } from './redis-store.ts';

/** While the shared store is down, one request per interval tries it again; the rest skip it. */
const RETRY_INTERVAL_MS = 1_000;

/**
 * The shared store (Redis) with a way out when it fails or times out: by default the request is
 * answered from in-process buckets (fail open: still limited, per process); with `failClosed` it is
 * refused with 503. One warning per outage, one info line when the store answers again, and every
 * failed call counted in `failures` for /metrics.
 */
export class FailoverRateLimitStore implements RateLimitStore {
  private failureCount = 0;
  private down = false;
  private nextAttemptAt = 0;
  private outageBegun: Promise<unknown> | undefined;
  /** The first call to the shared store after an outage, while it runs. */
  private recovery: Promise<void> | undefined;

  /**
   * Runs when an outage begins, before the in-process buckets answer alone: boot sets it to fill
   * their quota counters from the usage tables, so that an outage does not refill spent quotas.
   */
  onOutage: (() => Promise<unknown>) | undefined;

  /**
   * Runs when the shared store may answer again, before it answers a request: boot sets it to
   * raise the shared quota counters to what was counted during the outage. Until it has succeeded
   * the outage goes on (it is the first call the shared store gets).
   */
  onRecovery: (() => Promise<unknown>) | undefined;

  constructor(
    readonly shared: RedisRateLimitStore,
    readonly local: MemoryRateLimitStore,
    private readonly options: { failClosed: boolean; log: FastifyBaseLogger },
  ) {}

  get failures(): number {
    return this.failureCount;
  }

  async hit(checks: readonly LimitCheck[], nowMs: number): Promise<LimitResult> {
    // While the shared store is being brought back, requests wait for the outcome instead of being
    // counted in process: the hand-back has read the process's counts already, and counts taken
    // meanwhile would never reach the shared store.
    if (this.recovery) await this.recovery;
    if (!this.down) {
      try {
        return await this.shared.hit(checks, nowMs);
      } catch (error) {
        this.failed(error);
      }
    } else if (Date.now() >= this.nextAttemptAt) {
      // Wall time, not the app clock: this paces retries against a real outage.
      const attempt = this.recover(checks, nowMs);
      this.recovery = attempt.then(() => {
        this.recovery = undefined;
      });
      const result = await attempt;
      if (result) return result;
    }
    if (this.options.failClosed) {
      throw new ApiError('service_unavailable', 'Rate limiting is unavailable; try again shortly');
    }
    // The first requests of an outage wait for the restored counts (one query), the rest not at all.
    if (this.outageBegun) {
      await this.outageBegun;
      this.outageBegun = undefined;
    }
    return this.local.hit(checks, nowMs);
  }

  /**
   * The first call to the shared store after an outage, behind onRecovery: its answer once the
   * store takes it (the outage is over), undefined while it still fails.
   */
  private async recover(checks: readonly LimitCheck[], nowMs: number): Promise<LimitResult | undefined> {
    this.nextAttemptAt = Date.now() + RETRY_INTERVAL_MS;
    try {
      await this.onRecovery?.();
      const result = await this.shared.hit(checks, nowMs);
      this.down = false;
      this.options.log.info('rate-limit store reachable again: limits are shared across processes again');
      return result;
    } catch {
      this.failureCount += 1;
      this.nextAttemptAt = Date.now() + RETRY_INTERVAL_MS;
      return undefined;
    }
  }

  /** A failed call while the shared store was thought up: the outage begins. */
  private failed(error: unknown): void {
    this.failureCount += 1;
    this.nextAttemptAt = Date.now() + RETRY_INTERVAL_MS;
    if (this.down) return;
    this.down = true;
    this.outageBegun = this.onOutage?.().catch((restoreError: unknown) => {
      this.options.log.warn({ err: restoreError }, 'could not restore quota counts for the outage');
    });
    this.options.log.warn(
      { err: error },
      this.options.failClosed
        ? 'rate-limit store unreachable: refusing requests with 503 until it answers (RATE_LIMIT_FAIL_CLOSED)'
        : 'rate-limit store unreachable: limiting in process only until it answers',
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.shared.close(), this.local.close()]);
  }
}
