import type { Redis } from 'ioredis';
import { within } from './deadline.ts';

/** How long a process waits for Redis at start before it serves without it. */
export const REDIS_START_TIMEOUT_MS = 2_000;

/** Waits for `work` to settle, at most `ms`; never rejects. */
export async function settleWithin(work: Promise<unknown>, ms = REDIS_START_TIMEOUT_MS): Promise<void> {
  await within(work, ms, 'Redis').catch(() => {});
}

/**
 * Starts connecting `client` and waits until it is ready, at most REDIS_START_TIMEOUT_MS: Redis
 * down, or accepting connections without answering them, is no reason not to serve. The client
 * goes on connecting in the background either way; its users find out from its status and errors.
 */
export function connectWithin(client: Redis): Promise<void> {
  return settleWithin(client.connect());
}
