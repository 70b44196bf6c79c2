import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { normalizeIp } from '../auth/ip-allowlist.ts';

/**
 * The client's address as the server records, shows and counts it: an IPv4 client of a dual-stack
 * listener (`HOST=::`), which the socket reports as `::ffff:203.0.113.7`, is `203.0.113.7`, as on
 * an IPv4 listener; so is such an address forwarded by a trusted proxy. Costs a prefix check.
 */
export function clientIp(request: FastifyRequest): string {
  const { ip } = request;
  // Fastify's `ip` is undefined once the socket is gone, its type notwithstanding.
  if (typeof ip !== 'string') return ip;
  // With TRUST_PROXY, `ip` comes from X-Forwarded-For: what is not an address there (a request
  // that reached the server around its proxy can write anything) counts as the peer's own address,
  // so it can neither pick a budget of its own per request nor fill the logs.
  const peer = request.socket?.remoteAddress;
  if (ip !== peer && peer !== undefined && isIP(ip) === 0) return normalizeIp(peer);
  return normalizeIp(ip);
}
