import { Type } from '@sinclair/typebox';
import type { App } from '../../http/fastify-types.ts';
import { DataEnvelope, errorResponses, Nullable, StringEnum, Timestamp } from '../../http/schemas.ts';
import { authOf } from '../../http/tenant-api.ts';
import { effectiveRateLimit, quotaStatusOf } from '../../rate-limit/request-limits.ts';

const MeSchema = Type.Object(
  {
    id: Type.String({ description: 'The key id, or `admin` for the platform admin key' }),
    name: Type.String(),
    scopes: Type.Array(Type.String()),
    environment: StringEnum(['live', 'test'] as const),
    tenant: Type.Object({ id: Type.String(), slug: Type.String(), name: Type.String() }),
    createdAt: Nullable(Timestamp),
    lastUsedAt: Nullable(Timestamp),
    rateLimit: Nullable(
      Type.Object(
        {
          limit: Type.Integer({ description: 'Requests allowed per window' }),
          windowSeconds: Type.Integer(),
        },
        { description: 'The rate limit of the key; null for the platform admin key, which is never limited' },
      ),
    ),
    quota: Nullable(
      Type.Object(
        {
          limit: Type.Integer({ description: 'Requests allowed per period' }),
          period: StringEnum(['day', 'month'] as const),
          remaining: Type.Integer({ description: 'Requests left in this period, after this one' }),
          resetsAt: { ...Timestamp, description: 'When the period ends and the count starts again' },
        },
        { description: "The key's quota; null when it has none" },
      ),
    ),
  },
  {
    examples: [
      {
        id: 'key_01jd8x3v4w5y6z7a8b9c0d1e2f',
        name: 'CRM sync',
        scopes: ['read'],
        environment: 'live',
        tenant: { id: 'ten_01jd8x3v4w5y6z7a8b9c0d1e2f', slug: 'acme', name: 'Acme Inc.' },
        createdAt: '2026-05-01T12:00:00.000Z',
        lastUsedAt: '2026-05-02T08:30:00.000Z',
        rateLimit: { limit: 600, windowSeconds: 60 },
        quota: { limit: 100_000, period: 'month', remaining: 81_234, resetsAt: '2026-06-01T00:00:00.000Z' },
      },
    ],
  },
);

export function meRoute(app: App): void {
  app.get(
    '/me',
    {
      schema: {
        operationId: 'getMe',
        summary: 'The calling API key',
        description:
          'Any valid key may call it: its name, scopes, tenant, last use, rate limit and quota (with what is left of it after this request).',
        tags: ['API keys'],
        response: { 200: DataEnvelope(MeSchema), ...errorResponses([]) },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const { tenant, actor } = auth;
      const tenantView = { id: tenant.id, slug: tenant.slug, name: tenant.name };
      if (actor.type === 'admin') {
        const data = { id: 'admin', name: 'Platform admin', scopes: ['admin'], environment: 'live' as const };
        return {
          data: {
            ...data,
            tenant: tenantView,
            createdAt: null,
            lastUsedAt: null,
            rateLimit: null,
            quota: null,
          },
        };
      }
      const { limit, windowSeconds } = effectiveRateLimit(auth, request.server.services.config);
      const rateLimit = { limit, windowSeconds };
      const lastUse = request.server.services.keyUsage.lastUse(actor.keyId);
      return {
        data: {
          id: actor.keyId,
          name: actor.name,
          scopes: actor.grantedScopes,
          environment: actor.environment,
          tenant: tenantView,
          createdAt: actor.createdAt,
          lastUsedAt: lastUse?.at ?? actor.lastUsedAt,
          rateLimit,
          quota: quotaStatusOf(request),
        },
      };
    },
  );
}
