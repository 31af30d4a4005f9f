/**
 * A server killed with SIGKILL in the middle of a job: after a restart the running job is failed
 * with the reason "interrupted", its record intact and no partial output left; a queued job runs.
 * A server stopped with SIGTERM puts its running job back in the queue, to run again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { installTestModel } from '../fixtures/test-model.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { repoRoot } from '../helpers/shared-data.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-restart-'));
const dataDir = path.join(tmp, 'data');
const models = installTestModel(path.join(tmp, 'models'));
fs.mkdirSync(dataDir);
// Big enough that 16-px tiles keep a job busy for several seconds (about 4000 of them).
writeTestTiff(path.join(dataDir, 'scene.tif'), { width: 2400, height: 2000, bands: syntheticScene(2400, 2000), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 });
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function start(): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), 'serve', '--data', dataDir, '--port', '0', '--host', '127.0.0.1'], {
    cwd: repoRoot, env: { ...process.env, SATSEG_MODELS: models }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"port":(\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(`http://127.0.0.1:${m[1]}`); }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return { child, base };
}

async function job(base: string, id: string): Promise<any> {
  return (await fetch(`${base}/jobs/${id}`)).json();
}

describe('restart after kill -9', () => {
  it('marks the running job failed ("interrupted") and runs the queued one', async () => {
    const first = await start();
    const datasets = (await (await fetch(`${first.base}/datasets`)).json()).datasets;
    const submit = async (tile: number) => (await (await fetch(`${first.base}/jobs`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ dataset: datasets[0].id, model: 'test-rgb', options: { tile, overlap: 4, batch: 1, device: 'cpu' } }),
    })).json()).id as string;
    const running = await submit(16);
    const queued = await submit(256);
    for (;;) {
      const j = await job(first.base, running);
      if (j.status === 'running' && j.progress.tiles_done > 0) break;
      expect(['queued', 'running']).toContain(j.status);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await job(first.base, queued)).status).toBe('queued');
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    const second = await start();
    const after = await job(second.base, running);
    expect(after.status).toBe('failed');
    expect(after.error).toMatch(/^interrupted/);
    expect(after).toMatchObject({ dataset: datasets[0].id, model: 'test-rgb', results: null });
    expect(after.options.tile).toBe(16);
    expect(after.timings.finished_at).not.toBeNull();
    expect(fs.existsSync(path.join(dataDir, 'results', running))).toBe(false);
    for (;;) {
      const j = await job(second.base, queued);
      if (j.status === 'succeeded' || j.status === 'failed') { expect(j.status).toBe('succeeded'); break; }
      await new Promise((r) => setTimeout(r, 200));
    }
    const list = (await (await fetch(`${second.base}/jobs`)).json()).jobs;
    expect(list.some((j: any) => j.status === 'running')).toBe(false);
    second.child.kill('SIGTERM');
  });
});

describe('restart after SIGTERM', () => {
  it('puts the running job back in the queue, and runs it again after the restart', async () => {
    const first = await start();
    const datasets = (await (await fetch(`${first.base}/datasets`)).json()).datasets;
    const id = (await (await fetch(`${first.base}/jobs`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ dataset: datasets[0].id, model: 'test-rgb', options: { tile: 48, overlap: 4, batch: 1, device: 'cpu' } }),
    })).json()).id as string;
    for (;;) {
      const j = await job(first.base, id);
      if (j.status === 'running' && j.progress.tiles_done > 0) break;
      expect(['queued', 'running']).toContain(j.status);
      await new Promise((r) => setTimeout(r, 50));
    }
    // A graceful stop: the job was marked cancelled, as if its user had cancelled it.
    first.child.kill('SIGTERM');
    await new Promise((r) => first.child.once('exit', r));
    const second = await start();
    const back = await job(second.base, id);
    expect(['queued', 'running', 'succeeded']).toContain(back.status);
    expect(back.notices.join('\n')).toMatch(/the server was stopped while this job ran; it runs again from the start/);
    for (;;) {
      const j = await job(second.base, id);
      if (j.status === 'succeeded' || j.status === 'failed' || j.status === 'cancelled') { expect(j.status).toBe('succeeded'); break; }
      await new Promise((r) => setTimeout(r, 200));
    }
    second.child.kill('SIGTERM');
  }, 120_000);
});
