import { Type } from '@sinclair/typebox';
import { domainContext } from '../../http/domain-context.ts';
import { ifMatchVersions, setEtag } from '../../http/etag.ts';
import type { App } from '../../http/fastify-types.ts';
import {
  BooleanQuery,
  DataEnvelope,
  errorResponses,
  IdParams,
  ListEnvelope,
  Metadata,
  Nullable,
} from '../../http/schemas.ts';
import { PaginationQuery } from '../../pagination.ts';
import {
  createEndpoint,
  deleteEndpoint,
  endpointView,
  getEndpointOrThrow,
  listEndpoints,
  updateEndpoint,
} from '../endpoints.ts';
import {
  CreatedWebhookEndpointSchema,
  EndpointDescription,
  EventTypeList,
  WebhookEndpointSchema,
  WebhookUrl,
} from '../schemas.ts';

const TAGS = ['Webhooks'];
const WRITE_ERRORS = [
  'validation_error',
  'invalid_json',
  'unsupported_media_type',
  'payload_too_large',
] as const;

const CreateEndpointBody = Type.Object(
  {
    url: WebhookUrl,
    description: Type.Optional(EndpointDescription),
    eventTypes: EventTypeList,
    enabled: Type.Optional(Type.Boolean({ default: true })),
    metadata: Type.Optional(Metadata),
  },
  {
    additionalProperties: false,
    examples: [
      {
        url: 'https://example.com/webhooks/partnerline',
        description: 'CRM sync',
        eventTypes: ['partner.created', 'commission.approved'],
      },
    ],
  },
);

const UpdateEndpointBody = Type.Object(
  {
    url: Type.Optional(WebhookUrl),
    description: Type.Optional(Nullable(EndpointDescription)),
    eventTypes: Type.Optional(EventTypeList),
    enabled: Type.Optional(Type.Boolean()),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false, examples: [{ eventTypes: ['*'], enabled: true }] },
);

const DeletedSchema = Type.Object(
  { id: Type.String(), deleted: Type.Literal(true) },
  { examples: [{ id: 'whe_01jd8x3v4w5y6z7a8b9c0d1e2f', deleted: true }] },
);

export function webhookEndpointRoutes(app: App): void {
  app.get(
    '/webhook-endpoints',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        operationId: 'listWebhookEndpoints',
        summary: 'List webhook endpoints',
        description: 'Newest first. Page with `page`/`limit`, or with `cursor`/`limit`.',
        tags: TAGS,
        querystring: Type.Object(
          { ...PaginationQuery, enabled: Type.Optional(BooleanQuery) },
          { additionalProperties: false },
        ),
        response: {
          200: ListEnvelope(WebhookEndpointSchema),
          ...errorResponses(['validation_error', 'invalid_cursor']),
        },
      },
    },
    async (request) => {
      const page = await listEndpoints(domainContext(request), request.query);
      return { data: page.data.map(endpointView), pagination: page.pagination };
    },
  );

  app.post(
    '/webhook-endpoints',
    {
      config: { etag: true, scope: 'webhooks:write' },
      schema: {
        operationId: 'createWebhookEndpoint',
        summary: 'Create a webhook endpoint',
        description:
          'Subscribes a URL to event types. The response carries the signing `secret` (`whsec_…`); GET /webhook-endpoints/{id}/secret shows it again. Nothing is sent until an event happens; POST /webhook-endpoints/{id}/test sends a test message at once.',
        tags: TAGS,
        body: CreateEndpointBody,
        response: {
          201: DataEnvelope(CreatedWebhookEndpointSchema),
          ...errorResponses([...WRITE_ERRORS]),
        },
      },
    },
    async (request, reply) => {
      const { config } = request.server.services;
      const row = await createEndpoint(domainContext(request), request.body, config.webhooks);
      setEtag(reply, row);
      return reply.code(201).send({ data: { ...endpointView(row), secret: row.secret } });
    },
  );

  app.get(
    '/webhook-endpoints/:id',
    {
      config: { etag: true, scope: 'webhooks:read' },
      schema: {
        operationId: 'getWebhookEndpoint',
        summary: 'Get a webhook endpoint',
        tags: TAGS,
        params: IdParams('whe'),
        response: { 200: DataEnvelope(WebhookEndpointSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request, reply) => {
      const row = await getEndpointOrThrow(domainContext(request), request.params.id);
      setEtag(reply, row);
      return { data: endpointView(row) };
    },
  );

  app.patch(
    '/webhook-endpoints/:id',
    {
      config: { etag: true, scope: 'webhooks:write' },
      schema: {
        operationId: 'updateWebhookEndpoint',
        summary: 'Update a webhook endpoint',
        description:
          'Changes only the fields sent. `enabled: false` disables the endpoint and fails its pending messages (resend them with POST …/recover after enabling it again); `enabled: true` re-enables one the server disabled. A `url` sent back as shown, its password `****`, keeps the stored password; a changed `url` must carry its password again (`****` is then a 400). Send `If-Match` with the ETag to refuse the write (412) when someone else changed it first.',
        tags: TAGS,
        params: IdParams('whe'),
        headers: Type.Object({
          'if-match': Type.Optional(Type.String({ description: 'The ETag from GET' })),
        }),
        body: UpdateEndpointBody,
        response: {
          200: DataEnvelope(WebhookEndpointSchema),
          ...errorResponses([...WRITE_ERRORS, 'not_found', 'precondition_failed']),
        },
      },
    },
    async (request, reply) => {
      const { config } = request.server.services;
      const row = await updateEndpoint(
        domainContext(request),
        request.params.id,
        request.body,
        config.webhooks,
        ifMatchVersions(request),
      );
      setEtag(reply, row);
      return { data: endpointView(row) };
    },
  );

  app.delete(
    '/webhook-endpoints/:id',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        operationId: 'deleteWebhookEndpoint',
        summary: 'Delete a webhook endpoint',
        description: 'Deletes the endpoint with its messages and their attempts. Nothing more is sent to it.',
        tags: TAGS,
        params: IdParams('whe'),
        response: { 200: DataEnvelope(DeletedSchema), ...errorResponses(['not_found']) },
      },
    },
    async (request) => {
      await deleteEndpoint(domainContext(request), request.params.id);
      return { data: { id: request.params.id, deleted: true as const } };
    },
  );
}
