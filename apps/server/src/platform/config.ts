import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { loadRateLimitSettings, type RateLimitSettings } from './rate-limit/settings.ts';

/** Every setting of the server, parsed once from the environment at startup. */
export interface Config {
  port: number;
  host: string;
  /** Where the server is reached from outside (invite links); no trailing slash. */
  publicUrl: string;
  dataDir: string;
  databaseUrl: string | undefined;
  /** Run parameterised statements as named prepared statements on PostgreSQL (see db/prepared.ts). */
  preparedStatements: boolean;
  redisUrl: string | undefined;
  adminApiKey: string | undefined;
  nodeEnv: 'development' | 'production' | 'test';
  docsEnabled: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  baseDomain: string | undefined;
  keyPrefix: string;
  defaultTenantSlug: string;
  keyCacheTtlSeconds: number;
  /** How long a client may take to send a whole request, headers and body; 0: no limit. */
  requestTimeoutSeconds: number;
  /** How many list and report requests of one tenant a process runs at once; the rest wait. */
  tenantListConcurrency: number;
  /**
   * Which peers' `X-Forwarded-For` is believed (Fastify's `trustProxy`): none, every one, this many
   * hops next to the server, or the peers at these addresses (IPs, CIDR blocks, `loopback`,
   * `linklocal`, `uniquelocal`, comma-separated).
   */
  trustProxy: boolean | number | string;
  commissionApprovalIntervalMs: number;
  authFailureLimit: number;
  /** RATE_LIMIT_PLANS, RATE_LIMIT_ROUTES, UNAUTHENTICATED_RATE_LIMIT, RATE_LIMIT_FAIL_CLOSED, RATE_LIMIT_REDIS_PREFIX. */
  rateLimits: RateLimitSettings;
  /** How often usage counts are written; the usage API is at most this far behind. */
  usageFlushIntervalMs: number;
  requestLogRetentionDays: number;
  /** Log requests of test keys too (live keys and the admin key always are). */
  requestLogTestKeys: boolean;
  /** Bearer token GET /metrics requires; open without one. */
  metricsToken: string | undefined;
  /** WEBHOOK_* settings: outgoing webhook delivery. */
  webhooks: WebhookSettings;
  /** How often keys expiring within 7 days are looked for (api_key.expiring). */
  apiKeyExpiryCheckIntervalMs: number;
}

export interface WebhookSettings {
  /** Run the dispatcher in this server process (`partnerline worker` always runs it). */
  dispatch: boolean;
  allowPrivateTargets: boolean;
  /** Plain http:// endpoint URLs; off in production unless WEBHOOK_ALLOW_HTTP=true. */
  allowHttp: boolean;
  /** Delay before each retry, in ms: one retry per entry after the first attempt. */
  retrySchedule: number[];
  /** An endpoint whose every attempt failed for this long is disabled. */
  disableAfterMs: number;
  /** Delivered and failed messages, with their attempts, are deleted this long after their last change. */
  retentionMs: number;
  timeoutMs: number;
  /** How long a claimed message stays with its worker before another may take it over. */
  leaseMs: number;
  /** Deliveries in flight per process, and per endpoint in each process. */
  concurrency: number;
  endpointConcurrency: number;
  pollIntervalMs: number;
}

/** Thrown for a setting that cannot be used; the message is one line naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const NODE_ENVS = ['development', 'production', 'test'] as const;
export const SLUG_PATTERN = '^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$';
/** SLUG_PATTERN in words, for every message and description that states it. */
export const SLUG_RULE = '3-40 characters of a-z, 0-9 and -, not starting or ending with -';
const KEY_PREFIX_PATTERN = /^[a-z][a-z0-9]{1,11}$/;
/** Slugs no tenant may have: with BASE_DOMAIN they are the deployment's own host names. */
export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  'www',
  'api',
  'app',
  'admin',
  'docs',
  'status',
  'mail',
]);

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function fail(name: string, expected: string, value: string): never {
  throw new ConfigError(`${name} must be ${expected}, got ${JSON.stringify(value)}`);
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    fail(name, `an integer from ${min} to ${max}`, raw);
  }
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  return fail(name, 'true, false, 1 or 0', raw);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) fail(name, `one of ${allowed.join(', ')}`, raw);
  return raw as T;
}

function matching(env: Env, name: string, pattern: RegExp, expected: string): string | undefined {
  const raw = read(env, name);
  if (raw !== undefined && !pattern.test(raw)) fail(name, expected, raw);
  return raw;
}

/** A service URL with one of the given schemes; the value is never echoed, it may hold a password. */
function serviceUrl(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  const expected = `a ${protocols.map((p) => `${p}//`).join(' or ')} URL`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail(name, expected, '<unparseable URL>');
  }
  if (!protocols.includes(url.protocol)) fail(name, expected, `${url.protocol}//…`);
  return raw;
}

/**
 * A host name (HOST, BASE_DOMAIN): labels of letters, digits and hyphens, the last not all digits,
 * so that 999.1.1.1 is none.
 */
const HOST_NAME =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*(?![0-9]+$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** The address to listen on: an IPv4 or IPv6 address, or a host name such as localhost. */
function host(env: Env): string {
  const raw = read(env, 'HOST');
  if (raw === undefined) return '127.0.0.1';
  if (isIP(raw) === 0 && !HOST_NAME.test(raw)) {
    fail('HOST', 'an IPv4 or IPv6 address (0.0.0.0 or :: for all) or a host name such as localhost', raw);
  }
  return raw;
}

/** PUBLIC_URL, or the listener's own address; links are built by appending a path to it. */
function publicUrl(env: Env, host: string, port: number): string {
  const raw = read(env, 'PUBLIC_URL');
  if (raw === undefined) return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const expected = 'an http:// or https:// URL without query or fragment';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail('PUBLIC_URL', expected, raw);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError('PUBLIC_URL must not contain credentials (value not shown)');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || /[?#]/.test(raw)) {
    fail('PUBLIC_URL', expected, raw);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

/**
 * Printable ASCII but `"` and `\`: such a secret reads the same in JSON text, where error answers
 * and log lines look for it to hide it, and in a header.
 */
const SECRET_CHARACTERS = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** A configured secret of `minLength` characters or more; its value is never echoed. */
function secret(env: Env, name: string, minLength: number): string | undefined {
  const raw = read(env, name);
  if (raw !== undefined && (raw.length < minLength || !SECRET_CHARACTERS.test(raw))) {
    throw new ConfigError(
      `${name} must be at least ${minLength} printable ASCII characters without spaces, " or \\ (value not shown)`,
    );
  }
  return raw;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d{1,9})(ms|s|m|h|d)?$/;

/** `1500`, `1500ms`, `5s`, `5m`, `2h` or `5d`; a bare number is milliseconds. */
function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * (DURATION_UNITS[match[2] ?? 'ms'] ?? 1);
}

/** A duration in the largest unit that holds it whole: `100ms`, `60s`, `7d`. */
function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function duration(env: Env, name: string, fallback: string, minMs: number, maxMs: number): number {
  const raw = read(env, name) ?? fallback;
  const value = parseDuration(raw);
  if (value === undefined || value < minMs || value > maxMs) {
    fail(
      name,
      `a duration such as 500ms, 5s, 5m, 2h or 5d, a bare number being ms (from ${formatDuration(minMs)} to ${formatDuration(maxMs)})`,
      raw,
    );
  }
  return value;
}

const DEFAULT_RETRY_SCHEDULE = '5s,5m,30m,2h,5h,10h,10h';

function retrySchedule(env: Env): number[] {
  const raw = read(env, 'WEBHOOK_RETRY_SCHEDULE') ?? DEFAULT_RETRY_SCHEDULE;
  if (raw === 'none') return [];
  const delays = raw.split(',').map(parseDuration);
  if (delays.length > 50 || delays.some((d) => d === undefined || d < 1 || d > 7 * 86_400_000)) {
    fail(
      'WEBHOOK_RETRY_SCHEDULE',
      'none or a comma-separated list of up to 50 durations from 1ms to 7d (e.g. 5s,5m,30m; a bare number is ms)',
      raw,
    );
  }
  return delays as number[];
}

function webhookSettings(env: Env, nodeEnv: Config['nodeEnv']): WebhookSettings {
  const timeoutMs = duration(env, 'WEBHOOK_TIMEOUT', '15s', 100, 60_000);
  const leaseMs = duration(env, 'WEBHOOK_LEASE', '60s', 500, 3_600_000);
  if (leaseMs <= timeoutMs) {
    throw new ConfigError(
      `WEBHOOK_LEASE must be longer than WEBHOOK_TIMEOUT (${timeoutMs} ms), got ${leaseMs} ms`,
    );
  }
  return {
    dispatch: oneOf(env, 'WEBHOOK_DISPATCH', ['on', 'off'] as const, 'on') === 'on',
    allowPrivateTargets: boolean(env, 'WEBHOOK_ALLOW_PRIVATE_TARGETS', false),
    allowHttp: boolean(env, 'WEBHOOK_ALLOW_HTTP', nodeEnv !== 'production'),
    retrySchedule: retrySchedule(env),
    disableAfterMs: duration(env, 'WEBHOOK_DISABLE_AFTER', '5d', 0, 365 * 86_400_000),
    retentionMs: duration(env, 'WEBHOOK_RETENTION', '30d', 3_600_000, 3_650 * 86_400_000),
    timeoutMs,
    leaseMs,
    concurrency: integer(env, 'WEBHOOK_CONCURRENCY', 64, 1, 10_000),
    endpointConcurrency: integer(env, 'WEBHOOK_ENDPOINT_CONCURRENCY', 10, 1, 1_000),
    pollIntervalMs: integer(env, 'WEBHOOK_POLL_INTERVAL_MS', 250, 10, 60_000),
  };
}

const PROXY_RANGES: ReadonlySet<string> = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** A proxy address of TRUST_PROXY: an IP, a CIDR block or one of proxy-addr's named ranges. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGES.has(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

function trustProxy(env: Env): Config['trustProxy'] {
  const raw = read(env, 'TRUST_PROXY');
  if (raw === undefined || raw === 'false' || raw === '0') return false;
  if (raw === 'true') return true;
  if (/^\d{1,2}$/.test(raw)) return Number(raw);
  const entries = raw.split(',').map((entry) => entry.trim());
  if (entries.every(isProxyAddress)) return entries.join(',');
  return fail(
    'TRUST_PROXY',
    'false, true, a number of proxy hops (0-99), or proxy addresses (IPs, CIDR blocks, loopback, linklocal, uniquelocal; comma-separated)',
    raw,
  );
}

/** Parses and validates the environment; throws ConfigError on the first unusable value. */
function defaultTenantSlug(env: Env): string {
  const slug = matching(env, 'DEFAULT_TENANT_SLUG', new RegExp(SLUG_PATTERN), SLUG_RULE) ?? 'default';
  if (RESERVED_SLUGS.has(slug)) {
    fail('DEFAULT_TENANT_SLUG', `a slug that is not reserved (${[...RESERVED_SLUGS].join(', ')})`, slug);
  }
  return slug;
}

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = oneOf(env, 'NODE_ENV', NODE_ENVS, 'development');
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const listenHost = host(env);
  return {
    port,
    host: listenHost,
    publicUrl: publicUrl(env, listenHost, port),
    dataDir: resolve(read(env, 'DATA_DIR') ?? './data'),
    databaseUrl: serviceUrl(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    preparedStatements: boolean(env, 'DATABASE_PREPARED_STATEMENTS', true),
    redisUrl: serviceUrl(env, 'REDIS_URL', ['redis:', 'rediss:']),
    adminApiKey: secret(env, 'ADMIN_API_KEY', 32),
    nodeEnv,
    docsEnabled: boolean(env, 'DOCS_ENABLED', nodeEnv !== 'production'),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, nodeEnv === 'test' ? 'silent' : 'info'),
    baseDomain: matching(
      env,
      'BASE_DOMAIN',
      HOST_NAME,
      'a host name such as partnerline.example.com (labels of letters, digits and -, without a trailing dot)',
    )?.toLowerCase(),
    keyPrefix:
      matching(
        env,
        'KEY_PREFIX',
        KEY_PREFIX_PATTERN,
        '2-12 lower-case letters or digits, the first a letter',
      ) ?? 'plk',
    defaultTenantSlug: defaultTenantSlug(env),
    keyCacheTtlSeconds: integer(env, 'KEY_CACHE_TTL_SECONDS', 60, 0, 3600),
    requestTimeoutSeconds: integer(env, 'REQUEST_TIMEOUT_SECONDS', 60, 0, 3600),
    tenantListConcurrency: integer(env, 'TENANT_LIST_CONCURRENCY', 2, 1, 1000),
    trustProxy: trustProxy(env),
    commissionApprovalIntervalMs: integer(env, 'COMMISSION_APPROVAL_INTERVAL_MS', 60_000, 50, 86_400_000),
    authFailureLimit: integer(env, 'AUTH_FAILURE_LIMIT', 30, 0, 1_000_000),
    rateLimits: loadRateLimitSettings((name) => read(env, name), fail),
    usageFlushIntervalMs: integer(env, 'USAGE_FLUSH_INTERVAL_MS', 5_000, 100, 60_000),
    requestLogRetentionDays: integer(env, 'REQUEST_LOG_RETENTION_DAYS', 30, 1, 3_650),
    requestLogTestKeys: boolean(env, 'REQUEST_LOG_TEST_KEYS', false),
    metricsToken: secret(env, 'METRICS_TOKEN', 16),
    webhooks: webhookSettings(env, nodeEnv),
    apiKeyExpiryCheckIntervalMs: integer(env, 'API_KEY_EXPIRY_CHECK_INTERVAL_MS', 60_000, 50, 86_400_000),
  };
}
