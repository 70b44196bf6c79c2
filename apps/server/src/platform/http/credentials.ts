import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';

/** The key presented in `X-API-Key` or `Authorization: Bearer`; undefined when neither is sent. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header.trim() !== '') return header.trim();
  const authorization = request.headers.authorization;
  if (authorization === undefined || authorization.trim() === '') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match?.[1]) {
    throw new ApiError(
      'api_key_invalid',
      'Send the key as `Authorization: Bearer <key>` or `X-API-Key: <key>`',
    );
  }
  return match[1];
}

export function missingKey(): ApiError {
  return new ApiError(
    'api_key_missing',
    'Send an API key in the X-API-Key header or as Authorization: Bearer <key>',
  );
}
