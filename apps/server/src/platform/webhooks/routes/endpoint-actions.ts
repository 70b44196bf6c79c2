import { Type } from '@sinclair/typebox';
import { domainContext } from '../../http/domain-context.ts';
import { setEtag } from '../../http/etag.ts';
import type { App } from '../../http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams, TimestampInput } from '../../http/schemas.ts';
import { endpointView, getEndpointOrThrow, rotateEndpointSecret } from '../endpoints.ts';
import { recoverEndpoint, sendTestMessage } from '../messages.ts';
import { CreatedWebhookEndpointSchema, WebhookAttemptSchema, WebhookSecretSchema } from '../schemas.ts';

const TAGS = ['Webhooks'];

const RecoverBody = Type.Object(
  { since: { ...TimestampInput, description: 'Resend the failed messages created at or after this time' } },
  { additionalProperties: false, examples: [{ since: '2026-05-01T00:00:00.000Z' }] },
);

const RecoverResult = Type.Object(
  { messages: Type.Integer({ minimum: 0, description: 'How many failed messages are being resent' }) },
  { examples: [{ messages: 12 }] },
);

export function webhookEndpointActionRoutes(app: App): void {
  app.get(
    '/webhook-endpoints/:id/secret',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        operationId: 'getWebhookEndpointSecret',
        summary: 'Get the signing secret',
        description:
          'The secret receivers verify signatures with. Needs `webhooks:write`: whoever reads it can forge messages.',
        tags: TAGS,
        params: IdParams('whe'),
        response: { 200: DataEnvelope(WebhookSecretSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const row = await getEndpointOrThrow(domainContext(request), request.params.id);
      return { data: { secret: row.secret, previousSecretExpiresAt: row.previousSecretExpiresAt } };
    },
  );

  app.post(
    '/webhook-endpoints/:id/rotate-secret',
    {
      config: { etag: true, scope: 'webhooks:write' },
      schema: {
        operationId: 'rotateWebhookEndpointSecret',
        summary: 'Rotate the signing secret',
        description:
          'Issues a new secret and returns it. For 24 hours the previous secret keeps signing beside it: `webhook-signature` carries both signatures, so receivers verify with either while they switch. A second rotation within that time retires the oldest secret at once.',
        tags: TAGS,
        params: IdParams('whe'),
        response: {
          200: DataEnvelope(CreatedWebhookEndpointSchema),
          ...errorResponses(['not_found', 'invalid_json', 'unsupported_media_type']),
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const row = await rotateEndpointSecret(domainContext(request), request.params.id);
      setEtag(reply, row);
      return { data: { ...endpointView(row), secret: row.secret } };
    },
  );

  app.post(
    '/webhook-endpoints/:id/test',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        operationId: 'testWebhookEndpoint',
        summary: 'Send a test message',
        description:
          'Sends a `webhook.test` message now, whatever event types the endpoint subscribes to, and returns the attempt: status, duration and the start of the response. A failed test of an enabled endpoint is retried like any message.',
        tags: TAGS,
        params: IdParams('whe'),
        response: {
          200: DataEnvelope(WebhookAttemptSchema),
          ...errorResponses(['not_found', 'invalid_json', 'unsupported_media_type']),
        },
      },
    },
    async (request) => {
      const { config, clock, log, webhookDispatcher } = request.server.services;
      const attempt = await sendTestMessage(domainContext(request), request.params.id, {
        settings: config.webhooks,
        clock,
        log,
      });
      webhookDispatcher.countAttempt(attempt.status === 'delivered');
      return { data: attempt };
    },
  );

  app.post(
    '/webhook-endpoints/:id/recover',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        operationId: 'recoverWebhookEndpoint',
        summary: 'Resend failed messages',
        description:
          "Resends, once each, the endpoint's failed messages created since `since` — after an outage of the receiver, or after enabling a disabled endpoint again. Answers 202: the messages are queued, and their attempts show up in the message log.",
        tags: TAGS,
        params: IdParams('whe'),
        body: RecoverBody,
        response: {
          202: DataEnvelope(RecoverResult),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'not_found',
            'invalid_state',
          ]),
        },
      },
    },
    async (request, reply) => {
      const count = await recoverEndpoint(
        domainContext(request),
        request.params.id,
        new Date(request.body.since),
      );
      return reply.code(202).send({ data: { messages: count } });
    },
  );
}
