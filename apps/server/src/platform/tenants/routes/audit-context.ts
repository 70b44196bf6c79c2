import type { FastifyRequest } from 'fastify';
import type { TenantAuditContext } from '../service.ts';

/** The platform admin acting through /api/admin, for the audit log. */
export function adminAudit(request: FastifyRequest): TenantAuditContext {
  return {
    actor: { type: 'admin' },
    now: request.server.services.clock.now(),
    origin: { ip: request.ip, userAgent: request.headers['user-agent'] ?? null, requestId: request.id },
  };
}
