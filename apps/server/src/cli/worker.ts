import { startBackgroundWork } from '../app.ts';
import { closeServices, createServices } from '../platform/boot.ts';
import type { Command } from './command.ts';

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(signal);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Send webhooks and run background jobs, without serving HTTP',
  options: {},
  details: [
    'Runs the webhook dispatcher and the background jobs until SIGTERM or SIGINT, then stops',
    'claiming, finishes the deliveries in flight and exits. Run any number of workers on one',
    'PostgreSQL database (they never send the same attempt twice) and the API processes with',
    'WEBHOOK_DISPATCH=off. A worker that dies leaves its claimed messages to the others once',
    'their lease (WEBHOOK_LEASE) has expired.',
  ],
  prepare: () => async (ctx) => {
    // The command's database stays open until the CLI closes it, after the services are done.
    const database = { ...ctx.database, close: async () => {} };
    const services = await createServices(ctx.config, { database });
    try {
      await startBackgroundWork(services, { dispatch: true });
      ctx.notice(`partnerline worker: dispatching webhooks (pid ${process.pid})`);
      const signal = await untilSignal();
      ctx.notice(`partnerline worker: ${signal}: finishing deliveries in flight`);
    } finally {
      await closeServices(services);
    }
    ctx.notice('partnerline worker: stopped');
  },
};
