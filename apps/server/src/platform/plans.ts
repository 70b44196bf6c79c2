/** Request budgets per tenant plan; RATE_LIMIT_PLANS can change them, a key's own `rateLimit` overrides. */
export const PLANS = {
  default: { limit: 600, windowSeconds: 60 },
  starter: { limit: 60, windowSeconds: 60 },
  professional: { limit: 300, windowSeconds: 60 },
  enterprise: { limit: 1000, windowSeconds: 60 },
} as const satisfies Record<string, PlanLimit>;

export interface PlanLimit {
  limit: number;
  windowSeconds: number;
}

export type PlanName = keyof typeof PLANS;
export const PLAN_NAMES = Object.keys(PLANS) as PlanName[];

/** The plan's budget in `plans` (config: PLANS with RATE_LIMIT_PLANS applied); unknown plans get `default`'s. */
export function planLimit(plan: string, plans: Readonly<Record<PlanName, PlanLimit>> = PLANS): PlanLimit {
  return plans[plan as PlanName] ?? plans.default;
}
