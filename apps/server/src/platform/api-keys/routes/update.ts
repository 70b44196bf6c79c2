import { Type } from '@sinclair/typebox';
import { ifMatchVersions, setEtag } from '../../http/etag.ts';
import type { App } from '../../http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams, Metadata, Nullable } from '../../http/schemas.ts';
import { keyContext } from '../context.ts';
import {
  AllowedIps,
  ApiKeySchema,
  ExpiresAtInput,
  KeyDescription,
  KeyName,
  KeyQuotaSchema,
  KeyRateLimitSchema,
  ScopeList,
} from '../schemas.ts';
import { updateApiKey } from '../service.ts';

const UpdateApiKeyBody = Type.Object(
  {
    name: Type.Optional(KeyName),
    description: Type.Optional(Nullable(KeyDescription)),
    scopes: Type.Optional(ScopeList),
    expiresAt: Type.Optional(Nullable(ExpiresAtInput)),
    allowedIps: Type.Optional(Nullable(AllowedIps)),
    rateLimit: Type.Optional(Nullable(KeyRateLimitSchema)),
    quota: Type.Optional(Nullable(KeyQuotaSchema)),
    metadata: Type.Optional(Metadata),
  },
  {
    additionalProperties: false,
    examples: [
      { scopes: ['partners:read'], allowedIps: ['203.0.113.0/24'] },
      { quota: { limit: 100_000, period: 'month' } },
      { quota: null },
    ],
  },
);

export function updateApiKeyRoute(app: App): void {
  app.patch(
    '/api-keys/:id',
    {
      config: { etag: true, scope: 'api_keys:write' },
      schema: {
        operationId: 'updateApiKey',
        summary: 'Update an API key',
        description:
          "Changes take effect in every server process within a second. Scopes can only be set within the caller's own; `null` removes an expiry, IP restriction, rate-limit override or quota, but not one the calling key has itself: a key may not set restrictions wider than its own (403 `key_restrictions_exceeded`), on itself or on another key. A changed quota keeps the count of the current period.",
        tags: ['API keys'],
        params: IdParams('key'),
        headers: Type.Object({
          'if-match': Type.Optional(Type.String({ description: 'The ETag from GET' })),
        }),
        body: UpdateApiKeyBody,
        response: {
          200: DataEnvelope(ApiKeySchema),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'not_found',
            'invalid_state',
            'precondition_failed',
            'key_restrictions_exceeded',
          ]),
        },
      },
    },
    async (request, reply) => {
      const { after } = await updateApiKey(
        keyContext(request),
        request.params.id,
        request.body,
        ifMatchVersions(request),
      );
      await request.server.services.keyChanges.announce({ keyId: after.id });
      setEtag(reply, after);
      return { data: after };
    },
  );
}
