import { Type } from '@sinclair/typebox';
import type { App } from '../../http/fastify-types.ts';
import { errorResponses, ListEnvelope, StringEnum } from '../../http/schemas.ts';
import { authOf } from '../../http/tenant-api.ts';
import { PaginationQuery } from '../../pagination.ts';
import { ApiKeySchema, KEY_STATUSES } from '../schemas.ts';
import { listApiKeys } from '../service.ts';

const ListKeysQuery = Type.Object(
  {
    ...PaginationQuery,
    status: Type.Optional(StringEnum(KEY_STATUSES)),
    environment: Type.Optional(StringEnum(['live', 'test'] as const)),
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 100,
        description:
          'Name, description or start contains (case-insensitive; Ä matches Ä written as A plus a combining mark)',
      }),
    ),
  },
  { additionalProperties: false },
);

export function listApiKeysRoute(app: App): void {
  app.get(
    '/api-keys',
    {
      config: { scope: 'api_keys:read' },
      schema: {
        operationId: 'listApiKeys',
        summary: 'List API keys',
        description:
          'Never shows a secret: each key is recognisable by its `start`. Each key carries its request count and last use.',
        tags: ['API keys'],
        querystring: ListKeysQuery,
        response: {
          200: ListEnvelope(ApiKeySchema),
          ...errorResponses(['validation_error', 'invalid_cursor']),
        },
      },
    },
    (request) => {
      const { db, clock } = request.server.services;
      return listApiKeys(db, authOf(request).tenant.id, request.query, clock.now());
    },
  );
}
