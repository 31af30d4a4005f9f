/**
 * A throw-away Redis for a test: Debian's redis-server on a free local port, in a temporary folder,
 * with nothing saved to disk; stopped (and its folder removed) by stop().
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { hasRedis, redisServer, redisSkipReason } from './shared-data.ts';

export interface TestRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** `port`: a given one (a Redis started again where a stopped one was), else a free one. */
export async function startRedis(port?: number): Promise<TestRedis> {
  if (!hasRedis) throw new Error(`${redisSkipReason} (CI=true requires it)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-redis-'));
  port ??= await freePort();
  const child = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${log}`)), 10_000);
    const onData = (d: Buffer) => {
      log += d;
      if (log.includes('Ready to accept connections')) { clearTimeout(timer); resolve(); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited (code ${code}):\n${log}`)); });
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
