/**
 * satseg as separate processes, as an operator runs it: `satseg serve` (answering on a free port)
 * and `satseg worker`s, for the BullMQ tests and the workers benchmark.
 */
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { repoRoot } from './shared-data.ts';

export interface SatsegProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnSatseg(args: string[], env: Record<string, string | undefined> = {}): SatsegProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), ...args], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d; });
  child.stderr!.on('data', (d: Buffer) => { out += d; });
  return {
    child,
    output: () => out,
    stop: async (graceMs = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `satseg serve ... --port 0`; resolves with its base URL once it listens. */
export async function startServe(args: string[], env: Record<string, string | undefined> = {}): Promise<SatsegProcess & { base: string }> {
  const p = spawnSatseg(['serve', '--port', '0', '--host', '127.0.0.1', ...args], env);
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`satseg serve did not start within 60 s:\n${p.output()}`)), 60_000);
    const check = () => {
      const m = /"port":(\d+)/.exec(p.output());
      if (m) { clearTimeout(timer); resolve(`http://127.0.0.1:${m[1]}`); }
    };
    p.child.stdout!.on('data', check);
    p.child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`satseg serve exited (code ${code}):\n${p.output()}`)); });
  });
  return { ...p, base };
}

/** Wait until GET /workers lists these worker names. */
export async function waitForWorkers(base: string, names: string[], timeoutMs = 60_000): Promise<Array<Record<string, any>>> {
  const start = Date.now();
  for (;;) {
    const { workers } = await (await fetch(`${base}/workers`)).json() as { workers: Array<Record<string, any>> };
    if (names.every((n) => workers.some((w) => w.id === n))) return workers;
    if (Date.now() - start > timeoutMs) throw new Error(`workers ${names.join(', ')} did not show up within ${timeoutMs / 1000} s (listed: ${workers.map((w) => w.id).join(', ')})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Poll GET /jobs/{id} until the job ends; returns its description. */
export async function waitForJob(base: string, id: string, timeoutMs = 120_000): Promise<Record<string, any>> {
  const start = Date.now();
  for (;;) {
    const job = await (await fetch(`${base}/jobs/${id}`)).json() as Record<string, any>;
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
    if (Date.now() - start > timeoutMs) throw new Error(`job ${id} did not end within ${timeoutMs / 1000} s (status ${job.status})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
