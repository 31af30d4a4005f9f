/**
 * `satseg worker` and `satseg serve --queue` refuse to start, with one line naming the problem,
 * when what they need is missing; and a server without --queue says so at GET /workers and to
 * uploads. None of this needs Redis.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { installTestModel } from '../fixtures/test-model.ts';
import { runSatseg, runSatsegWithEnv } from '../helpers/satseg-cli.ts';
import { repoRoot } from '../helpers/shared-data.ts';
import { createTestServer, listen } from '../helpers/test-server.ts';
import { freePort } from '../helpers/redis-server.ts';

const run = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-worker-cli-'));
const models = installTestModel(path.join(tmp, 'models'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function expectOneLineFailure(r: { code: number | null; stdout: string; lines: string[] }, reason: RegExp): void {
  expect(r.code).not.toBe(0);
  expect(r.lines).toHaveLength(1);
  expect(r.lines[0]).toMatch(/^satseg: error: /);
  expect(r.lines[0]).toMatch(reason);
}

describe('satseg worker', () => {
  it('refuses bad flags, and a server or Redis it cannot reach', async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    expectOneLineFailure(runSatseg(models, 'worker', '--server', 'ftp://api', '--queue', 'redis://localhost'), /--server must be the API server's http\(s\) URL/);
    // No --queue and no SATSEG_QUEUE: said as such (it was zod's "expected string, received undefined").
    expectOneLineFailure(runSatsegWithEnv(models, { SATSEG_QUEUE: '' }, 'worker', '--server', 'http://api'), /^satseg: error: --queue is required \(or SATSEG_QUEUE\)/);
    expectOneLineFailure(runSatseg(models, 'worker', '--server', 'http://api', '--queue', 'http://redis'), /--queue must be a redis:\/\/ or rediss:\/\/ URL/);
    expectOneLineFailure(runSatseg(models, 'worker', '--server', 'http://api', '--queue', `redis://${closed}`, '--device', 'tpu'), /--device must be auto, cpu or cuda/);
    expectOneLineFailure(runSatseg(models, 'worker', '--server', `http://${closed}`, '--queue', `redis://${closed}`), new RegExp(`cannot reach the API server at http://${closed}`));
  });

  it('refuses a server that runs its jobs itself', async () => {
    const s = createTestServer({});
    const { server, base } = await listen(s);
    try {
      // Not spawnSync: the server answering the worker runs in this process.
      const err = await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), 'worker', '--server', base, '--queue', 'redis://127.0.0.1:1'], { cwd: repoRoot, env: { ...process.env, SATSEG_MODELS: models } })
        .then(() => null, (e: { code: number; stderr: string }) => e);
      expect(err?.code).toBe(1);
      expect(err?.stderr.trim()).toMatch(/^satseg: error: the server at http:\/\/127\.0\.0\.1:\d+ runs its jobs itself; start it with --queue redis:\/\/\.\.\. for workers to take them$/);
    } finally {
      server.close();
      await s.close();
    }
  });
});

describe('satseg serve --queue', () => {
  it('refuses to start without a Redis it can reach', async () => {
    const data = path.join(tmp, 'data');
    const closed = `127.0.0.1:${await freePort()}`;
    expectOneLineFailure(runSatseg(models, 'serve', '--data', data, '--queue', `redis://${closed}`), new RegExp(`cannot reach Redis at redis://${closed.replace(/\./g, '\\.')}`));
    expectOneLineFailure(runSatseg(models, 'serve', '--data', data, '--queue', 'localhost:6379'), /--queue must be a redis:\/\/ or rediss:\/\/ URL|--queue must be a Redis URL/);
  });
});

describe('a server without --queue', () => {
  it('lists no workers and takes no result uploads', async () => {
    const s = createTestServer({}, { apiKey: 'k' });
    try {
      expect(await (await s.get('/workers')).json()).toEqual({ queue: 'in-process', workers: [] });
      const put = (headers: Record<string, string>) => s.get('/results/abcdef123456/mask.tif', { method: 'PUT', body: 'x', headers: { 'Content-Type': 'application/octet-stream', ...headers } });
      expect((await put({})).status).toBe(401);
      const res = await put({ Authorization: 'Bearer k', 'x-satseg-job-lock': 't' });
      expect(res.status).toBe(409);
      expect((await res.json()).detail).toMatch(/runs jobs itself; it takes result uploads only when started with --queue/);
      const doc = await (await s.get('/openapi.json')).json();
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/workers', '/results/{id}/{file}']));
      expect(doc.paths['/results/{id}/{file}'].put.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['id', 'file', 'x-satseg-job-lock']));
    } finally {
      await s.close();
    }
  });
});
