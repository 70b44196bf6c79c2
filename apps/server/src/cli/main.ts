import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from '../platform/config.ts';
import { openDatabase } from '../platform/db/index.ts';
import { migrate } from '../platform/db/migrate.ts';
import { ApiError } from '../platform/errors.ts';
import { type CliContext, type Command, parseCommandArgs, type Task, UsageError } from './command.ts';
import { commandHelp, generalHelp, groupHelp } from './help.ts';
import { keyCommands } from './keys.ts';
import { migrateCommand } from './migrate.ts';
import { requestLogCommands } from './request-logs.ts';
import { tenantCommands } from './tenants.ts';
import { workerCommand } from './worker.ts';

const COMMANDS: Command[] = [
  migrateCommand,
  workerCommand,
  ...tenantCommands,
  ...keyCommands,
  ...requestLogCommands,
];
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const print = (text: string) => process.stdout.write(`${text}\n`);
const notice = (text: string) => process.stderr.write(`${text}\n`);

type Selection = { help: string } | { command: Command; argv: string[] };

/** Finds the command named by the leading words of `argv`, or the help text asked for. */
function select(argv: string[]): Selection {
  const [first, second] = argv;
  if (first === undefined) throw new UsageError('missing command; run "partnerline --help" for the list');
  if (first === '--help' || first === '-h') return { help: generalHelp(COMMANDS) };
  if (first === 'help')
    return argv.length === 1 ? { help: generalHelp(COMMANDS) } : select([...argv.slice(1), '--help']);
  const single = COMMANDS.find((c) => c.name === first);
  if (single) return { command: single, argv: argv.slice(1) };
  const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
  if (group.length === 0)
    throw new UsageError(`unknown command "${first}"; run "partnerline --help" for the list`);
  const command = group.find((c) => c.name === `${first} ${second}`);
  if (command) return { command, argv: argv.slice(2) };
  if (second === '--help' || second === '-h') return { help: groupHelp(first, group) };
  const names = group.map((c) => `partnerline ${c.name}`).join(' | ');
  if (second === undefined) throw new UsageError(`missing command: ${names}`);
  throw new UsageError(`unknown command "${first} ${second}"; commands: ${names}`);
}

async function runTask(command: Command, task: Task): Promise<void> {
  const config = loadConfig();
  // An embedded DATA_DIR open in a running server is refused (see lockDataDir).
  const database = await openDatabase(config);
  try {
    const applied = await migrate(database);
    const ctx: CliContext = { config, database, applied, now: new Date(), print, notice };
    if (command !== migrateCommand) for (const version of applied) notice(`Applied migration ${version}`);
    await task(ctx);
  } finally {
    // PGlite must be closed: it keeps the process alive and leaves DATA_DIR marked as in use.
    await database.close();
  }
}

function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof ApiError || error.message !== '') return error.message;
  // node-postgres reports a refused connection as an AggregateError without a message.
  const { code } = error as { code?: string };
  return code ? `${error.name} ${code}` : error.name;
}

/** Runs one command line and returns the exit code. */
async function runCli(argv: string[]): Promise<number> {
  let name = 'partnerline';
  try {
    const selection = select(argv);
    if ('help' in selection) {
      print(selection.help);
      return 0;
    }
    const { command } = selection;
    name = `partnerline ${command.name}`;
    const args = parseCommandArgs(command, selection.argv);
    if (args.help) {
      print(commandHelp(command));
      return 0;
    }
    await runTask(command, command.prepare(args));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      notice(`${name}: ${error.message}`);
      return EXIT_USAGE;
    }
    // ApiError (a domain rule, e.g. tenant_slug_taken), a config or database problem: one line each.
    notice(`${name}: ${error instanceof ConfigError ? 'configuration error: ' : ''}${errorMessage(error)}`);
    return EXIT_FAILED;
  }
}

if (existsSync('.env')) process.loadEnvFile('.env');
process.exitCode = await runCli(process.argv.slice(2));
