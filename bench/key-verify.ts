import { loadavg } from 'node:os';
import { closeServices, createServices } from '../apps/server/src/platform/boot.ts';
import { loadConfig } from '../apps/server/src/platform/config.ts';
import { createBenchDatabase, selectedDatabases } from './lib/databases.ts';
import { measureKeyVerification, missQueryPlans, type Timing } from './lib/key-verification.ts';
import { codeVersion, describeMachine, machineLine } from './lib/machine.ts';
import { formatNumber, markdownTable } from './lib/markdown.ts';
import { benchEnv, databaseVersion, seedTenant } from './lib/seed.ts';
import { log, type Suite } from './lib/suite.ts';

/** Keys in the bench tenant, so the miss looks one key up among many rather than in a one-row table. */
const KEYS = 200;

const us = (value: number) => formatNumber(value, value < 10 ? 2 : 1);
const cells = (t: Timing) => [us(t.meanUs), us(t.p50Us), us(t.p99Us), formatNumber(t.iterations)];

export const keyVerifySuite: Suite = {
  name: 'key-verify',
  async run() {
    const { kinds, skipped } = await selectedDatabases();
    const rows: string[][] = [];
    const versions: string[] = [];
    const plans: string[] = [];
    for (const kind of kinds) {
      const database = await createBenchDatabase(kind);
      try {
        const services = await createServices(loadConfig(benchEnv(database)));
        try {
          versions.push(await databaseVersion(services.database));
          log(`key-verify: ${database.label}: seeding ${KEYS} keys`);
          const tenant = await seedTenant(services, {
            slug: 'bench-keys',
            plan: 'enterprise',
            keys: KEYS,
            scopes: ['partners:read'],
          });
          const key = tenant.keys[Math.floor(KEYS / 2)]!;
          const { hit, miss } = await measureKeyVerification(services.keys, key);
          const plan = await missQueryPlans(services.database, services.config.keyPrefix, key.key);
          plans.push(
            `${database.label}: ${plan.queries} ${plan.queries === 1 ? 'query' : 'queries'} (${plan.plans.join(' | ')})`,
          );
          log(`key-verify: ${database.label}: hit ${us(hit.meanUs)} µs, miss ${us(miss.meanUs)} µs`);
          rows.push(
            [database.label, 'cache hit', ...cells(hit)],
            [database.label, 'cache miss', ...cells(miss)],
          );
        } finally {
          await closeServices(services);
        }
      } finally {
        await database.drop();
      }
    }
    return [
      '## Key verification (`npm run bench -- key-verify`)',
      '',
      `Run ${new Date().toISOString().slice(0, 10)} on ${machineLine(describeMachine())}; ${versions.join(', ')};`,
      `${codeVersion()}; 1-minute load average ${loadavg()[0]!.toFixed(2)}.`,
      ...skipped.map((note) => `${note}.`),
      '',
      '`KeyVerifier.verify` called in a loop in the benchmark process, one call at a time, for one valid',
      `key of a tenant with ${KEYS} keys. A **hit** hashes the key (SHA-256) and reads the in-process`,
      'cache; a **miss** also checks its shape and CRC32 checksum and runs one query by primary key',
      '(`api_keys` joined to `tenants`), forced by invalidating the key before every call. A tenth of the',
      'iterations run first as warm-up and are not counted.',
      '',
      markdownTable(['Database', 'Path', 'mean µs', 'p50 µs', 'p99 µs', 'calls'], rows, [
        'left',
        'left',
        'right',
        'right',
        'right',
        'right',
      ]),
      '',
      'Statements per miss, with the plan of each (the target: one lookup by primary key):',
      '',
      ...plans.map((plan) => `- ${plan}`),
    ].join('\n');
  },
};
