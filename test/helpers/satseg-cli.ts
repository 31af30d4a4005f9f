/**
 * The CLI as a user runs it: a fresh Node process on server/src/cli/main.ts, and what a failed run
 * must look like (a non-zero exit, one line naming the problem, no output file).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
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
  return runSatsegWithEnv(models, {}, ...args);
}

/** The same with more environment variables (limits a test sets). */
export function runSatsegWithEnv(models: string, env: Record<string, string>, ...args: string[]): CliRun {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), ...args], {
    encoding: 'utf8', cwd: repoRoot, env: { ...process.env, SATSEG_MODELS: models, ...env }, timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.trim().split('\n').filter(Boolean) };
}

/**
 * Start `satseg ...args`, and send `signal` once `ready(dir entries)` says so (polled every 10 ms);
 * resolves with how the process ended.
 */
export function interruptSatseg(models: string, dir: string, ready: (entries: string[]) => boolean, signal: NodeJS.Signals, ...args: string[]): Promise<CliRun & { sent: boolean; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), ...args], { cwd: repoRoot, env: { ...process.env, SATSEG_MODELS: models } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  let sent = false;
  const poll = setInterval(() => {
    if (!sent && ready(fs.readdirSync(dir))) { sent = true; child.kill(signal); }
  }, 10);
  return new Promise((resolve) => child.on('close', (code, ended) => {
    clearInterval(poll);
    resolve({ code, signal: ended, stdout, stderr, lines: stderr.trim().split('\n').filter(Boolean), sent });
  }));
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
