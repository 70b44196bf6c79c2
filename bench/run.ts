/**
 * `npm run bench [-- <suite> …]`: runs the named benchmarks (all without names) and rewrites each
 * one's own section of docs/benchmarks.md, leaving the other sections as they are.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventsSuite } from './events.ts';
import { instructionsSuite } from './instructions.ts';
import { keyPropagationSuite } from './key-propagation.ts';
import { keyVerifySuite } from './key-verify.ts';
import { replaceSection } from './lib/markdown.ts';
import { log, type Suite } from './lib/suite.ts';
import { partnersGetSuite } from './partners-get.ts';
import { rateLimitSuite } from './rate-limit.ts';
import { transactionsCursorSuite } from './transactions-cursor.ts';
import { webhooksSuite } from './webhooks.ts';

const SUITES: Suite[] = [
  partnersGetSuite,
  keyVerifySuite,
  keyPropagationSuite,
  eventsSuite,
  transactionsCursorSuite,
  rateLimitSuite,
  webhooksSuite,
  instructionsSuite,
];
const DOC = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

const names = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const unknown = names.filter((name) => !SUITES.some((suite) => suite.name === name));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark ${unknown.join(', ')}; known: ${SUITES.map((s) => s.name).join(', ')}\n`,
  );
  process.exit(2);
}
const selected = names.length === 0 ? SUITES : SUITES.filter((suite) => names.includes(suite.name));

for (const suite of selected) {
  const started = Date.now();
  log(`${suite.name}: starting`);
  const section = await suite.run();
  const document = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '# Benchmarks\n';
  writeFileSync(DOC, replaceSection(document, suite.name, section));
  log(`${suite.name}: done in ${Math.round((Date.now() - started) / 1000)} s, written to docs/benchmarks.md`);
}
