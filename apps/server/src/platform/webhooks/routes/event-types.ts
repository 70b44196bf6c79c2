import { Type } from '@sinclair/typebox';
import type { App } from '../../http/fastify-types.ts';
import { errorResponses } from '../../http/schemas.ts';
import { webhookCatalog } from '../event-types.ts';
import { WebhookEventTypeSchema } from '../schemas.ts';

export function webhookEventTypeRoutes(app: App): void {
  app.get(
    '/webhook-event-types',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        operationId: 'listWebhookEventTypes',
        summary: 'List webhook event types',
        description:
          "Every event type with its description, an example message and the JSON Schema of its `data` — the same schema as the API's own representation of the resource.",
        tags: ['Webhooks'],
        response: {
          200: Type.Object(
            { data: Type.Array(WebhookEventTypeSchema) },
            { examples: [{ data: WebhookEventTypeSchema.examples }] },
          ),
          ...errorResponses([]),
        },
      },
    },
    async () => ({ data: webhookCatalog() }),
  );
}
