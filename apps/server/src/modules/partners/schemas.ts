import { Type } from '@sinclair/typebox';
import { matching, NOT_BLANK } from '../../platform/http/pattern-rule.ts';
import { Id, Metadata, Nullable, StringEnum, Timestamp } from '../../platform/http/schemas.ts';

export const PARTNER_STATUSES = ['invited', 'active', 'revoked'] as const;
export type PartnerStatus = (typeof PARTNER_STATUSES)[number];

export const Email = Type.String({ format: 'email', maxLength: 254, examples: ['ada@example.com'] });
export const GroupKey = Type.String({
  minLength: 1,
  maxLength: 64,
  ...matching(
    '^[a-z0-9][a-z0-9_-]*$',
    'must be 1-64 characters of a-z, 0-9, _ and -, starting with a letter or digit',
  ),
  description: 'The `key` of a partner group',
  examples: ['premium'],
});
export const ReferralCode = Type.String({
  minLength: 3,
  maxLength: 40,
  ...matching('^[A-Za-z0-9_-]+$', 'must be 3-40 characters of A-Z, a-z, 0-9, _ and -'),
  description: 'Unique per tenant whatever its letter case, and found that way; generated when absent',
  examples: ['ADA2026'],
});
export const PartnerName = Type.String({
  minLength: 1,
  maxLength: 200,
  ...NOT_BLANK,
  examples: ['Ada Lovelace'],
});

export const PartnerSchema = Type.Object(
  {
    id: Id('prt'),
    email: Email,
    name: Nullable(PartnerName),
    status: StringEnum(PARTNER_STATUSES),
    groupKey: Nullable(GroupKey),
    referralCode: ReferralCode,
    metadata: Metadata,
    invitedAt: Nullable(Timestamp),
    activatedAt: Nullable({ ...Timestamp, description: 'When the partner last became active' }),
    revokedAt: Nullable({ ...Timestamp, description: 'When the partner was revoked; null unless revoked' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  {
    examples: [
      {
        id: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f',
        email: 'ada@example.com',
        name: 'Ada Lovelace',
        status: 'active',
        groupKey: 'premium',
        referralCode: 'ADA2026',
        metadata: { crmId: 'hs-4411' },
        invitedAt: null,
        activatedAt: '2026-05-01T12:00:00.000Z',
        revokedAt: null,
        createdAt: '2026-05-01T12:00:00.000Z',
        updatedAt: '2026-05-01T12:00:00.000Z',
      },
    ],
  },
);
