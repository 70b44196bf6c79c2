import { Type } from '@sinclair/typebox';
import { domainContext } from '../../http/domain-context.ts';
import type { App } from '../../http/fastify-types.ts';
import {
  DataEnvelope,
  DateFilter,
  errorResponses,
  IdParams,
  ListEnvelope,
  StringEnum,
} from '../../http/schemas.ts';
import { PaginationQuery } from '../../pagination.ts';
import { WEBHOOK_EVENT_TYPE_NAMES } from '../event-types.ts';
import {
  getMessageOrThrow,
  listEndpointMessages,
  listMessageAttempts,
  messageView,
  retryMessage,
} from '../messages.ts';
import { MESSAGE_STATUSES, WebhookAttemptSchema, WebhookMessageSchema } from '../schemas.ts';

const TAGS = ['Webhooks'];
const LIST_ERRORS = ['validation_error', 'invalid_cursor', 'not_found'] as const;
const range = {
  from: Type.Optional(DateFilter),
  to: Type.Optional(DateFilter),
};

export function webhookMessageRoutes(app: App): void {
  app.get(
    '/webhook-endpoints/:id/messages',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        operationId: 'listWebhookMessages',
        summary: "List an endpoint's messages",
        description:
          'Every message sent or to be sent to the endpoint, newest first, with its status. Filter by `status`, `eventType` and creation time (`from`, `to`).',
        tags: TAGS,
        params: IdParams('whe'),
        querystring: Type.Object(
          {
            ...PaginationQuery,
            status: Type.Optional(StringEnum(MESSAGE_STATUSES)),
            eventType: Type.Optional(StringEnum(WEBHOOK_EVENT_TYPE_NAMES)),
            ...range,
          },
          { additionalProperties: false },
        ),
        response: { 200: ListEnvelope(WebhookMessageSchema), ...errorResponses([...LIST_ERRORS]) },
      },
    },
    (request) => listEndpointMessages(domainContext(request), request.params.id, request.query),
  );

  app.get(
    '/webhook-messages/:id',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        operationId: 'getWebhookMessage',
        summary: 'Get a webhook message',
        tags: TAGS,
        params: IdParams('msg'),
        response: { 200: DataEnvelope(WebhookMessageSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request) => ({
      data: messageView(await getMessageOrThrow(domainContext(request), request.params.id)),
    }),
  );

  app.get(
    '/webhook-messages/:id/attempts',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        operationId: 'listWebhookAttempts',
        summary: "List a message's attempts",
        description:
          'Every attempt to send the message, newest first: the HTTP status, the duration, the first 4 KiB of the response, or why it failed.',
        tags: TAGS,
        params: IdParams('msg'),
        querystring: Type.Object(
          {
            ...PaginationQuery,
            status: Type.Optional(StringEnum(['delivered', 'failed'] as const)),
            ...range,
          },
          { additionalProperties: false },
        ),
        response: { 200: ListEnvelope(WebhookAttemptSchema), ...errorResponses([...LIST_ERRORS]) },
      },
    },
    (request) => listMessageAttempts(domainContext(request), request.params.id, request.query),
  );

  app.post(
    '/webhook-messages/:id/retry',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        operationId: 'retryWebhookMessage',
        summary: 'Resend a message now',
        description:
          'Queues an attempt right away. A pending message just skips the rest of its wait; a delivered or failed one is sent once more. Answers 202 with the message; the attempt shows up in its attempts.',
        tags: TAGS,
        params: IdParams('msg'),
        response: {
          202: DataEnvelope(WebhookMessageSchema),
          ...errorResponses(['not_found', 'invalid_state', 'invalid_json', 'unsupported_media_type']),
        },
      },
    },
    async (request, reply) => {
      const row = await retryMessage(domainContext(request), request.params.id);
      return reply.code(202).send({ data: messageView(row) });
    },
  );
}
