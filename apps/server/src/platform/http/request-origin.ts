import type { FastifyRequest } from 'fastify';
import { secretMaskFor } from '../auth/secret-mask.ts';
import type { RequestOrigin } from '../context.ts';
import { clientIp } from './client-ip.ts';

/**
 * Where a request's change came from, for the audit log: the client's IP, its User-Agent (any key
 * in it masked, cut to 512 characters, as in the request log) and the request id.
 */
export function requestOrigin(request: FastifyRequest): RequestOrigin {
  const secrets = secretMaskFor(request.server.services.config);
  return {
    ip: clientIp(request),
    userAgent: secrets.userAgent(request.headers['user-agent']),
    requestId: request.id,
  };
}
