#!/usr/bin/env node
// The `satseg` command: runs the TypeScript CLI through tsx, so there is no build step.
import { register } from 'tsx/esm/api';

register();
await import('../server/src/cli/main.ts');
