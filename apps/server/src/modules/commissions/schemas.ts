import { Type } from '@sinclair/typebox';
import { DateFilter, Id, Nullable, StringEnum, Timestamp } from '../../platform/http/schemas.ts';
import { CurrencySchema } from '../../platform/money.ts';
import { PaginationQuery } from '../../platform/pagination.ts';

export const COMMISSION_STATUSES = ['pending', 'approved', 'rejected', 'reversed', 'paid'] as const;
export const COMMISSION_KINDS = ['sale', 'lead', 'clawback', 'manual'] as const;

export const CommissionSchema = Type.Object(
  {
    id: Id('com'),
    partnerId: Id('prt'),
    transactionId: Nullable(Id('txn')),
    customerId: Nullable(Id('cus')),
    eventId: Nullable(Type.String()),
    payoutId: Nullable(Id('po')),
    reversesCommissionId: Nullable(
      Id('com', { description: 'For a clawback: the paid commission it takes back' }),
    ),
    kind: StringEnum(COMMISSION_KINDS),
    amount: Type.String({ description: 'Current amount; negative for a clawback', examples: ['24.00'] }),
    reversedAmount: Type.String({ description: 'Taken off this commission by refunds before it was paid' }),
    currency: CurrencySchema,
    status: StringEnum(COMMISSION_STATUSES),
    statusReason: Nullable(Type.String()),
    rule: Type.Record(Type.String(), Type.Unknown(), {
      description: 'Snapshot of the group rule the commission was computed with',
    }),
    occurredAt: Timestamp,
    availableAt: { ...Timestamp, description: 'When the holdback ends and the commission can be approved' },
    approvedAt: Nullable(Timestamp),
    paidAt: Nullable(Timestamp),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  {
    examples: [
      {
        id: 'com_01jd8x3v4w5y6z7a8b9c0d1e2f',
        partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
        transactionId: 'txn_01jd8x3v4w5y6z7a8b9c0d1e2f',
        customerId: 'cus_01jd8x3v4w5y6z7a8b9c0d1e2f',
        eventId: 'evt_01jd8x3v4w5y6z7a8b9c0d1e2f',
        payoutId: null,
        reversesCommissionId: null,
        kind: 'sale',
        amount: '24.00',
        reversedAmount: '0.00',
        currency: 'EUR',
        status: 'pending',
        statusReason: null,
        rule: { groupKey: 'default', type: 'percentage', basisPoints: 2000 },
        occurredAt: '2026-05-01T12:00:00.000Z',
        availableAt: '2026-05-31T12:00:00.000Z',
        approvedAt: null,
        paidAt: null,
        createdAt: '2026-05-01T12:00:00.000Z',
        updatedAt: '2026-05-01T12:00:00.000Z',
      },
    ],
  },
);

export const CommissionFilterFields = {
  ...PaginationQuery,
  status: Type.Optional(StringEnum(COMMISSION_STATUSES)),
  kind: Type.Optional(StringEnum(COMMISSION_KINDS)),
  payoutId: Type.Optional(Id('po', { description: 'Only the commissions in this payout' })),
  currency: Type.Optional(CurrencySchema),
  from: Type.Optional(DateFilter),
  to: Type.Optional(DateFilter),
};
