/**
 * Lets each tenant run at most `perTenant` of its list and report requests at once in this process;
 * the others wait their turn, first come first served. One tenant's slow lists (a classic page deep
 * into millions of request-log rows, a search over every partner) then hold at most that many of
 * the database pool's connections, and the other tenants' requests still get theirs.
 */
export class TenantTurns {
  readonly #perTenant: number;
  /** Per tenant with requests running: how many run, and the turns of those waiting, oldest first. */
  readonly #tenants = new Map<string, { running: number; waiting: (() => void)[] }>();

  constructor(perTenant: number) {
    this.#perTenant = perTenant;
  }

  /** Runs `work` once fewer than `perTenant` of the tenant's requests run. */
  async run<T>(tenantId: string, work: () => T | Promise<T>): Promise<Awaited<T>> {
    let tenant = this.#tenants.get(tenantId);
    if (tenant === undefined) {
      tenant = { running: 0, waiting: [] };
      this.#tenants.set(tenantId, tenant);
    }
    if (tenant.running < this.#perTenant) {
      tenant.running += 1;
    } else {
      // The turn is handed over with the slot: `running` stays as it is (see #done).
      await new Promise<void>((resolve) => tenant.waiting.push(resolve));
    }
    try {
      return await work();
    } finally {
      this.#done(tenantId, tenant);
    }
  }

  /** Tenants with requests running or waiting (for tests and memory checks). */
  get size(): number {
    return this.#tenants.size;
  }

  #done(tenantId: string, tenant: { running: number; waiting: (() => void)[] }): void {
    const next = tenant.waiting.shift();
    if (next !== undefined) {
      next();
      return;
    }
    tenant.running -= 1;
    if (tenant.running === 0) this.#tenants.delete(tenantId);
  }
}
