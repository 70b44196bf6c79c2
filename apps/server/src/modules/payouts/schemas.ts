import { Type } from '@sinclair/typebox';
import { matching } from '../../platform/http/pattern-rule.ts';
import { Id, Nullable, StringEnum, Timestamp } from '../../platform/http/schemas.ts';
import { CurrencySchema } from '../../platform/money.ts';

export const PAYOUT_STATUSES = ['pending', 'paid', 'canceled'] as const;

export const Period = Type.String({
  ...matching('^\\d{4}-(0[1-9]|1[0-2])$', 'must be a month written YYYY-MM, such as 2026-05'),
  description: 'The month a payout settles, `YYYY-MM`',
  examples: ['2026-05'],
});

export const PayoutSchema = Type.Object(
  {
    id: Id('po'),
    partnerId: Id('prt'),
    currency: CurrencySchema,
    period: Period,
    amount: Type.String({
      description: 'Sum of the commissions in the payout, clawbacks subtracted',
      examples: ['240.00'],
    }),
    commissionCount: Type.Integer({ minimum: 0, description: 'How many commissions the payout pays' }),
    status: StringEnum(PAYOUT_STATUSES),
    reference: Nullable(
      Type.String({ description: 'Your reference for the money transfer, set when marked paid' }),
    ),
    paidAt: Nullable(Timestamp),
    canceledAt: Nullable(Timestamp),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  {
    examples: [
      {
        id: 'po_01jd8x3v4w5y6z7a8b9c0d1e2f',
        partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
        currency: 'EUR',
        period: '2026-05',
        amount: '240.00',
        commissionCount: 10,
        status: 'pending',
        reference: null,
        paidAt: null,
        canceledAt: null,
        createdAt: '2026-05-31T12:00:00.000Z',
        updatedAt: '2026-05-31T12:00:00.000Z',
      },
    ],
  },
);
