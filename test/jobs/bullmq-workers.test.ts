/**
 * The BullMQ backend with real components: Debian's redis-server on a free port, `satseg serve
 * --queue` and `satseg worker` as separate processes (as an operator runs them), six jobs on two
 * workers with one of them killed with kill -9 mid-job. All six succeed, exactly six results are
 * registered, and every mask has the pixels the embedded (in-process) mode writes. Then: a change
 * job (scene masks, change mask and vectors uploaded; a second one reuses the masks), cancel
 * reaches the worker, a worker lacking the device or the model fails the job with that reason,
 * and PUT /results takes files only from the holder of the job's lock, with the key, and checks them.
 */
import fs from 'node:fs';
import { rawConnection } from '../helpers/raw-connection.ts';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { RemoteWorker } from '../../server/src/jobs/remote-worker.ts';
import { LOCK_HEADER, QUEUE_NAME, QUEUE_PREFIX } from '../../server/src/jobs/remote-protocol.ts';
import { installTestModel } from '../fixtures/test-model.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';
import { redisSkipReason, skipWithoutRedis } from '../helpers/shared-data.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { spawnSatseg, startServe, waitForJob, waitForWorkers, type SatsegProcess } from '../helpers/satseg-processes.ts';

const KEY = 'bullmq-test-key';
const SIZE = 1024;
const scenes: Record<string, (f: string) => void> = {
  'a.tif': (f) => writeTestTiff(f, { width: SIZE, height: SIZE, bands: syntheticScene(SIZE, SIZE, 1), geoTransform: [400000, 5, 0, 5000000, 0, -5], rowsPerStrip: 64 }),
  // Overlapping a.tif by 624 columns: the change jobs compare the two there.
  'b.tif': (f) => writeTestTiff(f, { width: SIZE, height: SIZE, bands: syntheticScene(SIZE, SIZE, 2), geoTransform: [402000, 5, 0, 4999000, 0, -5], rowsPerStrip: 64 }),
};

type Bounds = [number, number, number, number];
/** The six jobs: whole scenes and boxes (fractions of a scene's bounds). */
const JOBS: Array<{ scene: string; box: Bounds | null }> = [
  { scene: 'a.tif', box: null },
  { scene: 'b.tif', box: null },
  { scene: 'a.tif', box: [0, 0, 0.6, 0.7] },
  { scene: 'b.tif', box: [0.3, 0.2, 1, 1] },
  { scene: 'a.tif', box: [0.1, 0.4, 0.9, 0.95] },
  { scene: 'b.tif', box: [0.05, 0.05, 0.75, 0.5] },
];

function jobBody(datasets: Record<string, { id: string; bounds: Bounds }>, job: (typeof JOBS)[number], options: Record<string, unknown> = {}) {
  const d = datasets[job.scene]!;
  const [w, s, e, n] = d.bounds;
  const bbox = job.box ? [w + job.box[0] * (e - w), s + job.box[1] * (n - s), w + job.box[2] * (e - w), s + job.box[3] * (n - s)] : undefined;
  return { dataset: d.id, model: 'test-rgb', ...(bbox ? { bbox } : {}), options: { device: 'cpu', ...options } };
}

/** A change job: before a.tif, after b.tif, over the middle of their overlap, with vectors. */
function changeBody(datasets: Record<string, { id: string; bounds: Bounds }>) {
  const [a, b] = [datasets['a.tif']!.bounds, datasets['b.tif']!.bounds];
  const [w, s, e, n] = [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])];
  const bbox = [w + 0.1 * (e - w), s + 0.1 * (n - s), e - 0.1 * (e - w), n - 0.1 * (n - s)];
  return { dataset: datasets['b.tif']!.id, before: datasets['a.tif']!.id, model: 'test-rgb', bbox, options: { device: 'cpu', vector: true } };
}

async function maskPixels(file: string): Promise<{ width: number; height: number; pixels: Buffer; source: string | undefined }> {
  const m = await openRaster(file);
  try {
    const b = await m.read({ x: 0, y: 0, width: m.info.width, height: m.info.height });
    return { width: m.info.width, height: m.info.height, pixels: Buffer.from(b.bands[0] as Uint8Array), source: m.info.metadata.SOURCE };
  } finally {
    await m.close();
  }
}

/** Follows a job's Server-Sent Events, calling `onJob` with each; resolves when the stream ends. */
async function follow(base: string, id: string, onJob: (job: Record<string, any>) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(`${base}/jobs/${id}/events`, { signal });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let at;
    while ((at = buffer.indexOf('\n\n')) >= 0) {
      const data = /^data: (.*)$/m.exec(buffer.slice(0, at))?.[1];
      buffer = buffer.slice(at + 2);
      if (data) onJob(JSON.parse(data));
    }
  }
}

describe.skipIf(skipWithoutRedis)(`BullMQ: satseg serve --queue with satseg workers${redisSkipReason ? ` (${redisSkipReason})` : ''}`, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-bullmq-'));
  const models = installTestModel(path.join(tmp, 'models'));
  const dataDir = path.join(tmp, 'data');
  const auth = { Authorization: `Bearer ${KEY}` };
  let redis: TestRedis;
  let api: SatsegProcess & { base: string };
  const workers = new Map<string, SatsegProcess>();
  let embedded: TestServer;
  let datasets: Record<string, { id: string; bounds: Bounds }>;
  /** The embedded mode's masks of JOBS, in order. */
  const reference: Array<Awaited<ReturnType<typeof maskPixels>>> = [];
  const changeReference: Record<string, Awaited<ReturnType<typeof maskPixels>>> = {};
  /** The results registered so far on the server. */
  const doneIds: string[] = [];
  /** The scene masks of the first change job (later change jobs of the same area reuse them). */
  let changeScenes: { before: string; after: string } | null = null;

  /** The job once a worker runs it and has done some tiles (followed over its event stream). */
  const runningJob = (id: string) => new Promise<Record<string, any>>((resolve) => {
    const stop = new AbortController();
    void follow(api.base, id, (job) => {
      if (job.status === 'running' && job.progress.tiles_done > 0) { stop.abort(); resolve(job); }
    }, stop.signal).catch(() => undefined);
  });
  const startWorker = (name: string, ...flags: string[]) => {
    // A short lock, so the killed worker's job moves on within seconds; not so short that a worker
    // starved of CPU (a loaded CI machine) misses its renewal and loses a job it is still running.
    workers.set(name, spawnSatseg(['worker', '--server', api.base, '--queue', redis.url, '--key', KEY, '--name', name, ...flags], { SATSEG_MODELS: models, SATSEG_WORKER_LOCK_MS: '4000' }));
  };
  const submit = async (body: unknown) => {
    const res = await fetch(`${api.base}/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...auth }, body: JSON.stringify(body) });
    const json = await res.json() as Record<string, any>;
    expect(res.status, JSON.stringify(json)).toBe(202);
    return json.id as string;
  };
  const resultFolders = () => fs.readdirSync(path.join(dataDir, 'results')).sort();

  beforeAll(async () => {
    redis = await startRedis();
    // The embedded mode's masks first: one thread per job, as each worker runs, two jobs at a time.
    embedded = createTestServer(scenes, { jobThreads: 1, maxJobs: 2 });
    const local: Record<string, { id: string; bounds: Bounds }> = {};
    for (const name of Object.keys(scenes)) {
      const id = embedded.datasetId(name);
      local[name] = { id, bounds: (await (await embedded.get(`/datasets/${id}`)).json()).bounds };
    }
    const ids: string[] = [];
    for (const body of [...JOBS.map((job) => jobBody(local, job)), changeBody(local)]) {
      const res = await embedded.get('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      ids.push((await res.json()).id);
    }
    const done = [];
    for (const id of ids) {
      for (;;) {
        const job = await (await embedded.get(`/jobs/${id}`)).json();
        if (['succeeded', 'failed', 'cancelled'].includes(job.status)) { done.push(job); break; }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    for (const job of done) expect(job.status, job.error).toBe('succeeded');
    const file = (rid: string) => embedded.ctx.results.file(embedded.ctx.results.get(rid), 'mask');
    for (const job of done.slice(0, JOBS.length)) reference.push(await maskPixels(file(job.id)));
    const change = done[JOBS.length];
    changeReference.change = await maskPixels(file(change.id));
    changeReference.before = await maskPixels(file(change.results.before.result.split('/').pop()));
    changeReference.after = await maskPixels(file(change.results.after.result.split('/').pop()));

    fs.mkdirSync(dataDir);
    for (const [name, write] of Object.entries(scenes)) write(path.join(dataDir, name));
    api = await startServe(['--data', dataDir, '--queue', redis.url, '--no-samples'], { SATSEG_MODELS: models, SATSEG_API_KEY: KEY });
    const listed = (await (await fetch(`${api.base}/datasets`)).json()).datasets as Array<{ id: string; name: string; bounds: Bounds }>;
    datasets = Object.fromEntries(listed.map((d) => [d.name, { id: d.id, bounds: d.bounds }]));
    startWorker('w1', '--threads', '1', '--device', 'cpu');
    startWorker('w2', '--threads', '1', '--device', 'cpu');
  }, 180_000);

  afterAll(async () => {
    for (const w of workers.values()) await w.stop(5000);
    await api?.stop();
    await redis?.stop();
    await embedded?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('lists both workers with their host, device and threads', async () => {
    const listed = await waitForWorkers(api.base, ['w1', 'w2']);
    for (const name of ['w1', 'w2']) {
      const w = listed.find((x) => x.id === name)!;
      expect(w).toMatchObject({ host: os.hostname(), pid: workers.get(name)!.child.pid, device: 'cpu', threads: 1, jobs_done: 0, jobs_failed: 0 });
      expect(w.job === null || typeof w.job === 'string').toBe(true);
    }
  });

  it('runs 6 jobs on two workers with one killed by kill -9 mid-job: all succeed, exactly 6 results, masks as in embedded mode', async () => {
    const ids: string[] = [];
    for (const job of JOBS) ids.push(await submit(jobBody(datasets, job)));
    // Kill w1 the moment it reports a job partway through its tiles.
    const stopWatching = new AbortController();
    const victim = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('w1 never reported a job partway through')), 90_000);
      for (const id of ids) {
        void follow(api.base, id, (job) => {
          const p = job.progress;
          if (job.worker === 'w1' && job.status === 'running' && p.stage === 'segmenting' && p.tiles_done > 0 && p.tiles_done < p.tiles_total && workers.get('w1')!.child.exitCode === null) {
            workers.get('w1')!.child.kill('SIGKILL');
            clearTimeout(timer);
            resolve(job.id);
          }
        }, stopWatching.signal).catch(() => undefined);
      }
    });
    stopWatching.abort();
    const jobs = await Promise.all(ids.map((id) => waitForJob(api.base, id, 120_000)));
    for (const job of jobs) expect(job.status, `${job.id}: ${job.error}`).toBe('succeeded');
    const killed = jobs.find((j) => j.id === victim)!;
    expect(killed.worker).toBe('w2');
    expect(killed.notices.join(' | ')).toMatch(/worker w1 stopped answering while it ran the job; the job went back to the queue/);

    const results = (await (await fetch(`${api.base}/results`)).json()).results as Array<{ id: string }>;
    expect(results.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(resultFolders()).toEqual([...ids].sort());
    for (const [i, id] of ids.entries()) {
      const got = await maskPixels(path.join(dataDir, 'results', id, 'mask.tif'));
      expect([got.width, got.height], `job ${i}`).toEqual([reference[i]!.width, reference[i]!.height]);
      expect(got.pixels.equals(reference[i]!.pixels), `job ${i}: mask pixels differ from the embedded mode's`).toBe(true);
      // The worker read the scene from the server's .../source.tif; the mask still names the dataset.
      expect(got.source, `job ${i}`).toBe(JOBS[i]!.scene);
      expect(JSON.parse(fs.readFileSync(path.join(dataDir, 'results', id, 'stats.json'), 'utf8')).classes).toBeDefined();
    }
    doneIds.push(...ids);
  }, 180_000);

  it('runs a change job on a worker: both scene masks, the change mask and its vectors, as in embedded mode; a second reuses the scene masks', async () => {
    const first = await waitForJob(api.base, await submit(changeBody(datasets)));
    expect(first.status, first.error).toBe('succeeded');
    const ids = { change: first.id as string, before: first.results.before.result.split('/').pop() as string, after: first.results.after.result.split('/').pop() as string };
    for (const [role, id] of Object.entries(ids)) {
      const got = await maskPixels(path.join(dataDir, 'results', id, 'mask.tif'));
      expect(got.pixels.equals(changeReference[role]!.pixels), `${role} mask differs from the embedded mode's`).toBe(true);
      if (role !== 'change') expect(got.source, role).toBe(role === 'before' ? 'a.tif' : 'b.tif');
    }
    const change = await (await fetch(`${api.base}/results/${ids.change}`)).json();
    expect(change.kind).toBe('change');
    const features = await (await fetch(`${api.base}/results/${ids.change}/features.geojson`)).json();
    expect(features.type).toBe('FeatureCollection');
    expect(features.features.length).toBeGreaterThan(0);
    doneIds.push(...Object.values(ids));
    changeScenes = { before: ids.before, after: ids.after };

    // Same area and options: the worker reads the two masks back from the server instead of segmenting.
    const second = await waitForJob(api.base, await submit(changeBody(datasets)));
    expect(second.status, second.error).toBe('succeeded');
    expect(second.notices.filter((n: string) => /reusing the mask made earlier/.test(n))).toHaveLength(2);
    expect(second.results.before.result).toBe(first.results.before.result);
    const again = await maskPixels(path.join(dataDir, 'results', second.id, 'mask.tif'));
    expect(again.pixels.equals(changeReference.change!.pixels)).toBe(true);
    doneIds.push(second.id);
    expect(resultFolders()).toEqual([...doneIds].sort());
  }, 120_000);

  it('cancels a running job on its worker: the job stops, nothing is registered, its folder goes', async () => {
    const id = await submit(jobBody(datasets, JOBS[0]!, { tta: true, tile: 128, overlap: 16 }));
    const running = await runningJob(id);
    expect(running.worker).toBe('w2');
    const started = Date.now();
    const res = await fetch(`${api.base}/jobs/${id}`, { method: 'DELETE', headers: auth });
    const job = await res.json();
    expect(res.status).toBe(200);
    expect(job.status).toBe('cancelled');
    expect(job.error).toBeNull();
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(job.progress.tiles_done).toBeLessThan(job.progress.tiles_total);
    expect(resultFolders()).toEqual([...doneIds].sort());
    expect((await (await fetch(`${api.base}/results`)).json()).results).toHaveLength(doneIds.length);
    // The worker let the job go and is free again.
    for (let i = 0; i < 50; i++) {
      const w2 = (await waitForWorkers(api.base, ['w2'])).find((w) => w.id === 'w2')!;
      if (w2.job === null) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await waitForWorkers(api.base, ['w2'])).find((w) => w.id === 'w2')!.job).toBeNull();
    expect(workers.get('w2')!.output()).toMatch(new RegExp(`"job":"${id}".*job cancelled`));
  }, 120_000);

  it('survives a restart of the API server while a worker runs a job: the job completes and is registered once', async () => {
    const id = await submit(jobBody(datasets, JOBS[1]!, { tta: true }));
    await runningJob(id);
    const port = new URL(api.base).port;
    await api.stop();
    api = await startServe(['--data', dataDir, '--queue', redis.url, '--no-samples', '--port', port], { SATSEG_MODELS: models, SATSEG_API_KEY: KEY });
    const job = await waitForJob(api.base, id);
    expect(job.status, job.error).toBe('succeeded');
    expect(job.worker).toBe('w2');
    doneIds.push(id);
    const results = (await (await fetch(`${api.base}/results`)).json()).results as Array<{ id: string }>;
    expect(results.map((r) => r.id).sort()).toEqual([...doneIds].sort());
    expect(resultFolders()).toEqual([...doneIds].sort());
    const got = await maskPixels(path.join(dataDir, 'results', id, 'mask.tif'));
    expect([got.width, got.height]).toEqual([reference[1]!.width, reference[1]!.height]);
  }, 120_000);

  it('stops a worker at once on a second SIGTERM, and another worker finishes the job it held', async () => {
    // Small tiles with flips: a job of many seconds, so that waiting for it would show.
    const id = await submit(jobBody(datasets, JOBS[0]!, { tta: true, tile: 16, overlap: 4 }));
    const running = await runningJob(id);
    const holder = workers.get(running.worker)!;
    const exited = new Promise((r) => holder.child.once('exit', r));
    const started = Date.now();
    holder.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    holder.child.kill('SIGTERM');
    await exited;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(holder.output()).toMatch(/SIGTERM again: stopping now/);
    // The job's lock expires (SATSEG_WORKER_LOCK_MS 4 s here) and another worker runs it: the
    // stopped worker had said "stopping now" and still run the job to its end (about 10 s).
    startWorker(running.worker, '--threads', '1', '--device', 'cpu');
    const job = await waitForJob(api.base, id);
    expect(job.status, job.error).toBe('succeeded');
    expect(holder.output()).not.toMatch(new RegExp(`"job":"${id}".*job done`));
    doneIds.push(id);
  }, 180_000);

  it('fails a job with the reason when its worker lacks the device it was asked for, or the model, or the API key', async () => {
    await workers.get('w2')!.stop();
    const empty = path.join(tmp, 'no-models');
    fs.mkdirSync(empty);
    const cases: Array<{ name: string; device: 'cuda' | 'cpu'; models: string; key?: string; reason: RegExp }> = [
      { name: 'w-cuda', device: 'cuda', models, key: KEY, reason: /CUDA is not available/ },
      { name: 'w-bare', device: 'cpu', models: empty, key: KEY, reason: /worker w-bare cannot load model test-rgb: unknown model "test-rgb"/ },
      { name: 'w-nokey', device: 'cpu', models, reason: /the server refused mask\.tif of result \w+ \(HTTP 401\): this server needs an API key/ },
    ];
    for (const c of cases) {
      const worker = new RemoteWorker({ server: api.base, redisUrl: redis.url, apiKey: c.key, device: c.device, models: new ModelRegistry(c.models), name: c.name, threads: 1, lockMs: 2000 });
      await worker.start();
      try {
        const job = await waitForJob(api.base, await submit(jobBody(datasets, JOBS[2]!)));
        expect(job.status).toBe('failed');
        expect(job.worker).toBe(c.name);
        expect(job.error).toMatch(c.reason);
      } finally {
        await worker.close();
      }
    }
    expect(resultFolders()).toEqual([...doneIds].sort());
  }, 120_000);

  it('PUT /results takes a file only from the worker holding the job, with the API key, and checks it', async () => {
    const id = await submit(jobBody(datasets, JOBS[2]!));
    // Take the job by hand, as a worker does, to hold its lock.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const manual = new Worker(QUEUE_NAME, null, { connection, prefix: QUEUE_PREFIX, lockDuration: 60_000 });
    try {
      const taken = await manual.getNextJob('manual-token');
      expect(taken?.id).toBe(id);
      const put = (resultId: string, file: string, body: Buffer | string, headers: Record<string, string> = {}) => fetch(`${api.base}/results/${resultId}/${file}`, {
        method: 'PUT', body: typeof body === 'string' ? body : new Uint8Array(body), headers: { 'Content-Type': 'application/octet-stream', ...headers },
      }).then(async (r) => ({ status: r.status, body: await r.json() as Record<string, any> }));
      const good = fs.readFileSync(path.join(dataDir, 'results', doneIds[2]!, 'mask.tif'));
      const other = fs.readFileSync(path.join(dataDir, 'results', doneIds[0]!, 'mask.tif'));
      const holder = { ...auth, [LOCK_HEADER]: 'manual-token' };

      expect((await put(id, 'mask.tif', good, { [LOCK_HEADER]: 'manual-token' })).status).toBe(401);
      expect((await put(id, 'mask.tif', good, auth)).status).toBe(400);
      const stale = await put(id, 'mask.tif', good, { ...auth, [LOCK_HEADER]: 'someone-else' });
      expect(stale.status).toBe(409);
      expect(stale.body.detail).toMatch(/this upload's lock token does not hold job .*another worker holds it, or the token is not the job's/);
      // Refused before its body is read: a forged token declaring 1 GB gets its 409 after the first megabyte.
      const socket = rawConnection(new URL(api.base).port);
      try {
        await new Promise((r) => socket.once('connect', r));
        let answer = '';
        socket.on('data', (d) => { answer += d.toString('latin1'); });
        socket.write(`PUT /results/${id}/mask.tif HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth.Authorization}\r\n${LOCK_HEADER}: forged\r\nContent-Type: application/octet-stream\r\nContent-Length: ${2 ** 30}\r\n\r\n`);
        socket.write(Buffer.alloc(2 ** 20));
        const deadline = Date.now() + 10_000;
        while (!answer.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(answer).toMatch(/^HTTP\/1\.1 409 /);
      } finally {
        socket.destroy();
      }
      // stats.json is parsed whole: at most 16 MB (a 500 MB one crashed the server).
      const big = await put(id, 'stats.json', `{"a":[${'0,'.repeat(9 * 2 ** 20)}0]}`, holder);
      expect(big.status).toBe(413);
      expect(big.body.detail).toBe('a stats.json may be at most 16 MB');
      expect((await put('0123456789abcdef', 'mask.tif', good, holder)).status).toBe(404);
      expect((await put(id, 'scores.tif', good, holder)).status).toBe(400);
      const wrongSize = await put(id, 'mask.tif', other, holder);
      expect(wrongSize.status).toBe(422);
      expect(wrongSize.body.detail).toMatch(/the uploaded mask\.tif is 1024 x 1024 px; the job's area is \d+ x \d+ px/);
      expect((await put(id, 'mask.tif', Buffer.from('not a tiff at all'), holder)).body.detail).toMatch(/is not a readable GeoTIFF/);
      expect((await put(id, 'stats.json', '{"classes": [', holder)).body.detail).toMatch(/stats\.json is not JSON/);
      expect(fs.existsSync(path.join(dataDir, 'results', id, 'mask.tif'))).toBe(false);

      const placed = await put(id, 'mask.tif', good, holder);
      expect(placed.status, JSON.stringify(placed.body)).toBe(201);
      expect(placed.body).toEqual({ result: id, file: 'mask.tif', bytes: good.length });
      expect(fs.readFileSync(path.join(dataDir, 'results', id, 'mask.tif')).equals(good)).toBe(true);
      await taken!.moveToFailed(new Error('given up by the test'), 'manual-token');
      const job = await waitForJob(api.base, id);
      expect(job.status).toBe('failed');
      expect(job.error).toBe('given up by the test');
      expect(fs.existsSync(path.join(dataDir, 'results', id))).toBe(false);
      expect((await put(id, 'mask.tif', good, holder)).status).toBe(409);
    } finally {
      await manual.close();
      connection.disconnect();
    }
  }, 60_000);

  it('refuses uploads to, and the deletion of, a scene mask a waiting change job reuses', async () => {
    expect(changeScenes, 'the change-job test ran first').not.toBeNull();
    const { before } = changeScenes!;
    const id = await submit(changeBody(datasets));
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const manual = new Worker(QUEUE_NAME, null, { connection, prefix: QUEUE_PREFIX, lockDuration: 60_000 });
    try {
      const taken = await manual.getNextJob('manual-token');
      expect(taken?.id).toBe(id);
      // The job names the mask it reuses among its results: a worker holding its lock overwrote that
      // registered mask (201) and its stats.json.
      const stats = fs.readFileSync(path.join(dataDir, 'results', before, 'stats.json'));
      const put = await fetch(`${api.base}/results/${before}/stats.json`, {
        method: 'PUT', body: '{"hacked": true}', headers: { 'Content-Type': 'application/octet-stream', ...auth, [LOCK_HEADER]: 'manual-token' },
      });
      expect(put.status).toBe(409);
      expect(((await put.json()) as { detail: string }).detail).toBe(`result ${before} is registered (job ${id} reuses it); it takes no uploads`);
      expect(fs.readFileSync(path.join(dataDir, 'results', before, 'stats.json')).equals(stats)).toBe(true);
      // Deleted under the job, the mask failed it after its other scene was segmented.
      const del = await fetch(`${api.base}/results/${before}`, { method: 'DELETE', headers: auth });
      expect(del.status).toBe(409);
      expect(((await del.json()) as { detail: string }).detail).toMatch(new RegExp(`^result "${before}" is used by job ${id} \\(\\w+\\): cancel it`));
      await taken!.moveToFailed(new Error('given up by the test'), 'manual-token');
      expect((await waitForJob(api.base, id)).status).toBe('failed');
    } finally {
      await manual.close();
      connection.disconnect();
    }
    // The job over, the mask may go.
    expect((await fetch(`${api.base}/results/${before}`, { method: 'DELETE', headers: auth })).status).toBe(204);
  }, 60_000);
});
