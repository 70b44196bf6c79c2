import type { FastifyRequest } from 'fastify';
import pino from 'pino';
import type { SecretMask } from '../auth/secret-mask.ts';
import { clientIp } from './client-ip.ts';

/**
 * The server log's view of requests and errors, with keys hidden: a caller can put a key into a
 * URL (`?apiKey=…`, a path segment, percent-encoded) or the Host header, and an error message can
 * quote its input.
 * Fields as Fastify's own serializers write them.
 */
export function logSerializers(secrets: SecretMask) {
  return {
    req: (request: FastifyRequest) => ({
      method: request.method,
      url: secrets.mask(request.url),
      host: secrets.mask(request.host),
      remoteAddress: clientIp(request),
      remotePort: request.socket?.remotePort,
    }),
    err: (error: Error) => {
      const serialized = pino.stdSerializers.err(error);
      serialized.message = secrets.mask(serialized.message);
      if (serialized.stack) serialized.stack = secrets.mask(serialized.stack);
      return serialized;
    },
  };
}
