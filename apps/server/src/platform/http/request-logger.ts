import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
type Level = (typeof LEVELS)[number];
type LogArguments = Parameters<FastifyBaseLogger['info']>;

/** The pino logger Fastify hands the factory; its level check is part of pino's public API. */
interface ParentLogger extends FastifyBaseLogger {
  isLevelEnabled?(level: string): boolean;
}

/**
 * The logger of one request. Fastify gives every request a child of the server's logger that
 * carries its request id, and builds it before the request runs; at `LOG_LEVEL=warn` and above
 * almost no request writes a line, so this one becomes that child only when a line of an enabled
 * level is written (or its level or a child of it is asked for). Until then a request pays for one
 * small object instead of a pino child with its bindings rendered. Its six line methods are defined
 * on the prototype below, one per level.
 */
class RequestLogger implements FastifyBaseLogger {
  declare fatal: FastifyBaseLogger['fatal'];
  declare error: FastifyBaseLogger['error'];
  declare warn: FastifyBaseLogger['warn'];
  declare info: FastifyBaseLogger['info'];
  declare debug: FastifyBaseLogger['debug'];
  declare trace: FastifyBaseLogger['trace'];
  private logger: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: ParentLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get level(): string {
    return (this.logger ?? this.parent).level;
  }

  set level(level: string) {
    this.materialize().level = level;
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.materialize().child(bindings, options);
  }

  write(level: Level, args: LogArguments): void {
    if (this.logger === undefined && this.parent.isLevelEnabled?.(level) === false) return;
    this.materialize()[level](...args);
  }

  private materialize(): FastifyBaseLogger {
    this.logger ??= this.parent.child(this.bindings, this.options);
    return this.logger;
  }
}

for (const level of LEVELS) {
  RequestLogger.prototype[level] = function (this: RequestLogger, ...args: LogArguments) {
    this.write(level, args);
  } as FastifyBaseLogger[Level];
}

/**
 * Fastify's `childLoggerFactory`: a request's logger that is built when first used. A route with a
 * log level or serializers of its own gets its child at once, as the level check above reads the
 * server's level.
 */
export const requestLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> = (
  logger,
  bindings,
  options,
) =>
  options.level === undefined && options.serializers === undefined
    ? new RequestLogger(logger, bindings, options)
    : logger.child(bindings, options);
