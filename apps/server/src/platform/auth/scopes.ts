import { ApiError } from '../errors.ts';

/** Every `resource:action` scope a key can hold. Modules name theirs here so the shorthands cover them. */
export const SCOPES = [
  'partners:read',
  'partners:write',
  'partner_groups:read',
  'partner_groups:write',
  'customers:read',
  'customers:write',
  'events:read',
  'events:write',
  'transactions:read',
  'transactions:write',
  'commissions:read',
  'commissions:write',
  'payouts:read',
  'payouts:write',
  'webhooks:read',
  'webhooks:write',
  'usage:read',
  'logs:read',
  'audit:read',
  'api_keys:read',
  'api_keys:write',
] as const;

export type Scope = (typeof SCOPES)[number];
export const SHORTHANDS = ['read', 'write', 'admin'] as const;
export type ScopeName = Scope | (typeof SHORTHANDS)[number];
export const SCOPE_NAMES: readonly ScopeName[] = [...SHORTHANDS, ...SCOPES];

/** Key management, request logs and the audit log are outside `read`/`write`: they need `admin` or the scope itself. */
const PRIVILEGED = new Set<Scope>(['api_keys:read', 'api_keys:write', 'logs:read', 'audit:read']);

const READ = SCOPES.filter((s) => s.endsWith(':read') && !PRIVILEGED.has(s));
const WRITE = [...READ, ...SCOPES.filter((s) => s.endsWith(':write') && !PRIVILEGED.has(s))];

/** The concrete scopes a list of granted names (shorthands included) stands for. */
export function expandScopes(granted: readonly string[]): Set<Scope> {
  const out = new Set<Scope>();
  for (const name of granted) {
    if (name === 'admin') return new Set(SCOPES);
    if (name === 'read') for (const s of READ) out.add(s);
    else if (name === 'write') for (const s of WRITE) out.add(s);
    else if ((SCOPES as readonly string[]).includes(name)) out.add(name as Scope);
  }
  return out;
}

export function requireScope(held: ReadonlySet<Scope>, scope: Scope): void {
  if (!held.has(scope)) {
    throw new ApiError('insufficient_scope', `This key lacks the scope ${scope}`, {
      extra: { requiredScope: scope },
    });
  }
}

/** A key may only grant what it holds itself; returns the scopes it is missing. */
export function missingScopes(held: ReadonlySet<Scope>, requested: readonly string[]): Scope[] {
  return [...expandScopes(requested)].filter((s) => !held.has(s));
}
