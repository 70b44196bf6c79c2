import { Type } from '@sinclair/typebox';
import {
  Id,
  Metadata,
  Nullable,
  StringEnum,
  Timestamp,
  TimestampInput,
} from '../../platform/http/schemas.ts';
import { AmountSchema, CurrencySchema } from '../../platform/money.ts';
import { CustomerEmail, CustomerName, ExternalId } from '../customers/schemas.ts';

export const EVENT_TYPES = ['click', 'lead', 'sale', 'refund'] as const;

export const CreateEventBody = Type.Object(
  {
    type: StringEnum(EVENT_TYPES),
    partnerId: Type.Optional(
      Type.String({
        maxLength: 64,
        description: 'Names the partner (one of partnerId, referralCode, clickId)',
      }),
    ),
    referralCode: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
    clickId: Type.Optional(
      Type.String({ maxLength: 64, description: 'A clickId returned by an earlier click event' }),
    ),
    customer: Type.Optional(
      Type.Object(
        { externalId: ExternalId, email: Type.Optional(CustomerEmail), name: Type.Optional(CustomerName) },
        { additionalProperties: false },
      ),
    ),
    amount: Type.Optional(AmountSchema),
    currency: Type.Optional({
      ...CurrencySchema,
      description:
        "Sale and refund: the amount's currency. Lead: the currency of the lead commission, required when the partner's group pays leads in several",
    }),
    saleExternalId: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Refund: the externalId of the sale' }),
    ),
    externalId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'Your own event or order id: a repeat is not processed twice',
      }),
    ),
    occurredAt: Type.Optional({
      ...TimestampInput,
      description: 'When it happened (default: now); at most a day in the future',
      examples: ['2026-05-01T09:30:00.000Z'],
    }),
    metadata: Type.Optional(Metadata),
  },
  {
    additionalProperties: false,
    examples: [
      {
        type: 'sale',
        referralCode: 'ADA2026',
        customer: { externalId: 'crm-4711', email: 'grace@example.com' },
        amount: '120.00',
        currency: 'EUR',
        externalId: 'order-1001',
      },
    ],
  },
);

const CommissionSummary = Type.Object({
  id: Id('com'),
  kind: Type.String(),
  amount: Type.String(),
  currency: CurrencySchema,
  status: Type.String(),
});

export const EventSchema = Type.Object(
  {
    id: Id('evt'),
    type: StringEnum(EVENT_TYPES),
    externalId: Nullable(Type.String()),
    partnerId: Nullable(Id('prt', { description: 'The partner credited, after attribution' })),
    customerId: Nullable(Id('cus')),
    clickId: Nullable(Id('clk')),
    transactionId: Nullable(Id('txn')),
    amount: Nullable(Type.String()),
    currency: Nullable(CurrencySchema),
    saleExternalId: Nullable(Type.String()),
    occurredAt: Timestamp,
    metadata: Metadata,
    createdAt: Timestamp,
    commissions: Type.Optional(
      Type.Array(CommissionSummary, {
        description:
          'Commissions this event created. A refund lists the clawbacks it created; unpaid commissions of the sale shrink in place (see GET /commissions?partnerId=…)',
      }),
    ),
  },
  {
    examples: [
      {
        id: 'evt_01jd8x3v4w5y6z7a8b9c0d1e2f',
        type: 'sale',
        externalId: 'order-1001',
        partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
        customerId: 'cus_01jd8x3v4w5y6z7a8b9c0d1e2f',
        clickId: null,
        transactionId: 'txn_01jd8x3v4w5y6z7a8b9c0d1e2f',
        amount: '120.00',
        currency: 'EUR',
        saleExternalId: null,
        occurredAt: '2026-05-01T12:00:00.000Z',
        metadata: {},
        createdAt: '2026-05-01T12:00:00.000Z',
        commissions: [
          {
            id: 'com_01jd8x3v4w5y6z7a8b9c0d1e2f',
            kind: 'sale',
            amount: '24.00',
            currency: 'EUR',
            status: 'pending',
          },
        ],
      },
    ],
  },
);
