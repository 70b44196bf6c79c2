import type { Socket } from 'node:net';

/**
 * What the HTTP layer answered on a connection whose request the app was handling (a 408 for a body
 * that stopped short; see answerClientError): that request is recorded under this answer.
 */
export const clientAnswers = new WeakMap<Socket, { requestId: string; status: number; code: string }>();
