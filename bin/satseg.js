#!/usr/bin/env node
// The `satseg` command. Runs the compiled JavaScript in dist/ (built by `npm install` through the
// `prepare` script) because it starts about half a second faster than compiling TypeScript on the
// fly; falls back to the TypeScript sources through tsx when dist/ is missing or older than them.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist/cli/main.js');

function newestSource(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

if (fs.existsSync(compiled) && fs.statSync(compiled).mtimeMs >= newestSource(path.join(root, 'server/src'))) {
  await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../server/src/cli/main.ts');
}
