import type { LimitDecision, RateLimitPolicy } from './policy.ts';

/** What every response under a policy says the same way, made once per policy. */
interface PolicyFields {
  /** The policy's name as an RFC 9651 string: `"GET /partners/{id}"`. */
  name: string;
  /** `"enterprise";q=1000;w=60`. */
  policy: string;
}

const policyFields = new WeakMap<RateLimitPolicy, PolicyFields>();

/**
 * An RFC 9651 (structured field) string: quotes and backslashes escaped. No policy name holds
 * either today (plans, `key`, RATE_LIMIT_ROUTES paths), but the header must stay parseable
 * whatever a name holds.
 */
function sfString(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

function fieldsOf(policy: RateLimitPolicy): PolicyFields {
  let fields = policyFields.get(policy);
  if (fields === undefined) {
    const name = sfString(policy.name);
    fields = { name, policy: `${name};q=${policy.limit};w=${policy.windowSeconds}` };
    policyFields.set(policy, fields);
  }
  return fields;
}

/** `X-RateLimit-*` and the IETF draft `RateLimit-Policy` / `RateLimit` fields for one bucket. */
export function rateLimitHeaders(policy: RateLimitPolicy, decision: LimitDecision): Record<string, string> {
  const fields = fieldsOf(policy);
  return {
    'x-ratelimit-limit': String(decision.limit),
    'x-ratelimit-remaining': String(decision.remaining),
    'x-ratelimit-reset': String(decision.resetAt),
    'ratelimit-policy': fields.policy,
    ratelimit: `${fields.name};r=${decision.remaining};t=${decision.resetSeconds}`,
  };
}

/** `X-Quota-*` for a key with a quota: its limit, what is left, and when the period ends (unix s). */
export function quotaHeaders(decision: LimitDecision): Record<string, string> {
  return {
    'x-quota-limit': String(decision.limit),
    'x-quota-remaining': String(decision.remaining),
    'x-quota-reset': String(decision.resetAt),
  };
}
