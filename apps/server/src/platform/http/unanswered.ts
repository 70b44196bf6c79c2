import type { FastifyReply, FastifyRequest } from 'fastify';
import { clientAnswers } from './client-answers.ts';

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
