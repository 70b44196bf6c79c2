import type { Command } from './command.ts';

const SETTINGS = [
  'Settings come from the environment (and ./.env), as for the server: DATABASE_URL for PostgreSQL,',
  'otherwise the embedded database in DATA_DIR (default ./data); KEY_PREFIX for new keys.',
];

const EMBEDDED_NOTE = [
  'The embedded database (no DATABASE_URL) can be open in one process at a time: stop the server',
  'that uses DATA_DIR before running a command on it. On PostgreSQL the CLI and servers run side by side.',
];

const EXIT_CODES = [
  'Exit codes: 0 done, 1 the command failed (a key change that was saved but could not be sent to',
  'running servers is 1 too: they apply it when their cached keys expire), 2 bad arguments.',
];

function usageLine(command: Command): string {
  const options = Object.entries(command.options).map(([name, spec]) => {
    const text = spec.value ? `--${name} ${spec.value}` : `--${name}`;
    return spec.required ? text : `[${text}]`;
  });
  return ['partnerline', command.name, ...(command.positionals ?? []), ...options].join(' ');
}

function columns(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}

export function generalHelp(commands: readonly Command[]): string {
  return [
    'Usage: partnerline <command> [options]',
    '',
    'Administers a Partnerline database directly (migrations, tenants, API keys) and runs webhook workers.',
    '',
    'Commands:',
    ...columns(commands.map((c) => [[c.name, ...(c.positionals ?? [])].join(' '), c.summary])),
    '',
    'Run "partnerline <command> --help" for its options.',
    '',
    ...SETTINGS,
    '',
    ...EMBEDDED_NOTE,
    '',
    ...EXIT_CODES,
  ].join('\n');
}

export function groupHelp(group: string, commands: readonly Command[]): string {
  return [
    `Usage: partnerline ${group} <command> [options]`,
    '',
    'Commands:',
    ...columns(commands.map((c) => [[c.name, ...(c.positionals ?? [])].join(' '), c.summary])),
    '',
    `Run "partnerline ${group} <command> --help" for its options.`,
  ].join('\n');
}

export function commandHelp(command: Command): string {
  const options: [string, string][] = Object.entries(command.options).map(([name, spec]) => [
    spec.value ? `--${name} ${spec.value}` : `--${name}`,
    spec.required ? `${spec.description} (required)` : spec.description,
  ]);
  options.push(['-h, --help', 'Show this help']);
  return [
    `Usage: ${usageLine(command)}`,
    '',
    `${command.summary}.`,
    ...(command.details ? ['', ...command.details] : []),
    '',
    'Options:',
    ...columns(options),
    '',
    ...SETTINGS,
    ...EMBEDDED_NOTE,
    '',
    ...EXIT_CODES,
  ].join('\n');
}
