import type { FastifyRequest } from 'fastify';
import { requestOrigin } from '../http/request-origin.ts';
import { authOf } from '../http/tenant-api.ts';
import type { KeyContext } from './service.ts';

/** The key-management context of a tenant request: the caller, its scopes and the time. */
export function keyContext(request: FastifyRequest): KeyContext {
  const auth = authOf(request);
  const { db, config, clock } = request.server.services;
  return {
    db,
    tenantId: auth.tenant.id,
    actor: auth.actor,
    scopes: auth.actor.type === 'admin' ? 'all' : auth.scopes,
    keyPrefix: config.keyPrefix,
    now: clock.now(),
    origin: requestOrigin(request),
  };
}
