import { parseArgs } from 'node:util';
import type { Config } from '../platform/config.ts';
import type { Database } from '../platform/db/index.ts';

/** A bad command line: printed as one line on stderr, exit code 2. Nothing has touched the database. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** What a command's work gets once its arguments are valid and the database is open and migrated. */
export interface CliContext {
  config: Config;
  database: Database;
  /** Migrations applied while opening the database for this command. */
  applied: string[];
  now: Date;
  /** Results, on stdout. */
  print(line: string): void;
  /** Notices meant for a person, on stderr, so stdout stays machine-readable. */
  notice(line: string): void;
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  /** How the value is shown in help, e.g. `<slug>`. */
  value?: string;
  required?: boolean;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export type Task = (ctx: CliContext) => Promise<void>;

export interface Command {
  /** The words that select it, e.g. `keys create`. */
  name: string;
  summary: string;
  /** Positional arguments, in order, as shown in help (`<id>`). */
  positionals?: string[];
  options: Record<string, OptionSpec>;
  /** Extra help paragraphs. */
  details?: string[];
  /** Validates the arguments (throwing UsageError) and returns the work to run on the database. */
  prepare(args: ParsedArgs): Task;
}

/** Parses `argv` strictly against a command's options; `--help` is accepted by every command. */
export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs & { help: boolean } {
  const options = Object.fromEntries(
    Object.entries(command.options).map(([name, spec]) => [name, { type: spec.type }]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  const { help, ...values } = parsed.values as Record<string, string | boolean | undefined>;
  if (help === true) return { values, positionals: parsed.positionals, help: true };
  const expected = command.positionals ?? [];
  if (parsed.positionals.length < expected.length) {
    throw new UsageError(`missing argument ${expected[parsed.positionals.length]}`);
  }
  if (parsed.positionals.length > expected.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[expected.length])}`);
  }
  for (const [name, spec] of Object.entries(command.options)) {
    if (spec.required && values[name] === undefined) throw new UsageError(`--${name} is required`);
  }
  return { values, positionals: parsed.positionals, help: false };
}

function describeParseError(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const option = /'(-[^' ]+)/.exec(message ?? '')?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) return `unknown option ${option}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    // parseArgs takes a value that starts with "-" (say -5) for the next option.
    return `option ${option} needs a value (one that starts with "-" is written ${option}=<value>)`;
  }
  return message?.split('\n')[0] ?? 'invalid arguments';
}

export function optionalString(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function requiredString(args: ParsedArgs, name: string): string {
  const value = optionalString(args, name);
  if (value === undefined) throw new UsageError(`--${name} is required`);
  return value;
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

export const JSON_OPTION: OptionSpec = { type: 'boolean', description: 'Print JSON instead of text' };
