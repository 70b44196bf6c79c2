import type { Command } from './command.ts';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'Apply pending database migrations',
  options: {},
  details: [
    'Servers apply migrations at startup too, under an advisory lock, so running this while',
    'servers start on PostgreSQL is safe; it lets a deployment migrate before it rolls out.',
  ],
  prepare: () => async (ctx) => {
    // The CLI migrates every database it opens; this command only reports what that did.
    if (ctx.applied.length === 0) ctx.print('Database is up to date.');
    for (const version of ctx.applied) ctx.print(`Applied ${version}`);
  },
};
