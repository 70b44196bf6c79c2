import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * The key presented in `X-API-Key` or `Authorization: Bearer`; undefined when neither is sent. A
 * request that presents two keys (the two headers naming different keys, or either header twice) is
 * refused rather than answered with one of them, whichever it would be. An `Authorization` that is
 * no bearer token beside an `X-API-Key` is left alone: it may be meant for a proxy in front.
 */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  const apiKey = typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined;
  // Node.js joins repeated X-API-Key headers with commas, which no key contains.
  if (apiKey?.includes(',')) throw invalidCredentials('Send one X-API-Key header, not several');
  const authorization = request.headers.authorization;
  if (authorization === undefined || authorization.trim() === '') return apiKey;
  // Node.js keeps only the first of repeated Authorization headers.
  if (repeated(request.raw.rawHeaders, 'authorization')) {
    throw invalidCredentials('Send one Authorization header, not several');
  }
  const bearer = BEARER.exec(authorization)?.[1];
  if (apiKey === undefined) {
    if (bearer === undefined) {
      throw invalidCredentials('Send the key as `Authorization: Bearer <key>` or `X-API-Key: <key>`');
    }
    return bearer;
  }
  if (bearer !== undefined && bearer !== apiKey) {
    throw invalidCredentials('X-API-Key and Authorization name different keys; send one key');
  }
  return apiKey;
}

function repeated(rawHeaders: string[], name: string): boolean {
  let seen = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const header = rawHeaders[i] as string;
    if (header.length === name.length && header.toLowerCase() === name && ++seen > 1) return true;
  }
  return false;
}

function invalidCredentials(detail: string): ApiError {
  return new ApiError('api_key_invalid', detail);
}

export function missingKey(): ApiError {
  return new ApiError(
    'api_key_missing',
    'Send an API key in the X-API-Key header or as Authorization: Bearer <key>',
  );
}
