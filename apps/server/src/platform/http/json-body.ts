import { isUtf8 } from 'node:buffer';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';

type Done = (error: Error | null, body?: unknown) => void;

/** Fastify's own JSON parser (`getDefaultJsonParser`): empty bodies, syntax and prototype poisoning. */
export type JsonTextParser = (request: FastifyRequest, body: string, done: Done) => void;

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;
const UTF8_NAMES: ReadonlySet<string> = new Set(['utf-8', 'utf8']);

/**
 * The parser of `application/json` bodies. JSON travels as UTF-8 (RFC 8259): a body declared in
 * another charset, or sent with a content coding, is a 415 that says what to send instead, and bytes
 * that are not UTF-8 are a 400, rather than text silently stored with U+FFFD where they were. What
 * remains is parsed by `parseText`.
 */
export function jsonBodyParser(
  parseText: JsonTextParser,
): (request: FastifyRequest, body: Buffer, done: Done) => void {
  return (request, body, done) => {
    const coding = request.headers['content-encoding']?.trim().toLowerCase();
    if (coding !== undefined && coding !== '' && coding !== 'identity') {
      done(
        new ApiError('unsupported_media_type', 'Send the request body without a Content-Encoding', {
          headers: { 'accept-encoding': 'identity' },
        }),
      );
      return;
    }
    const charset = CHARSET.exec(request.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && !UTF8_NAMES.has(charset)) {
      done(
        new ApiError(
          'unsupported_media_type',
          'Send the request body as application/json in UTF-8 (charset=utf-8, or no charset)',
        ),
      );
      return;
    }
    if (!isUtf8(body)) {
      done(new ApiError('invalid_json', 'The request body is not valid UTF-8, which JSON must be'));
      return;
    }
    parseText(request, body.toString('utf8'), done);
  };
}
