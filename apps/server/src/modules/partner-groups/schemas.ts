import { Type } from '@sinclair/typebox';
import { matching, NOT_BLANK } from '../../platform/http/pattern-rule.ts';
import { Id, MoneySchema, Nullable, StringEnum, Timestamp } from '../../platform/http/schemas.ts';

export const GroupKeySchema = Type.String({
  minLength: 1,
  maxLength: 64,
  ...matching(
    '^[a-z0-9][a-z0-9_-]*$',
    'must be 1-64 characters of a-z, 0-9, _ and -, starting with a letter or digit',
  ),
  examples: ['premium'],
});

export const SaleCommissionSchema = Type.Union(
  [
    Type.Object(
      {
        type: Type.Literal('percentage'),
        basisPoints: Type.Integer({ minimum: 1, maximum: 10_000, description: '100 basis points = 1 %' }),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        type: Type.Literal('fixed'),
        amounts: Type.Array(MoneySchema, {
          minItems: 1,
          maxItems: 50,
          description: 'One amount per currency',
        }),
      },
      { additionalProperties: false },
    ),
  ],
  { examples: [{ type: 'percentage', basisPoints: 2000 }] },
);

export const LeadCommissionSchema = Type.Object(
  { amounts: Type.Array(MoneySchema, { minItems: 1, maxItems: 50, description: 'One amount per currency' }) },
  { additionalProperties: false, examples: [{ amounts: [{ amount: '5.00', currency: 'EUR' }] }] },
);

export const GroupFields = {
  name: Type.String({ minLength: 1, maxLength: 200, ...NOT_BLANK, examples: ['Premium partners'] }),
  holdbackDays: Type.Integer({
    minimum: 0,
    maximum: 365,
    description: 'Days a commission waits before approval',
  }),
  attributionWindowDays: Type.Integer({
    minimum: 1,
    maximum: 365,
    description: 'How long a click can attribute',
  }),
  saleCommission: Nullable(SaleCommissionSchema),
  leadCommission: Nullable(LeadCommissionSchema),
  recurring: Type.Boolean({ description: 'Later sales of an attributed customer earn commission too' }),
  recurringMonths: Nullable(
    Type.Integer({
      minimum: 1,
      maximum: 600,
      description: 'How long recurring commissions run; null = lifetime',
    }),
  ),
};

export const PartnerGroupSchema = Type.Object(
  {
    id: Id('grp'),
    key: GroupKeySchema,
    isDefault: Type.Boolean(),
    ...GroupFields,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  {
    examples: [
      {
        id: 'grp_01jd8x3v4w5y6z7a8b9c0d1e2f',
        key: 'premium',
        isDefault: false,
        name: 'Premium partners',
        holdbackDays: 30,
        attributionWindowDays: 30,
        saleCommission: { type: 'percentage', basisPoints: 2000 },
        leadCommission: { amounts: [{ amount: '5.00', currency: 'EUR' }] },
        recurring: true,
        recurringMonths: 12,
        createdAt: '2026-05-01T12:00:00.000Z',
        updatedAt: '2026-05-01T12:00:00.000Z',
      },
    ],
  },
);

export const GroupStatus = StringEnum(['default', 'custom'] as const);
