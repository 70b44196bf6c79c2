#!/usr/bin/env node
// The `partnerline` command: runs the TypeScript CLI through tsx, as `npm start` runs the server.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import('../src/cli/main.ts');
