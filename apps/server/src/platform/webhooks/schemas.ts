import { Type } from '@sinclair/typebox';
import { Id, Metadata, Nullable, StringEnum, Timestamp } from '../http/schemas.ts';
import { WEBHOOK_EVENT_TYPE_NAMES } from './event-types.ts';

const EXAMPLE_TIME = '2026-05-01T12:00:00.000Z';
const ENDPOINT_ID = 'whe_01jd8x3v4w5y6z7a8b9c0d1e2f';
const MESSAGE_ID = 'msg_01jd8x3v4w5y6z7a8b9c0d1e2f';
export const SECRET_EXAMPLE = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw6Ptu6yGkW+c=';

export const EventTypeName = StringEnum([...WEBHOOK_EVENT_TYPE_NAMES, '*'] as const, {
  description: 'An event type from GET /webhook-event-types, or `*` for all of them',
});

export const WebhookUrl = Type.String({
  minLength: 8,
  maxLength: 2048,
  format: 'uri',
  description:
    'Where events are POSTed. https:// (plain http only where the server allows it); never a private, loopback or link-local address',
  examples: ['https://example.com/webhooks/partnerline'],
});

export const EndpointDescription = Type.String({ maxLength: 500, examples: ['CRM sync'] });

export const EventTypeList = Type.Array(EventTypeName, {
  minItems: 1,
  maxItems: 50,
  description: 'The types to receive, or `["*"]` for every type',
  examples: [['partner.created', 'commission.approved']],
});

const endpointExample = {
  id: ENDPOINT_ID,
  url: 'https://example.com/webhooks/partnerline',
  description: 'CRM sync',
  eventTypes: ['partner.created', 'commission.approved'],
  enabled: true,
  disabledReason: null,
  disabledAt: null,
  metadata: { team: 'growth' },
  failingSince: null,
  previousSecretExpiresAt: null,
  createdAt: EXAMPLE_TIME,
  updatedAt: EXAMPLE_TIME,
};

const endpointFields = {
  id: Id('whe'),
  url: WebhookUrl,
  description: Nullable(EndpointDescription),
  eventTypes: Type.Array(Type.String(), { examples: [['partner.created']] }),
  enabled: Type.Boolean(),
  disabledReason: Nullable(
    StringEnum(['manual', 'gone', 'failing'] as const, {
      description:
        'Why the endpoint is disabled: `manual` (by a caller), `gone` (it answered 410), `failing` (every attempt failed for the disable window, 5 days by default)',
    }),
  ),
  disabledAt: Nullable(Timestamp),
  metadata: Metadata,
  failingSince: Nullable({
    ...Timestamp,
    description: 'The first failed attempt since the last delivered one; null while deliveries succeed',
  }),
  previousSecretExpiresAt: Nullable({
    ...Timestamp,
    description: 'After a rotation: until when the previous secret still signs beside the new one',
  }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
};

export const WebhookEndpointSchema = Type.Object(endpointFields, { examples: [endpointExample] });

export const CreatedWebhookEndpointSchema = Type.Object(
  {
    ...endpointFields,
    secret: Type.String({
      description: 'The signing secret (`whsec_…`); also shown by GET /webhook-endpoints/{id}/secret',
      examples: [SECRET_EXAMPLE],
    }),
  },
  { examples: [{ ...endpointExample, secret: SECRET_EXAMPLE }] },
);

export const WebhookSecretSchema = Type.Object(
  {
    secret: Type.String({ examples: [SECRET_EXAMPLE] }),
    previousSecretExpiresAt: Nullable(Timestamp),
  },
  { examples: [{ secret: SECRET_EXAMPLE, previousSecretExpiresAt: null }] },
);

export const MESSAGE_STATUSES = ['pending', 'delivered', 'failed'] as const;

export const WebhookMessageSchema = Type.Object(
  {
    id: Id('msg', { description: 'Sent as the `webhook-id` header; the same on every attempt' }),
    endpointId: Id('whe'),
    eventType: Type.String({ examples: ['partner.created'] }),
    status: StringEnum(MESSAGE_STATUSES, {
      description:
        '`pending` (waiting for its next attempt), `delivered` (a 2xx came back), `failed` (retries spent)',
    }),
    attempts: Type.Integer({ minimum: 0 }),
    nextAttemptAt: Nullable(Timestamp),
    lastAttemptAt: Nullable(Timestamp),
    deliveredAt: Nullable(Timestamp),
    createdAt: Timestamp,
    payload: Type.Object(
      {
        type: Type.String(),
        timestamp: Type.String({ format: 'date-time' }),
        data: Type.Object({}, { additionalProperties: true }),
      },
      { description: 'The body sent, byte for byte the same on every attempt' },
    ),
  },
  {
    examples: [
      {
        id: MESSAGE_ID,
        endpointId: ENDPOINT_ID,
        eventType: 'partner.created',
        status: 'delivered',
        attempts: 1,
        nextAttemptAt: null,
        lastAttemptAt: EXAMPLE_TIME,
        deliveredAt: EXAMPLE_TIME,
        createdAt: EXAMPLE_TIME,
        payload: {
          type: 'partner.created',
          timestamp: EXAMPLE_TIME,
          data: { id: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f', email: 'ada@example.com' },
        },
      },
    ],
  },
);

export const WebhookAttemptSchema = Type.Object(
  {
    id: Id('att'),
    messageId: Id('msg'),
    endpointId: Id('whe'),
    attempt: Type.Integer({ minimum: 1, description: 'The attempt number of the message, from 1' }),
    trigger: StringEnum(['scheduled', 'manual', 'test'] as const, {
      description: '`scheduled` (first send or retry), `manual` (retry or recover), `test`',
    }),
    status: StringEnum(['delivered', 'failed'] as const),
    responseStatus: Nullable(Type.Integer(), { description: 'null when no response came' }),
    responseBody: Nullable(Type.String(), {
      description:
        'The first 4 KiB of the response body as UTF-8 text: bytes that are not UTF-8 show as U+FFFD, NUL characters are removed',
    }),
    durationMs: Type.Integer({ minimum: 0 }),
    error: Nullable(Type.String(), {
      description: 'Why the attempt failed: `HTTP 500`, a timeout, a connection error, or a refused address',
    }),
    createdAt: Timestamp,
  },
  {
    examples: [
      {
        id: 'att_01jd8x3v4w5y6z7a8b9c0d1e2f',
        messageId: MESSAGE_ID,
        endpointId: ENDPOINT_ID,
        attempt: 1,
        trigger: 'scheduled',
        status: 'delivered',
        responseStatus: 200,
        responseBody: 'ok',
        durationMs: 42,
        error: null,
        createdAt: EXAMPLE_TIME,
      },
    ],
  },
);

export const WebhookEventTypeSchema = Type.Object(
  {
    type: Type.String({ examples: ['partner.created'] }),
    description: Type.String(),
    schema: Type.Object({}, { additionalProperties: true, description: 'The JSON Schema of `data`' }),
    example: Type.Object({}, { additionalProperties: true, description: 'A whole message body' }),
  },
  {
    examples: [
      {
        type: 'partner.created',
        description: 'A partner was created',
        schema: { type: 'object', properties: { id: { type: 'string' } } },
        example: {
          type: 'partner.created',
          timestamp: EXAMPLE_TIME,
          data: { id: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f' },
        },
      },
    ],
  },
);
