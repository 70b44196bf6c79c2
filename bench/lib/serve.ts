/**
 * A benchmark server process: boots the real services once and serves the full platform app (unless
 * told not to) and, when asked, a bare app and named variant apps on the same services, each on its
 * own loopback port. Started by server-process.ts; answers `{ type: 'ready', urls }` on its IPC
 * channel, reports its CPU time on `cpu-usage`, drives one of its apps through `app.inject` on
 * `inject`, stops its timers and background work on `quiesce`, and exits on `stop`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../apps/server/src/app.ts';
import { closeServices, createServices } from '../../apps/server/src/platform/boot.ts';
import { loadConfig } from '../../apps/server/src/platform/config.ts';
import type { Services } from '../../apps/server/src/platform/services.ts';
import { type InjectRequest, injectCost } from './inject.ts';

export interface ServeOptions {
  env: Record<string, string>;
  /** Serve the platform app (the default); false for a process that serves only the others. */
  platform?: boolean;
  /** A module exporting `buildBareApp(services, options)`, and the options it gets. */
  bare?: { module: string; options: unknown };
  /** More apps by name, each built by the `builder` export of `module` as `builder(services, options)`. */
  apps?: Record<string, { module: string; builder: string; options?: unknown }>;
}

type AppBuilder = (services: Services, options: never) => Promise<FastifyInstance>;

const options = JSON.parse(process.argv[2] ?? '{}') as ServeOptions;
const services = await createServices(loadConfig(options.env));
const apps: Record<string, FastifyInstance> =
  options.platform === false ? {} : { platform: await buildApp(services) };
if (options.bare) {
  const { buildBareApp } = (await import(options.bare.module)) as { buildBareApp: AppBuilder };
  apps.bare = await buildBareApp(services, options.bare.options as never);
}
for (const [name, app] of Object.entries(options.apps ?? {})) {
  const builder = ((await import(app.module)) as Record<string, AppBuilder | undefined>)[app.builder];
  if (!builder) throw new Error(`${app.module} exports no ${app.builder}`);
  apps[name] = await builder(services, app.options as never);
}
const urls: Record<string, string> = {};
for (const [name, app] of Object.entries(apps)) {
  urls[name] = await app.listen({ port: 0, host: '127.0.0.1' });
}
process.send?.({ type: 'ready', urls });

interface Message {
  type?: string;
  app?: string;
  requests?: InjectRequest[];
  concurrency?: number;
}

process.on('message', (message: Message) => {
  if (message.type === 'inject') {
    const app = apps[message.app ?? ''];
    if (!app) {
      process.send?.({ type: 'inject', error: `this benchmark server has no app ${message.app}` });
      return;
    }
    void injectCost(app, message.requests ?? [], message.concurrency ?? 1).then(
      (cost) => process.send?.({ type: 'inject', cpuUs: cost.cpuUs }),
      (error: Error) => process.send?.({ type: 'inject', error: error.message }),
    );
    return;
  }
  if (message.type === 'quiesce') {
    void (async () => {
      await services.webhookDispatcher.stop();
      await services.jobs.stop();
      await services.keyUsage.stop();
      await services.requestRecorder.stop();
      // A full collection, so that what is measured next starts from the same heap every time.
      setFlagsFromString('--expose-gc');
      (runInNewContext('gc') as () => void)();
    })().then(
      () => process.send?.({ type: 'quiesce' }),
      (error: Error) => process.send?.({ type: 'quiesce', error: error.message }),
    );
    return;
  }
  if (message.type === 'cpu-usage') {
    // The whole process (every thread): what the server spent, independent of what else runs.
    process.send?.({ type: 'cpu-usage', usage: process.cpuUsage() });
    return;
  }
  if (message.type !== 'stop') return;
  void (async () => {
    for (const app of Object.values(apps)) await app.close();
    await closeServices(services);
    process.exit(0);
  })();
});
