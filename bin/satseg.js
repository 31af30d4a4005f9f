#!/usr/bin/env node
// The `satseg` command. Runs the compiled JavaScript in dist/ (built by `npm install` through the
// `prepare` script) because it starts about half a second faster than compiling TypeScript on the
// fly; falls back to the TypeScript sources through tsx when dist/ is missing or older than them.
import { compiledCli, compiledCliIsCurrent } from './compiled-cli.js';

if (compiledCliIsCurrent()) {
  await import(compiledCli);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../server/src/cli/main.ts');
}
