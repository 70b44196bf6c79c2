import { documentedParams } from '../http/path-params.ts';
import { PLAN_NAMES, PLANS, type PlanLimit, type PlanName } from '../plans.ts';

/** The rate-limit settings, parsed from the environment by platform/config. */
export interface RateLimitSettings {
  /** Every plan's budget: PLANS with RATE_LIMIT_PLANS applied. */
  plans: Readonly<Record<PlanName, PlanLimit>>;
  /** Per-key budgets of their own for some routes, by `METHOD /path` as the API reference writes it. */
  routes: ReadonlyMap<string, PlanLimit>;
  /** Per client IP, for requests that present no key. */
  unauthenticated: PlanLimit;
  /** Refuse with 503 instead of limiting in process while Redis is unreachable. */
  failClosed: boolean;
  /** Prefix of every rate-limit key in Redis. */
  redisPrefix: string;
}

type Read = (name: string) => string | undefined;
type Fail = (name: string, expected: string, value: string) => never;

const LIMIT = /^(\d{1,7})\/(\d{1,5})$/;
const ROUTE = /^(GET|POST|PUT|PATCH|DELETE) ((?:\/(?:[A-Za-z0-9._~-]+|:[A-Za-z]\w*|\{[A-Za-z]\w*\}))+)$/;
const LIMIT_FORMAT = '<limit>/<windowSeconds> with limit 1-1000000 and windowSeconds 1-86400';

function limitOf(raw: string): PlanLimit | undefined {
  const match = LIMIT.exec(raw.trim());
  if (!match) return undefined;
  const limit = Number(match[1]);
  const windowSeconds = Number(match[2]);
  if (limit < 1 || limit > 1_000_000 || windowSeconds < 1 || windowSeconds > 86_400) return undefined;
  return { limit, windowSeconds };
}

/** `name=limit/window,…`, each name normalised by `nameOf` (undefined: not a valid name). */
function limitList(
  read: Read,
  fail: Fail,
  variable: string,
  expected: string,
  nameOf: (raw: string) => string | undefined,
): Map<string, PlanLimit> {
  const result = new Map<string, PlanLimit>();
  const raw = read(variable);
  if (raw === undefined) return result;
  for (const entry of raw.split(',')) {
    const at = entry.lastIndexOf('=');
    const name = at > 0 ? nameOf(entry.slice(0, at).trim()) : undefined;
    const limit = at > 0 ? limitOf(entry.slice(at + 1)) : undefined;
    if (name === undefined || limit === undefined) fail(variable, expected, entry.trim());
    if (result.has(name)) fail(variable, `${expected}, each named once`, entry.trim());
    result.set(name, limit);
  }
  return result;
}

/**
 * `POST /partners/{id}` or `POST /partners/:id` as the API reference writes the route, which also
 * names the route's policy in the rate-limit headers: `POST /partners/{id}`.
 */
function routeName(raw: string): string | undefined {
  const match = ROUTE.exec(raw.replace(/\s+/g, ' '));
  if (!match?.[1] || !match[2] || match[2].startsWith('/api/')) return undefined;
  return `${match[1]} ${documentedParams(match[2])}`;
}

/** Where budgets live in Redis unless RATE_LIMIT_REDIS_PREFIX says otherwise. */
export const DEFAULT_REDIS_PREFIX = 'pl:rl:';

export function loadRateLimitSettings(read: Read, fail: Fail): RateLimitSettings {
  const planOverrides = limitList(
    read,
    fail,
    'RATE_LIMIT_PLANS',
    `a comma-separated list of <plan>=${LIMIT_FORMAT}, plans: ${PLAN_NAMES.join(', ')}`,
    (name) => ((PLAN_NAMES as string[]).includes(name) ? name : undefined),
  );
  const routes = limitList(
    read,
    fail,
    'RATE_LIMIT_ROUTES',
    `a comma-separated list of "<METHOD> <path>=${LIMIT_FORMAT}" with the path as in the API reference without /api/v1 (e.g. "POST /events=100/60")`,
    routeName,
  );
  const unauthenticatedRaw = read('UNAUTHENTICATED_RATE_LIMIT');
  const unauthenticated =
    unauthenticatedRaw === undefined ? { limit: 60, windowSeconds: 60 } : limitOf(unauthenticatedRaw);
  if (!unauthenticated) return fail('UNAUTHENTICATED_RATE_LIMIT', LIMIT_FORMAT, unauthenticatedRaw ?? '');
  const failClosed = read('RATE_LIMIT_FAIL_CLOSED') ?? 'false';
  if (!['true', '1', 'false', '0'].includes(failClosed))
    fail('RATE_LIMIT_FAIL_CLOSED', 'true, false, 1 or 0', failClosed);
  const redisPrefix = read('RATE_LIMIT_REDIS_PREFIX') ?? DEFAULT_REDIS_PREFIX;
  if (!/^[\w:.-]{1,64}$/.test(redisPrefix)) {
    fail('RATE_LIMIT_REDIS_PREFIX', '1-64 characters of letters, digits, _ : . -', redisPrefix);
  }
  return {
    plans: { ...PLANS, ...Object.fromEntries(planOverrides) },
    routes,
    unauthenticated,
    failClosed: failClosed === 'true' || failClosed === '1',
    redisPrefix,
  };
}
