/**
 * Where things are at run time, whether satseg runs from its TypeScript sources (tsx, tests) or
 * from the compiled JavaScript in dist/ (the installed `satseg` command, which starts faster).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'satseg') return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find satseg's package.json above ${start}`);
  }
}

/** The project folder (holding package.json, models/, web/). */
export const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));

/** The script every worker thread starts with (it loads tsx only for TypeScript entries). */
export const workerBoot = new URL('./worker-boot.mjs', import.meta.url);

/** The URL of a sibling module, with the extension the caller runs with (.ts or .js). */
export function siblingModule(callerUrl: string, name: string): string {
  return new URL(`${name}${callerUrl.endsWith('.ts') ? '.ts' : '.js'}`, callerUrl).href;
}
