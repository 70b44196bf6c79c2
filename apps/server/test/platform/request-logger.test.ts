import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { requestLogger } from '../../src/platform/http/request-logger.ts';

/** A server logger at `level` whose lines the test reads, and a request's logger made from it. */
function setup(level: string, options: Record<string, unknown> = {}) {
  const lines: Record<string, unknown>[] = [];
  const server = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const log = requestLogger.call(
    null as unknown as FastifyInstance,
    server,
    { reqId: 'req_one' },
    options,
    {} as IncomingMessage,
  );
  return { lines, log };
}

describe("a request's logger", () => {
  it('writes nothing below the server level, and lines at or above it with the request id', () => {
    const { lines, log } = setup('warn');
    log.info('not written');
    log.debug('not written');
    expect(lines).toEqual([]);
    log.warn({ route: '/x' }, 'written');
    log.error('also written');
    expect(lines.map(({ reqId, msg, level, route }) => ({ reqId, msg, level, route }))).toEqual([
      { reqId: 'req_one', msg: 'written', level: 40, route: '/x' },
      { reqId: 'req_one', msg: 'also written', level: 50, route: undefined },
    ]);
  });

  it('reports the server level, and a level set on it applies to this request only', () => {
    const { lines, log } = setup('warn');
    expect(log.level).toBe('warn');
    log.level = 'debug';
    expect(log.level).toBe('debug');
    log.debug('now written');
    expect(lines.map(({ reqId, msg }) => ({ reqId, msg }))).toEqual([
      { reqId: 'req_one', msg: 'now written' },
    ]);
    const other = setup('warn').log;
    expect(other.level).toBe('warn');
  });

  it('makes children that keep the request id', () => {
    const { lines, log } = setup('info');
    log.child({ job: 'export' }).info('from a child');
    expect(lines.map(({ reqId, job, msg }) => ({ reqId, job, msg }))).toEqual([
      { reqId: 'req_one', job: 'export', msg: 'from a child' },
    ]);
  });

  it('with a route level of its own, follows that level from the start', () => {
    const { lines, log } = setup('warn', { level: 'debug' });
    log.debug('route debug line');
    expect(lines.map(({ reqId, msg }) => ({ reqId, msg }))).toEqual([
      { reqId: 'req_one', msg: 'route debug line' },
    ]);
  });
});
