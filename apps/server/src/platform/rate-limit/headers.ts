import type { LimitDecision, RateLimitPolicy } from './policy.ts';

const policyFields = new WeakMap<RateLimitPolicy, string>();

/** `"enterprise";q=1000;w=60`: the same for every request under a policy, so made once per policy. */
function policyField(policy: RateLimitPolicy): string {
  let field = policyFields.get(policy);
  if (field === undefined) {
    field = `"${policy.name}";q=${policy.limit};w=${policy.windowSeconds}`;
    policyFields.set(policy, field);
  }
  return field;
}

/** `X-RateLimit-*` and the IETF draft `RateLimit-Policy` / `RateLimit` fields for one bucket. */
export function rateLimitHeaders(policy: RateLimitPolicy, decision: LimitDecision): Record<string, string> {
  return {
    'x-ratelimit-limit': String(decision.limit),
    'x-ratelimit-remaining': String(decision.remaining),
    'x-ratelimit-reset': String(decision.resetAt),
    'ratelimit-policy': policyField(policy),
    ratelimit: `"${policy.name}";r=${decision.remaining};t=${decision.resetSeconds}`,
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
