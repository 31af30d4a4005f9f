// Where the compiled CLI is, and whether it is current: bin/satseg.js runs it only then (else the
// TypeScript sources through tsx), and bench:pipeline says which of the two it timed.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const compiledCli = path.join(root, 'dist/cli/main.js');

function newestSource(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** dist/ exists and is no older than any file of server/src. */
export function compiledCliIsCurrent() {
  return fs.existsSync(compiledCli) && fs.statSync(compiledCli).mtimeMs >= newestSource(path.join(root, 'server/src'));
}
