import { Type } from '@sinclair/typebox';
import { NOT_BLANK } from '../../platform/http/pattern-rule.ts';
import { Id, Nullable, Timestamp } from '../../platform/http/schemas.ts';

export const ExternalId = Type.String({
  minLength: 1,
  maxLength: 200,
  description: "The tenant's own id for this customer",
  examples: ['crm-4711'],
});
export const CustomerEmail = Type.String({
  format: 'email',
  maxLength: 254,
  examples: ['grace@example.com'],
});
export const CustomerName = Type.String({
  minLength: 1,
  maxLength: 200,
  ...NOT_BLANK,
  examples: ['Grace Hopper'],
});

export const CustomerSchema = Type.Object(
  {
    id: Id('cus'),
    externalId: ExternalId,
    email: Nullable(Type.String()),
    name: Nullable(Type.String()),
    partnerId: Nullable(Id('prt', { description: 'The partner the customer is attributed to' })),
    attributedAt: Nullable(Timestamp),
    lifetime: Type.Boolean({
      description: 'Attributed for life: later sales keep earning the partner commission',
    }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  {
    examples: [
      {
        id: 'cus_01jd8x3v4w5y6z7a8b9c0d1e2f',
        externalId: 'crm-4711',
        email: 'grace@example.com',
        name: 'Grace Hopper',
        partnerId: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
        attributedAt: '2026-05-01T12:00:00.000Z',
        lifetime: true,
        createdAt: '2026-05-01T12:00:00.000Z',
        updatedAt: '2026-05-01T12:00:00.000Z',
      },
    ],
  },
);
