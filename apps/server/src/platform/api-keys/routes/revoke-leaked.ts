import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { clientIp } from '../../http/client-ip.ts';
import type { App } from '../../http/fastify-types.ts';
import { requestOrigin } from '../../http/request-origin.ts';
import { errorResponses } from '../../http/schemas.ts';
import { documentIpLimit } from '../../openapi.ts';
import { enforceLimits } from '../../rate-limit/request-limits.ts';
import { revokeLeakedKeys } from '../service.ts';

/** Reports per IP and minute: enough for a scanner's batches, too few to guess keys with. */
const LEAK_REPORTS = { kind: 'rate', name: 'leak-reports', limit: 10, windowSeconds: 60 } as const;

/**
 * Takes every report from its IP's budget before the body is read: malformed reports count too,
 * and every answer, a 400 included, carries the rate-limit headers.
 */
function limitLeakReports(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return enforceLimits(request, reply, [{ bucket: `{leak:${clientIp(request)}}`, policy: LEAK_REPORTS }]);
}

const LeakReport = Type.Object(
  {
    keys: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
      minItems: 1,
      maxItems: 100,
      description: 'Full API keys found exposed, as a secret scanner reports them',
    }),
  },
  { additionalProperties: false, examples: [{ keys: ['plk_live_01jd8x3v4w5y6z7a8b9c0d1e2f_Xy7…'] }] },
);

const Received = Type.Object(
  { data: Type.Object({ received: Type.Integer({ description: 'How many keys the report listed' }) }) },
  { examples: [{ data: { received: 1 } }] },
);

/**
 * `POST /api/v1/api-keys/revoke-leaked`: anyone holding a leaked key (a secret scanner, a finder)
 * can get it revoked. No credential is needed — the key itself is the proof — and the answer is
 * the same whether a key existed or not, so the endpoint tells nothing about keys.
 */
export function revokeLeakedKeysRoute(app: App): void {
  app.post(
    '/api/v1/api-keys/revoke-leaked',
    {
      onRequest: limitLeakReports,
      schema: documentIpLimit({
        operationId: 'revokeLeakedApiKeys',
        summary: 'Report leaked API keys: each real one is revoked at once',
        description:
          'For secret scanners (GitHub secret scanning and the like). Needs no API key. Every valid key listed is revoked and audited in its tenant; the answer is identical for unknown keys. Limited to 10 reports per minute per IP (policy `leak-reports`); every request counts, malformed ones included. Sending a report again is harmless and answered alike, so this POST takes no `Idempotency-Key`.',
        tags: ['API keys'],
        security: [],
        body: LeakReport,
        response: {
          202: Received,
          ...errorResponses(
            [
              'validation_error',
              'invalid_json',
              'unsupported_media_type',
              'payload_too_large',
              'rate_limited',
              'service_unavailable',
            ],
            'public',
          ),
        },
      }),
    },
    async (request, reply) => {
      const { db, config, clock, keyChanges } = request.server.services;
      const now = clock.now();
      const revoked = await revokeLeakedKeys(
        db,
        config.keyPrefix,
        request.body.keys,
        now,
        requestOrigin(request),
      );
      for (const { keyId } of revoked) await keyChanges.announce({ keyId });
      if (revoked.length > 0)
        request.log.warn({ keyIds: revoked.map((r) => r.keyId) }, 'revoked leaked API keys');
      return reply.code(202).send({ data: { received: request.body.keys.length } });
    },
  );
}
