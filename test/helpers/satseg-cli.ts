/**
 * The CLI as a user runs it: a fresh Node process on server/src/cli/main.ts, and what a failed run
 * must look like (a non-zero exit, one line naming the problem, no output file).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { repoRoot } from './shared-data.ts';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Non-empty stderr lines. */
  lines: string[];
}

/** Run `satseg ...args` with its models folder at `models`. */
export function runSatseg(models: string, ...args: string[]): CliRun {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), ...args], {
    encoding: 'utf8', cwd: repoRoot, env: { ...process.env, SATSEG_MODELS: models }, timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.trim().split('\n').filter(Boolean) };
}

/** The run failed with one `satseg: error:` line matching `reason`, and left nothing at `out` or temporary in `dir`. */
export function expectCliFailure(r: CliRun, reason: RegExp, out: string, dir: string): void {
  expect(r.code).not.toBe(0);
  expect(r.lines).toHaveLength(1);
  expect(r.lines[0]).toMatch(/^satseg: error: /);
  expect(r.lines[0]).toMatch(reason);
  expect(r.stdout).toBe('');
  expect(fs.existsSync(out)).toBe(false);
  expect(fs.readdirSync(dir).filter((f) => f.includes('satseg-tmp'))).toEqual([]);
}
