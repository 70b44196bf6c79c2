import type { Scope } from './auth/scopes.ts';

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  plan: string;
  status: 'active' | 'suspended';
}

/** Who is calling: a tenant API key, or the platform admin (`ADMIN_API_KEY`). */
export type Actor =
  | {
      type: 'api_key';
      keyId: string;
      name: string;
      environment: 'live' | 'test';
      grantedScopes: string[];
      createdAt: Date;
      lastUsedAt: Date | null;
      /** The key's own rate limit, overriding the plan's. */
      rateLimit: { limit: number; windowSeconds: number } | null;
      /** The key's requests per calendar day or month, if it has such a quota. */
      quota: { limit: number; period: 'day' | 'month' } | null;
      /** When the quota began counting; null: from the start of its period. */
      quotaSince: Date | null;
    }
  | { type: 'admin' };

/** What every tenant route handler gets: the resolved tenant, the caller and the caller's scopes. */
export interface AuthContext {
  tenant: Tenant;
  actor: Actor;
  scopes: ReadonlySet<Scope>;
}

/** Whoever made a change, as the audit log records it: a caller, the CLI, or the server itself. */
export type AuditActor = Actor | { type: 'cli' } | { type: 'system' };

/** `key_…` for a key, else the actor's type (`admin`, `cli`, `system`). */
export function actorId(actor: AuditActor): string {
  return actor.type === 'api_key' ? actor.keyId : actor.type;
}

/** What domain functions get: the tenant every query is scoped to, the caller and the time. */
export interface DomainContext {
  db: import('./db/index.ts').Db;
  tenantId: string;
  actor: Actor;
  now: Date;
  /** Where the change came from, for the audit log. */
  origin?: RequestOrigin | undefined;
}

export interface RequestOrigin {
  ip: string;
  userAgent: string | null;
  requestId: string;
}
