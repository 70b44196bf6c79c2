import type { FastifyBaseLogger } from 'fastify';
import type { KeyChange, KeyChangeTransport } from './key-changes.ts';
import type { KeyVerifier, TenantDirectory } from './key-verifier.ts';

/**
 * Applies key changes to this process's caches at once and sends them to every other process.
 * Call `announce` after the change has committed, so no process can reload the old state.
 * Other processes apply it within a second; while the transport cannot carry it (Redis
 * unreachable, at start or later), when their cached entries expire: KEY_CACHE_TTL_SECONDS at most.
 */
export class KeyChangeHub {
  constructor(
    private readonly keys: KeyVerifier,
    private readonly tenants: TenantDirectory,
    private readonly transport: KeyChangeTransport,
    private readonly log: FastifyBaseLogger,
  ) {}

  get transportName(): string {
    return this.transport.name;
  }

  start(): Promise<void> {
    return this.transport.start(
      (change) => this.apply(change),
      () => {
        this.keys.clear();
        this.tenants.clear();
      },
    );
  }

  async announce(change: KeyChange): Promise<void> {
    this.apply(change);
    try {
      await this.transport.publish(change);
    } catch (error) {
      // Other processes still drop the entry when its cache TTL runs out.
      this.log.error({ err: error, change }, 'could not send a key change to other processes');
    }
  }

  stop(): Promise<void> {
    return this.transport.stop();
  }

  private apply(change: KeyChange): void {
    if ('keyId' in change) {
      this.keys.invalidate({ keyId: change.keyId });
      return;
    }
    this.keys.invalidate({ tenantId: change.tenantId });
    this.tenants.invalidateTenant(change.tenantId);
    if (change.tenantSlug) this.tenants.invalidate(change.tenantSlug);
  }
}
