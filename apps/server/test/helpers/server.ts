import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/app.ts';
import { closeServices, createServices } from '../../src/platform/boot.ts';
import { type Config, loadConfig } from '../../src/platform/config.ts';
import { openPostgres } from '../../src/platform/db/index.ts';
import type { Clock, Services } from '../../src/platform/services.ts';
import { createTestDatabase, onPostgres } from './database.ts';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnop';

/** A clock tests can move forward. */
export class TestClock implements Clock {
  constructor(private current = new Date()) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
  set(at: Date): void {
    this.current = new Date(at);
  }
}

export interface TestServer {
  url: string;
  app: FastifyInstance;
  services: Services;
  config: Config;
  /** The database URL other processes can open, on PostgreSQL. */
  databaseUrl: string | undefined;
  close(): Promise<void>;
}

export interface ServerOptions {
  env?: Record<string, string>;
  clock?: Clock;
  logger?: FastifyBaseLogger;
  /** On PostgreSQL: the URL the server opens its database by, given the database's own (a proxy's, say). */
  databaseVia?: (url: string) => string;
  /**
   * The address to listen on, 127.0.0.1 by default. Tests call the server through 127.0.0.1 in
   * any case, so on `::` they are IPv4 clients of a dual-stack socket.
   */
  host?: string;
}

/** Starts the real server on a free loopback port with its own fresh database. */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const testDb = await createTestDatabase();
  let database = testDb.database;
  if (options.databaseVia && testDb.url) {
    await database.close();
    database = await openPostgres(options.databaseVia(testDb.url));
  }
  const config = loadConfig({
    NODE_ENV: 'test',
    ADMIN_API_KEY: ADMIN_KEY,
    PORT: '0',
    // On PostgreSQL the suite runs against Redis too, when it is given; each server keeps its rate
    // limits under a prefix of its own, so servers of parallel test files share no buckets.
    ...(onPostgres && process.env.REDIS_URL
      ? {
          REDIS_URL: process.env.REDIS_URL,
          RATE_LIMIT_REDIS_PREFIX: `pl:rl:test-${randomBytes(6).toString('hex')}:`,
        }
      : {}),
    ...options.env,
  });
  const services = await createServices(config, {
    database,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const app = await buildApp(services);
  await app.listen({ port: 0, host: options.host ?? '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    app,
    services,
    config,
    databaseUrl: testDb.url,
    close: async () => {
      await app.close();
      await closeServices(services);
      await testDb.drop();
    },
  };
}

export interface LoggedServer extends TestServer {
  /** Every line the services logged (JSON, as pino writes it), oldest first. */
  logs(): string[];
}

/** `startServer`, with the services' log lines at `info` and above kept for the test to read. */
export async function startLoggedServer(
  env: Record<string, string>,
  options: Omit<ServerOptions, 'env' | 'logger'> = {},
): Promise<LoggedServer> {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const server = await startServer({ ...options, env, logger });
  return { ...server, logs: () => lines };
}

/** The server's log lines, parsed. */
export const entries = (server: LoggedServer): { level: number; msg: string }[] =>
  server.logs().map((line) => JSON.parse(line));

/** The log lines whose message contains `text`. */
export const logged = (server: LoggedServer, text: string) =>
  entries(server).filter((line) => line.msg.includes(text));
