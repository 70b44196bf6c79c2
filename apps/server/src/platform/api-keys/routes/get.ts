import { setEtag } from '../../http/etag.ts';
import type { App } from '../../http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../http/schemas.ts';
import { authOf } from '../../http/tenant-api.ts';
import { ApiKeySchema } from '../schemas.ts';
import { getApiKeyOrThrow } from '../service.ts';

export function getApiKeyRoute(app: App): void {
  app.get(
    '/api-keys/:id',
    {
      config: { etag: true, scope: 'api_keys:read' },
      schema: {
        operationId: 'getApiKey',
        summary: 'Get an API key',
        tags: ['API keys'],
        params: IdParams('key'),
        response: { 200: DataEnvelope(ApiKeySchema), ...errorResponses(['not_found']) },
      },
    },
    async (request, reply) => {
      const { db, clock } = request.server.services;
      const key = await getApiKeyOrThrow(db, authOf(request).tenant.id, request.params.id, clock.now());
      setEtag(reply, key);
      return { data: key };
    },
  );
}
