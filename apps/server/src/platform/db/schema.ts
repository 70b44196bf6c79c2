import type { ColumnType, Generated } from 'kysely';

/** A timestamp column the database fills in on insert. */
type CreatedAt = ColumnType<Date, Date | undefined, Date>;

export interface TenantsTable {
  id: string;
  slug: string;
  name: string;
  plan: Generated<string>;
  status: Generated<'active' | 'suspended'>;
  version: Generated<number>;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
}

export interface ApiKeysTable {
  id: string;
  tenantId: string;
  name: string;
  description: string | null;
  scopes: string[];
  environment: 'live' | 'test';
  start: string;
  keyHash: string;
  metadata: ColumnType<Record<string, string>, string | undefined, string>;
  createdBy: string | null;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
  lastUsedAt: Date | null;
  lastUsedIp: string | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  allowedIps: string[] | null;
  rateLimit: ColumnType<KeyRateLimit | null, string | null, string | null>;
  quota: ColumnType<KeyQuota | null, string | null | undefined, string | null>;
  /** When the quota began counting in its period setting (see migration 0012); never shown. */
  quotaSince: ColumnType<Date | null, Date | null | undefined, Date | null>;
  deactivatedAt: Date | null;
  replacedBy: string | null;
  requestCount: Generated<number>;
  version: Generated<number>;
  /** When api_key.expiring was sent for the current expiresAt. */
  expiryWarnedAt: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

/** A key's own request budget, overriding its tenant plan's. */
export interface KeyRateLimit {
  limit: number;
  windowSeconds: number;
}

/** A key's budget of requests per calendar day or month (UTC). */
export interface KeyQuota {
  limit: number;
  period: 'day' | 'month';
}

export interface PartnersTable {
  id: string;
  tenantId: string;
  email: string;
  name: string | null;
  status: 'invited' | 'active' | 'revoked';
  groupKey: string | null;
  referralCode: string;
  metadata: ColumnType<Record<string, string>, string | undefined, string>;
  version: Generated<number>;
  invitedAt: Date | null;
  activatedAt: Date | null;
  revokedAt: Date | null;
  inviteTokenHash: string | null;
  inviteExpiresAt: Date | null;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
}

type Json<T> = ColumnType<T, string, string>;

export interface IdempotencyKeysTable {
  tenantId: string;
  key: string;
  requestHash: string;
  status: 'in_flight' | 'done';
  lockedUntil: Date;
  responseStatus: number | null;
  responseBody: string | null;
  responseHeaders: ColumnType<Record<string, string> | null, string | null, string | null>;
  createdAt: CreatedAt;
}

export interface AuditLogTable {
  id: string;
  tenantId: string | null;
  action: string;
  actorType: string;
  actorId: string | null;
  resourceType: string;
  resourceId: string;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  changes: Json<Record<string, { before: unknown; after: unknown }>>;
  createdAt: CreatedAt;
}

/** A sale rule: a percentage in basis points, or a fixed amount per currency in minor units. */
export type SaleRule =
  | { type: 'percentage'; basisPoints: number }
  | { type: 'fixed'; amounts: Record<string, number> };
export type LeadRule = { amounts: Record<string, number> };

export interface PartnerGroupsTable {
  id: string;
  tenantId: string;
  key: string;
  name: string;
  holdbackDays: number;
  attributionWindowDays: number;
  saleCommission: ColumnType<SaleRule | null, string | null, string | null>;
  leadCommission: ColumnType<LeadRule | null, string | null, string | null>;
  recurring: boolean;
  recurringMonths: number | null;
  isDefault: boolean;
  version: Generated<number>;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
}

export interface CustomersTable {
  id: string;
  tenantId: string;
  externalId: string;
  email: string | null;
  name: string | null;
  partnerId: string | null;
  attributedAt: Date | null;
  lifetime: boolean;
  version: Generated<number>;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
}

export interface ClicksTable {
  id: string;
  tenantId: string;
  partnerId: string;
  eventId: string;
  occurredAt: Date;
  createdAt: CreatedAt;
}

export type EventType = 'click' | 'lead' | 'sale' | 'refund';

export interface EventsTable {
  id: string;
  tenantId: string;
  type: EventType;
  externalId: string | null;
  partnerId: string | null;
  customerId: string | null;
  clickId: string | null;
  transactionId: string | null;
  amountMinor: number | null;
  currency: string | null;
  saleExternalId: string | null;
  occurredAt: Date;
  metadata: Json<Record<string, string>>;
  createdAt: CreatedAt;
}

export type TransactionStatus = 'pending' | 'approved' | 'rejected' | 'refunded' | 'partially_refunded';

export interface TransactionsTable {
  id: string;
  tenantId: string;
  customerId: string | null;
  partnerId: string | null;
  eventId: string;
  externalId: string | null;
  amountMinor: number;
  refundedMinor: Generated<number>;
  currency: string;
  status: TransactionStatus;
  statusReason: string | null;
  occurredAt: Date;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
}

export type CommissionKind = 'sale' | 'lead' | 'clawback' | 'manual';
export type CommissionStatus = 'pending' | 'approved' | 'rejected' | 'reversed' | 'paid';

export interface CommissionsTable {
  id: string;
  tenantId: string;
  partnerId: string;
  transactionId: string | null;
  customerId: string | null;
  eventId: string | null;
  payoutId: string | null;
  reversesCommissionId: string | null;
  kind: CommissionKind;
  amountMinor: number;
  reversedMinor: Generated<number>;
  currency: string;
  status: CommissionStatus;
  statusReason: string | null;
  rule: Json<Record<string, unknown>>;
  occurredAt: Date;
  availableAt: Date;
  approvedAt: Date | null;
  paidAt: Date | null;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
}

export type PayoutStatus = 'pending' | 'paid' | 'canceled';

export interface PayoutsTable {
  id: string;
  tenantId: string;
  partnerId: string;
  currency: string;
  period: string;
  amountMinor: number;
  commissionCount: number;
  status: PayoutStatus;
  reference: string | null;
  paidAt: Date | null;
  canceledAt: Date | null;
  createdAt: CreatedAt;
  updatedAt: CreatedAt;
}

export type WebhookDisabledReason = 'manual' | 'gone' | 'failing';

export interface WebhookEndpointsTable {
  id: string;
  tenantId: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  enabled: boolean;
  disabledReason: WebhookDisabledReason | null;
  disabledAt: Date | null;
  metadata: Json<Record<string, string>>;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  failingSince: Date | null;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookOutboxTable {
  id: Generated<number>;
  tenantId: string;
  eventType: string;
  payload: string;
  createdAt: Date;
}

export type WebhookMessageStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookMessagesTable {
  id: string;
  tenantId: string;
  endpointId: string;
  eventType: string;
  body: string;
  status: WebhookMessageStatus;
  attempts: Generated<number>;
  retryIndex: Generated<number>;
  nextTrigger: ColumnType<WebhookAttemptTrigger, WebhookAttemptTrigger | undefined, WebhookAttemptTrigger>;
  nextAttemptAt: Date | null;
  lockedUntil: Date | null;
  leaseToken: string | null;
  lastAttemptAt: Date | null;
  deliveredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export type WebhookAttemptTrigger = 'scheduled' | 'manual' | 'test';

export interface WebhookAttemptsTable {
  id: string;
  tenantId: string;
  messageId: string;
  endpointId: string;
  attempt: number;
  trigger: WebhookAttemptTrigger;
  status: 'delivered' | 'failed';
  responseStatus: number | null;
  responseBody: string | null;
  durationMs: number;
  error: string | null;
  createdAt: Date;
}

export interface DB {
  tenants: TenantsTable;
  apiKeys: ApiKeysTable;
  partners: PartnersTable;
  idempotencyKeys: IdempotencyKeysTable;
  auditLog: AuditLogTable;
  partnerGroups: PartnerGroupsTable;
  customers: CustomersTable;
  clicks: ClicksTable;
  events: EventsTable;
  transactions: TransactionsTable;
  commissions: CommissionsTable;
  payouts: PayoutsTable;
  webhookEndpoints: WebhookEndpointsTable;
  webhookOutbox: WebhookOutboxTable;
  webhookMessages: WebhookMessagesTable;
  webhookAttempts: WebhookAttemptsTable;
}
