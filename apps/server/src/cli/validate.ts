import { SCOPE_NAMES } from '../platform/auth/scopes.ts';
import { SLUG_PATTERN, SLUG_RULE } from '../platform/config.ts';
import { isId } from '../platform/ids.ts';
import { PLAN_NAMES, type PlanName } from '../platform/plans.ts';
import { TenantName } from '../platform/tenants/schemas.ts';
import { UsageError } from './command.ts';

// The same rules the API's request schemas apply, so a value the CLI accepts the API would too.
const SLUG = new RegExp(SLUG_PATTERN);
/** As `name` of POST /api-keys. */
const KEY_NAME_MAX = 100;

export function parseSlug(value: string, option: string): string {
  if (!SLUG.test(value)) {
    throw new UsageError(`${option} must be ${SLUG_RULE}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function parseName(value: string, option: string, max: number): string {
  const name = value.trim();
  if (name === '') throw new UsageError(`${option} must not be empty`);
  if (name.length > max) throw new UsageError(`${option} must be at most ${max} characters`);
  return name;
}

export function parseTenantName(value: string): string {
  return parseName(value, '--name', TenantName.maxLength ?? 200);
}

export function parseKeyName(value: string): string {
  return parseName(value, '--name', KEY_NAME_MAX);
}

export function parsePlan(value: string | undefined): PlanName | undefined {
  if (value === undefined) return undefined;
  if (!(PLAN_NAMES as string[]).includes(value)) {
    throw new UsageError(`unknown plan ${JSON.stringify(value)}; plans: ${PLAN_NAMES.join(', ')}`);
  }
  return value as PlanName;
}

/** `a,b,c` as a list of known scope names (shorthands included), each at most once. */
export function parseScopes(value: string): string[] {
  const scopes = value.split(',').map((scope) => scope.trim());
  if (scopes.every((scope) => scope === '')) throw new UsageError('--scopes needs at least one scope');
  const seen = new Set<string>();
  for (const scope of scopes) {
    if (!(SCOPE_NAMES as readonly string[]).includes(scope)) {
      throw new UsageError(
        `unknown scope ${JSON.stringify(scope)} in --scopes; known scopes: ${SCOPE_NAMES.join(', ')}`,
      );
    }
    if (seen.has(scope)) throw new UsageError(`--scopes lists ${scope} twice`);
    seen.add(scope);
  }
  return scopes;
}

export function parseEnvironment(value: string | undefined): 'live' | 'test' {
  if (value === undefined || value === 'live' || value === 'test') return value ?? 'live';
  throw new UsageError(`--environment must be live or test, got ${JSON.stringify(value)}`);
}

export function parseKeyId(value: string): string {
  if (!isId('key', value)) {
    throw new UsageError(`${JSON.stringify(value)} is not an API key id (key_ followed by 26 characters)`);
  }
  return value;
}

/** As `gracePeriodSeconds` of POST /api-keys/{id}/rotate: 0 to 7 days, default one day. */
export function parseGracePeriod(value: string | undefined): number {
  if (value === undefined) return 86_400;
  if (!/^\d{1,6}$/.test(value) || Number(value) > 604_800) {
    throw new UsageError(
      `--grace-period must be a number of seconds from 0 to 604800, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}
