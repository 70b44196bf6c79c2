import type { FastifyRequest } from 'fastify';
import { requestOrigin } from '../../http/request-origin.ts';
import type { TenantAuditContext } from '../service.ts';

/** The platform admin acting through /api/admin, for the audit log. */
export function adminAudit(request: FastifyRequest): TenantAuditContext {
  return {
    actor: { type: 'admin' },
    now: request.server.services.clock.now(),
    origin: requestOrigin(request),
  };
}
