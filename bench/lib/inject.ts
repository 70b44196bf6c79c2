import type { FastifyInstance } from 'fastify';

/** A GET through `app.inject`: its path and headers. */
export interface InjectRequest {
  path: string;
  headers: Record<string, string>;
}

export interface InjectCost {
  /** CPU time of this process per request, µs: the app's own work, no sockets involved. */
  cpuUs: number;
  requests: number;
}

/**
 * Sends the requests through `app.inject` (no network), `concurrency` at a time, and returns the CPU
 * time this process spent per request. Every answer must be a 200.
 */
export async function injectCost(
  app: FastifyInstance,
  requests: InjectRequest[],
  concurrency: number,
): Promise<InjectCost> {
  let next = 0;
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const request = requests[next++]!;
        const response = await app.inject({ method: 'GET', url: request.path, headers: request.headers });
        if (response.statusCode !== 200) {
          throw new Error(`inject ${request.path}: ${response.statusCode} ${response.body}`);
        }
      }
    }),
  );
  const cpu = process.cpuUsage(before);
  return { cpuUs: (cpu.user + cpu.system) / requests.length, requests: requests.length };
}
