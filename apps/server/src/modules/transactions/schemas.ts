import { Type } from '@sinclair/typebox';
import { Id, Nullable, StringEnum, Timestamp } from '../../platform/http/schemas.ts';
import { CurrencySchema } from '../../platform/money.ts';

export const TRANSACTION_STATUSES = [
  'pending',
  'approved',
  'rejected',
  'refunded',
  'partially_refunded',
] as const;

export const TransactionSchema = Type.Object(
  {
    id: Id('txn'),
    customerId: Nullable(Id('cus')),
    partnerId: Nullable(Id('prt')),
    eventId: Type.String({ description: 'The sale event that created it' }),
    externalId: Nullable(Type.String({ description: "The tenant's own order id" })),
    amount: Type.String({ examples: ['120.00'] }),
    refundedAmount: Type.String({ examples: ['0.00'] }),
    currency: CurrencySchema,
    status: StringEnum(TRANSACTION_STATUSES),
    statusReason: Nullable(Type.String()),
    occurredAt: Timestamp,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  {
    examples: [
      {
        id: 'txn_01jd8x3v4w5y6z7a8b9c0d1e2f',
        customerId: 'cus_01jd8x3v4w5y6z7a8b9c0d1e2f',
        partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
        eventId: 'evt_01jd8x3v4w5y6z7a8b9c0d1e2f',
        externalId: 'order-1001',
        amount: '120.00',
        refundedAmount: '0.00',
        currency: 'EUR',
        status: 'pending',
        statusReason: null,
        occurredAt: '2026-05-01T12:00:00.000Z',
        createdAt: '2026-05-01T12:00:00.000Z',
        updatedAt: '2026-05-01T12:00:00.000Z',
      },
    ],
  },
);
