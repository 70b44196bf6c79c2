import type { FastifyRequest } from 'fastify';
import type { DomainContext } from '../context.ts';
import { requestOrigin } from './request-origin.ts';
import { authOf } from './tenant-api.ts';

/** The domain context of a tenant request: its tenant, caller, database and the current time. */
export function domainContext(request: FastifyRequest): DomainContext {
  const auth = authOf(request);
  const { db, clock } = request.server.services;
  return {
    db,
    tenantId: auth.tenant.id,
    actor: auth.actor,
    now: clock.now(),
    origin: requestOrigin(request),
  };
}
