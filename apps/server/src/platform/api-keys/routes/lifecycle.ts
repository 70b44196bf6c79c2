import { Type } from '@sinclair/typebox';
import { setEtag } from '../../http/etag.ts';
import type { App } from '../../http/fastify-types.ts';
import { DataEnvelope, errorResponses, IdParams } from '../../http/schemas.ts';
import { keyContext } from '../context.ts';
import { ApiKeySchema, CreatedApiKeySchema } from '../schemas.ts';
import { revokeApiKey, rotateApiKey, setApiKeyActive } from '../service.ts';

const EmptyBody = Type.Object({}, { additionalProperties: false });

/** Deactivate, activate and revoke: each takes effect in every process within a second. */
export function keyStateRoutes(app: App): void {
  for (const [action, active] of [
    ['deactivate', false],
    ['activate', true],
  ] as const) {
    app.post(
      `/api-keys/:id/${action}`,
      {
        config: { etag: true, scope: 'api_keys:write' },
        schema: {
          operationId: `${action}ApiKey`,
          summary: active ? 'Activate a deactivated API key' : 'Deactivate an API key (reversible)',
          description: active
            ? 'The key works again. Activating an active key changes nothing.'
            : 'Until it is activated again the key gets 401 `api_key_inactive`. Deactivating twice changes nothing.',
          tags: ['API keys'],
          params: IdParams('key'),
          body: EmptyBody,
          response: {
            200: DataEnvelope(ApiKeySchema),
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
        const { after } = await setApiKeyActive(keyContext(request), request.params.id, active);
        await request.server.services.keyChanges.announce({ keyId: after.id });
        setEtag(reply, after);
        return { data: after };
      },
    );
  }

  app.delete(
    '/api-keys/:id',
    {
      config: { etag: true, scope: 'api_keys:write' },
      schema: {
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key',
        description:
          'Permanent: from then on the key gets 401 `api_key_revoked`, in every server process within a second. The record stays, with `revokedAt` set.',
        tags: ['API keys'],
        params: IdParams('key'),
        response: { 200: DataEnvelope(ApiKeySchema), ...errorResponses(['not_found']) },
      },
    },
    async (request, reply) => {
      const key = await revokeApiKey(keyContext(request), request.params.id);
      await request.server.services.keyChanges.announce({ keyId: key.id });
      setEtag(reply, key);
      return { data: key };
    },
  );

  app.post(
    '/api-keys/:id/rotate',
    {
      config: { etag: true, scope: 'api_keys:write', idempotencySecretFields: ['data.key'] },
      schema: {
        operationId: 'rotateApiKey',
        summary: 'Rotate an API key',
        description:
          'Returns a new key with the same settings, shown once in `data.key`. The old key keeps working for `gracePeriodSeconds` (default one day), then gets 401 `api_key_expired`; `replacedBy` on the old key names the new one.',
        tags: ['API keys'],
        params: IdParams('key'),
        body: Type.Object(
          {
            gracePeriodSeconds: Type.Optional(
              Type.Integer({ minimum: 0, maximum: 604_800, default: 86_400, description: '0 to 7 days' }),
            ),
          },
          { additionalProperties: false, examples: [{ gracePeriodSeconds: 3600 }] },
        ),
        response: {
          201: DataEnvelope(CreatedApiKeySchema),
          ...errorResponses([
            'validation_error',
            'invalid_json',
            'unsupported_media_type',
            'not_found',
            'invalid_state',
            'key_restrictions_exceeded',
          ]),
        },
      },
    },
    async (request, reply) => {
      const { old, created } = await rotateApiKey(
        keyContext(request),
        request.params.id,
        request.body.gracePeriodSeconds ?? 86_400,
      );
      await request.server.services.keyChanges.announce({ keyId: old.id });
      setEtag(reply, created);
      return reply.code(201).header('cache-control', 'no-store').send({ data: created });
    },
  );
}
