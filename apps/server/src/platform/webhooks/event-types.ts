import { type TSchema, Type } from '@sinclair/typebox';
import fastJson from 'fast-json-stringify';

/**
 * Every event type a webhook can carry, with what it means. The names are public contract; the
 * schemas of their `data` come from the modules that own the resources (registered at boot), so
 * the catalog shows the API's own schema objects and the platform imports no module.
 */
export const WEBHOOK_EVENT_TYPES = {
  'partner.created': 'A partner was created',
  'partner.updated': 'A partner changed: fields, group, status (activation included)',
  'partner.invited': 'A partner was sent an invite (or a new one replaced the last)',
  'partner.revoked': 'A partner was revoked: no new attribution or commissions',
  'customer.created': 'A customer was created, by hand or by a conversion event',
  'customer.updated': 'A customer changed, including a (re-)attribution to a partner',
  'transaction.created': 'A sale was recorded from a sale event',
  'transaction.approved': 'A transaction was approved',
  'transaction.rejected': 'A transaction was rejected',
  'transaction.refunded': 'A refund was booked against a transaction (in full or in part)',
  'commission.created': 'A commission was earned (sale or lead), or a clawback was booked',
  'commission.approved': 'A commission became payable: its holdback passed',
  'commission.reversed':
    'A commission stopped counting, in full or in part: reduced or reversed by a refund, or rejected with its transaction or partner',
  'commission.paid': 'A commission was paid with its payout',
  'payout.created': 'A payout gathered approved commissions',
  'payout.paid': 'A payout was marked paid',
  'api_key.created': 'An API key was created (the key itself is never sent)',
  'api_key.revoked': 'An API key was revoked',
  'api_key.expiring': 'An API key expires within 7 days (sent once per expiry date)',
  'webhook.test': 'A test message sent by POST /webhook-endpoints/{id}/test',
} as const;

export type WebhookEventType = keyof typeof WEBHOOK_EVENT_TYPES;
export const WEBHOOK_EVENT_TYPE_NAMES = Object.keys(WEBHOOK_EVENT_TYPES) as WebhookEventType[];

export type WebhookEventSchemas = Partial<Record<WebhookEventType, TSchema>>;

export const WebhookTestDataSchema = Type.Object(
  {
    endpointId: Type.String({ examples: ['whe_01jd8x3v4w5y6z7a8b9c0d1e2f'] }),
    message: Type.String({ examples: ['This is a test message from Partnerline'] }),
  },
  {
    examples: [
      { endpointId: 'whe_01jd8x3v4w5y6z7a8b9c0d1e2f', message: 'This is a test message from Partnerline' },
    ],
  },
);

interface Registered {
  schema: TSchema;
  serialize: (data: unknown) => string;
}

const registry = new Map<WebhookEventType, Registered>();

/**
 * Registers the schema of each type's `data`. `data` is rendered by the same serializer Fastify
 * renders responses with, from the same schema: a webhook's resource is byte for byte the API's.
 */
export function registerWebhookEventSchemas(schemas: WebhookEventSchemas): void {
  for (const [type, schema] of Object.entries(schemas) as [WebhookEventType, TSchema][]) {
    if (registry.get(type)?.schema === schema) continue;
    registry.set(type, { schema, serialize: fastJson(schema) as (data: unknown) => string });
  }
}

registerWebhookEventSchemas({ 'webhook.test': WebhookTestDataSchema });

/** Throws at boot when a type has no schema: every event must be documented in the catalog. */
export function assertWebhookCatalogComplete(): void {
  const missing = WEBHOOK_EVENT_TYPE_NAMES.filter((type) => !registry.has(type));
  if (missing.length > 0) throw new Error(`webhook event types without a schema: ${missing.join(', ')}`);
}

/** The `data` JSON of an event, exactly as the API renders the resource. */
export function serializeEventData(type: WebhookEventType, data: unknown): string {
  const entry = registry.get(type);
  if (!entry) throw new Error(`webhook event type ${type} has no registered schema`);
  return entry.serialize(data);
}

const EXAMPLE_TIME = '2026-05-01T12:00:00.000Z';
const CHANGED_AT = '2026-06-01T09:00:00.000Z';
const changed = { updatedAt: CHANGED_AT };

/**
 * What each event changes in the example of its resource's schema (a resource as created): the
 * catalog shows a `partner.revoked` with a revoked partner, not an active one.
 */
const EXAMPLE_CHANGES: Partial<Record<WebhookEventType, Record<string, unknown>>> = {
  'partner.invited': { ...changed, status: 'invited', invitedAt: CHANGED_AT },
  'partner.revoked': { ...changed, status: 'revoked', revokedAt: CHANGED_AT },
  'transaction.approved': { ...changed, status: 'approved' },
  'transaction.rejected': { ...changed, status: 'rejected', statusReason: 'duplicate order' },
  'transaction.refunded': { ...changed, status: 'refunded', refundedAmount: '120.00' },
  'commission.approved': { ...changed, status: 'approved', approvedAt: CHANGED_AT },
  'commission.reversed': {
    ...changed,
    status: 'reversed',
    statusReason: 'refunded',
    amount: '0.00',
    reversedAmount: '24.00',
  },
  'commission.paid': {
    ...changed,
    status: 'paid',
    payoutId: 'po_01jd8x3v4w5y6z7a8b9c0d1e2f',
    approvedAt: '2026-05-31T12:00:00.000Z',
    paidAt: CHANGED_AT,
  },
  'payout.paid': { ...changed, status: 'paid', reference: 'SEPA-2026-06-0042', paidAt: CHANGED_AT },
  'api_key.created': { lastUsedAt: null, lastUsedIp: null, requestCount: 0 },
  'api_key.revoked': { ...changed, status: 'revoked', revokedAt: CHANGED_AT },
  'api_key.expiring': { expiresAt: '2026-05-07T12:00:00.000Z' },
};

export function webhookCatalog() {
  return WEBHOOK_EVENT_TYPE_NAMES.map((type) => {
    const schema: TSchema | Record<string, never> = registry.get(type)?.schema ?? {};
    const base = (schema.examples as Record<string, unknown>[] | undefined)?.[0] ?? {};
    const data = { ...base, ...EXAMPLE_CHANGES[type] };
    // Dated like the change it reports, so a message does not precede its own paidAt or revokedAt.
    const timestamp = typeof data.updatedAt === 'string' ? data.updatedAt : EXAMPLE_TIME;
    return { type, description: WEBHOOK_EVENT_TYPES[type], schema, example: { type, timestamp, data } };
  });
}
