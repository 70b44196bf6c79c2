import { Type } from '@sinclair/typebox';
import { setEtag } from '../../http/etag.ts';
import type { App } from '../../http/fastify-types.ts';
import { DataEnvelope, errorResponses, Metadata, Nullable, StringEnum } from '../../http/schemas.ts';
import { keyContext } from '../context.ts';
import {
  AllowedIps,
  CreatedApiKeySchema,
  ExpiresAtInput,
  KeyDescription,
  KeyName,
  KeyQuotaSchema,
  KeyRateLimitSchema,
  ScopeList,
} from '../schemas.ts';
import { createApiKey } from '../service.ts';

const CreateApiKeyBody = Type.Object(
  {
    name: KeyName,
    scopes: ScopeList,
    environment: Type.Optional(StringEnum(['live', 'test'] as const, { default: 'live' })),
    // Settings a response shows as null are accepted as null (unset), as PATCH accepts them.
    description: Type.Optional(Nullable(KeyDescription)),
    expiresAt: Type.Optional(Nullable(ExpiresAtInput)),
    allowedIps: Type.Optional(Nullable(AllowedIps)),
    rateLimit: Type.Optional(Nullable(KeyRateLimitSchema)),
    quota: Type.Optional(Nullable(KeyQuotaSchema)),
    metadata: Type.Optional(Metadata),
  },
  {
    additionalProperties: false,
    examples: [
      { name: 'CRM sync', scopes: ['read'], environment: 'live' },
      { name: 'Reporting', scopes: ['read'], quota: { limit: 10_000, period: 'day' } },
    ],
  },
);

export function createApiKeyRoute(app: App): void {
  app.post(
    '/api-keys',
    {
      // The plaintext key is never stored, not even for an idempotent replay.
      config: { etag: true, scope: 'api_keys:write', idempotencySecretFields: ['data.key'] },
      schema: {
        operationId: 'createApiKey',
        summary: 'Create an API key',
        description:
          'Returns the plaintext key in `data.key` — the only time it is ever shown. A key can only grant scopes it holds itself, and restrictions at least as narrow as its own (`allowedIps`, `expiresAt`, `rateLimit`, `quota`): those it has and the request leaves out are copied to the new key, wider ones are 403 `key_restrictions_exceeded`. A retry with the same `Idempotency-Key` replays the record without `key` (the plaintext is never stored): if the first response was lost, revoke that key and create another.',
        tags: ['API keys'],
        body: CreateApiKeyBody,
        response: {
          201: DataEnvelope(CreatedApiKeySchema),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'payload_too_large',
            'key_restrictions_exceeded',
          ]),
        },
      },
    },
    async (request, reply) => {
      const key = await createApiKey(keyContext(request), request.body);
      setEtag(reply, key);
      return reply.code(201).header('cache-control', 'no-store').send({ data: key });
    },
  );
}
