import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.ts';

/** The strong ETag of a resource version. */
export function etag(version: number): string {
  return `"v${version}"`;
}

export function setEtag(reply: FastifyReply, resource: { version: number }): void {
  reply.header('etag', etag(resource.version));
}

/**
 * The versions an `If-Match` header accepts, or undefined without one (`*` accepts any). Tags that
 * are not ours can never match; a header with none of ours is a 412 like a stale one.
 */
export function ifMatchVersions(request: FastifyRequest): readonly number[] | undefined {
  const header = request.headers['if-match'];
  if (header === undefined || header.trim() === '*') return undefined;
  const versions: number[] = [];
  for (const tag of header.split(',')) {
    const match = /^\s*"v(\d{1,9})"\s*$/.exec(tag);
    if (match) versions.push(Number(match[1]));
  }
  if (versions.length === 0) throw staleEtag();
  return versions;
}

/** Throws 412 unless the current version is one the request's If-Match accepts. */
export function assertVersionMatches(ifMatch: readonly number[] | undefined, current: number): void {
  if (ifMatch !== undefined && !ifMatch.includes(current)) throw staleEtag();
}

export function staleEtag(): ApiError {
  return new ApiError(
    'precondition_failed',
    'If-Match does not match the current ETag: fetch the resource again',
  );
}
