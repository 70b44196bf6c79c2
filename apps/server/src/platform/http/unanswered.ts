import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * What the HTTP layer answered on a connection whose request the app was handling (a 408 for a body
 * that stopped short; see answerClientError): that request is recorded under this answer.
 */
export const clientAnswers = new WeakMap<Socket, { requestId: string; status: number; code: string }>();

/**
 * Records a request whose connection closed before its answer went out whole: under the answer
 * the HTTP layer gave it (a 408), else as 499 (see RequestRecorder.recordUnanswered).
 */
export function recordUnanswered(request: FastifyRequest, reply: FastifyReply): void {
  const answered = clientAnswers.get(request.raw.socket);
  request.server.services.requestRecorder.recordUnanswered(request, reply, answered);
}

/**
 * For a request whose connection closed before its answer went out whole: recorded now, or, while
 * the tenant gate still looks up its key or limits, by the gate once it is done.
 */
export function closedUnanswered(request: FastifyRequest, reply: FastifyReply): void {
  if (request.gateInFlight) request.closedInGate = true;
  else recordUnanswered(request, reply);
}
