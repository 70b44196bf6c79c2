import { domainContext } from '../../../platform/http/domain-context.ts';
import type { App } from '../../../platform/http/fastify-types.ts';
import { DataEnvelope, errorResponses } from '../../../platform/http/schemas.ts';
import { CreateEventBody, EventSchema } from '../schemas.ts';
import { eventView, eventViewWith, ingestEvent } from '../service.ts';

export function createEventRoute(app: App): void {
  app.post(
    '/events',
    {
      config: { scope: 'events:write' },
      schema: {
        operationId: 'createEvent',
        summary: 'Record a conversion event (click, lead, sale or refund)',
        description: [
          "- **click**: counted for the partner (partnerId or referralCode); returns a `clickId` that attributes later events within the group's attribution window.",
          "- **lead**: creates or attributes the customer; earns the group's lead commission.",
          '- **sale**: creates a transaction and, for an attributed customer, its commission.',
          '- **refund**: refunds all (no amount) or part of the sale named by `saleExternalId`; unpaid commissions shrink, paid ones are clawed back. An unknown sale is 409 `sale_not_found`: retry later.',
          '',
          'First touch wins: a customer keeps the partner that first referred them. An `externalId` already seen for this type answers 200 with the first event instead of processing it again.',
        ].join('\n'),
        tags: ['Events'],
        body: CreateEventBody,
        response: {
          200: {
            ...DataEnvelope(EventSchema),
            description: 'A repeat of an event already recorded (same type and externalId)',
          },
          201: DataEnvelope(EventSchema),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'payload_too_large',
            'sale_not_found',
            'refund_exceeds_sale',
            'invalid_state',
          ]),
        },
      },
    },
    async (request, reply) => {
      const ctx = domainContext(request);
      const ingested = await ingestEvent(ctx, request.body);
      if (ingested.created) {
        return reply.code(201).send({ data: eventViewWith(ingested.event, ingested.commissions) });
      }
      return reply.code(200).send({ data: await eventView(ctx, ingested.event) });
    },
  );
}
