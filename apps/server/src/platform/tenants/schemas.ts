import { Type } from '@sinclair/typebox';
import { SLUG_PATTERN, SLUG_RULE } from '../config.ts';
import { matching, NOT_BLANK } from '../http/pattern-rule.ts';
import { Id, StringEnum, Timestamp } from '../http/schemas.ts';
import { PLAN_NAMES } from '../plans.ts';

export const TenantSlug = Type.String({
  minLength: 3,
  maxLength: 40,
  ...matching(SLUG_PATTERN, `must be ${SLUG_RULE}`),
  description: SLUG_RULE,
  examples: ['acme'],
});

export const TenantSchema = Type.Object(
  {
    id: Id('ten'),
    slug: TenantSlug,
    name: Type.String(),
    plan: Type.String({ description: `The plan that sets default rate limits: ${PLAN_NAMES.join(', ')}` }),
    status: StringEnum(['active', 'suspended'] as const),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  {
    examples: [
      {
        id: 'ten_01jd8x3v4w5y6z7a8b9c0d1e2f',
        slug: 'acme',
        name: 'Acme Inc.',
        plan: 'default',
        status: 'active',
        createdAt: '2026-05-01T12:00:00.000Z',
        updatedAt: '2026-05-01T12:00:00.000Z',
      },
    ],
  },
);

export const TenantName = Type.String({ minLength: 1, maxLength: 200, ...NOT_BLANK });
