/**
 * The server's own storage failing while jobs run: its catalog refusing writes (disk full, or
 * another process holding a lock) and its data folder turned read-only. Each used to end the
 * server process from inside a job worker's event handler ("terminate called after throwing
 * Napi::Error"), for every client. Now the job ends failed, what could not be written is written
 * once the catalog takes it again, and requests get statuses naming the server's storage.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';
import { toHttpError } from '../../server/src/serve/http-error.ts';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import type { JobEvent } from '../../server/src/jobs/job-types.ts';

let s: TestServer;
beforeAll(() => {
  s = createTestServer({ 'scene.tif': (f) => writeTestTiff(f, { width: 300, height: 200, bands: syntheticScene(300, 200), geoTransform: [485899, 5, 0, 5209246, 0, -5], epsg: 26914 }) });
});
afterAll(async () => { await s?.close(); });

/** An error as better-sqlite3 or node:fs throws it. */
const failure = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('storage failing under a running job', () => {
  it('fails the job, keeps the server, and writes the job record once the catalog takes it again', async () => {
    const { ctx } = s;
    const post = await s.get('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: s.datasetId('scene.tif'), model: 'test-rgb', options: { device: 'cpu' } }) });
    expect(post.status).toBe(202);
    const { id } = (await post.json()) as { id: string };
    const ended = new Promise<JobEvent>((resolve) => { const off = ctx.jobs.subscribe(id, (e) => { if (e.type === 'status' && e.job.status !== 'running' && e.job.status !== 'queued') { off(); resolve(e); } }); });
    // The disk fills as the job ends: its result cannot be registered, its record not written,
    // and its folder not removed (read-only).
    const update = ctx.jobStore.update.bind(ctx.jobStore);
    const register = ctx.results.register.bind(ctx.results);
    const discard = ctx.results.discard.bind(ctx.results);
    ctx.jobStore.update = () => { throw failure('SQLITE_FULL', 'database or disk is full'); };
    ctx.results.register = () => { throw failure('SQLITE_CORRUPT', 'database disk image is malformed'); };
    ctx.results.discard = () => { throw failure('EROFS', 'EROFS: read-only file system, rmdir'); };
    try {
      const e = await ended;
      expect(e.job.status).toBe('failed');
      expect(e.job.error).toMatch(/could not register the result: database disk image is malformed/);
      // The server answers, and says the job failed although the catalog still holds "running".
      expect((await s.get('/models')).status).toBe(200);
      expect(((await (await s.get(`/jobs/${id}`)).json()) as { status: string }).status).toBe('failed');
    } finally {
      ctx.jobStore.update = update;
      ctx.results.register = register;
      ctx.results.discard = discard;
    }
    // Space again: the record goes in at the next try (every 5 s).
    const deadline = Date.now() + 15_000;
    while (ctx.jobStore.get(id).status !== 'failed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(ctx.jobStore.get(id).status).toBe('failed');
  }, 60_000);
});

describe('a catalog locked over the end of a job', () => {
  it('registers the result once the lock goes, instead of failing the job and deleting its mask', async () => {
    const { ctx } = s;
    const post = await s.get('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: s.datasetId('scene.tif'), model: 'test-rgb', options: { device: 'cpu' } }) });
    const { id } = (await post.json()) as { id: string };
    const ended = new Promise<JobEvent>((resolve) => { const off = ctx.jobs.subscribe(id, (e) => { if (e.type === 'status' && !['queued', 'running'].includes(e.job.status)) { off(); resolve(e); } }); });
    const register = ctx.results.register.bind(ctx.results);
    let refused = 0;
    // Locked for the first three tries (about 3 s), as another process's transaction would hold it.
    ctx.results.register = (r) => { if (refused < 3) { refused++; throw failure('SQLITE_BUSY', 'database is locked'); } return register(r); };
    try {
      const e = await ended;
      expect(e.job.status, e.job.error ?? '').toBe('succeeded');
      expect(refused).toBe(3);
      expect((await s.get(`/results/${e.job.resultId}/mask.tif`)).status).toBe(200);
    } finally {
      ctx.results.register = register;
    }
  }, 60_000);
});

describe('a server stopped while its catalog is locked', () => {
  it('waits for the lock to write its re-queued jobs, so they run again after the restart', async () => {
    const t = createTestServer({ 'scene.tif': (f) => writeTestTiff(f, { width: 1200, height: 1000, bands: syntheticScene(1200, 1000), geoTransform: [485899, 5, 0, 5209246, 0, -5], epsg: 26914 }) });
    try {
      const post = await t.get('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: t.datasetId('scene.tif'), model: 'test-rgb', options: { device: 'cpu', tile: 32, overlap: 4, batch: 1 } }) });
      const { id } = (await post.json()) as { id: string };
      await new Promise<void>((resolve) => { const off = t.ctx.jobs.subscribe(id, (e) => { if (e.job.status === 'running' && e.job.progress.tilesDone > 0) { off(); resolve(); } }); });
      // Locked now, for a second and a half: the record "back in the queue" only reached memory,
      // the process ended, and the restart failed the job as interrupted.
      const update = t.ctx.jobStore.update.bind(t.ctx.jobStore);
      t.ctx.jobStore.update = () => { throw failure('SQLITE_BUSY', 'database is locked'); };
      setTimeout(() => { t.ctx.jobStore.update = update; }, 1500);
      await t.ctx.jobs.close();
      expect(t.ctx.jobStore.get(id).status).toBe('queued');
    } finally {
      await t.close();
    }
  }, 60_000);
});

describe('another process holding the catalog\'s write lock', () => {
  it('answers an upload 503 and keeps nothing of it, and lists the known datasets meanwhile', async () => {
    const { ctx } = s;
    const scene = path.join(s.dir, 'upload.tif');
    writeTestTiff(scene, { width: 64, height: 64, bands: syntheticScene(64, 64), geoTransform: [485899, 5, 0, 5209246, 0, -5], epsg: 26914 });
    fs.copyFileSync(scene, path.join(ctx.dataDir, 'dropped.tif'));
    const other = new Database(path.join(ctx.dataDir, 'satseg.sqlite'));
    other.exec('BEGIN EXCLUSIVE');
    try {
      const form = new FormData();
      form.append('file', new Blob([fs.readFileSync(scene)]), 'upload.tif');
      const res = await s.get('/datasets', { method: 'POST', body: form });
      // It was a 400 "invalid GeoTIFF — upload.tif was rejected: database is locked", and the
      // file stayed in uploads/, to be listed once the lock ended.
      expect(res.status).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/^the server's catalog \(satseg\.sqlite\) is locked by another process/);
      expect(fs.readdirSync(path.join(ctx.dataDir, 'uploads'))).toEqual([]);
      // The listing goes on with what the catalog knows (it was a 500 after 5 s).
      const started = Date.now();
      const list = await s.get('/datasets');
      expect(list.status).toBe(200);
      expect(((await list.json()) as { datasets: Array<{ name: string }> }).datasets.map((d) => d.name)).toEqual(['scene.tif']);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    // Lock gone: the dropped file is picked up, the refused upload is not there.
    await new Promise((r) => setTimeout(r, 1100));
    const names = ((await (await s.get('/datasets')).json()) as { datasets: Array<{ name: string }> }).datasets.map((d) => d.name);
    expect(names.sort()).toEqual(['dropped.tif', 'scene.tif']);
    fs.rmSync(path.join(ctx.dataDir, 'dropped.tif'));
  });
});

describe('deleting a result on a read-only folder', () => {
  it('is a 503 that leaves the result whole and listed; once writable, the delete takes all of it', async () => {
    const id = await s.addResult('scene.tif');
    const dir = path.dirname(s.ctx.results.file(s.ctx.results.get(id), 'mask'));
    // Read-only, as a remount would make it (root ignores file modes, so the rename is made to fail).
    const rename = vi.spyOn(fs.promises, 'rename').mockRejectedValueOnce(Object.assign(new Error('EROFS: read-only file system, rename'), { code: 'EROFS' }));
    try {
      const refused = await s.get(`/results/${id}`, { method: 'DELETE' });
      // The row went first, and the folder that could not be removed was never seen again.
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { detail: string }).detail).toMatch(/^the server cannot write its data folder/);
      expect((await s.get(`/results/${id}`)).status).toBe(200);
      expect(fs.existsSync(path.join(dir, 'mask.tif'))).toBe(true);
    } finally {
      rename.mockRestore();
    }
    expect((await s.get(`/results/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await s.get(`/results/${id}`)).status).toBe(404);
    expect(fs.readdirSync(path.dirname(dir)).filter((n) => n.includes(id))).toEqual([]);
  });
});

describe('files removed behind the server\'s back', () => {
  it('answer 404 saying they are gone: a result\'s folder, a dataset\'s file; and the plain GeoJSON where its gzip copy cannot be made', async () => {
    const id = await s.addResult('scene.tif');
    const gone = await s.addResult('scene.tif');
    // Polygons made first, so that the gzip copy is what fails below.
    expect((await s.get(`/results/${id}/features.geojson`)).status).toBe(200);
    const gzip = vi.spyOn(s.ctx.vectors, 'featuresGzip').mockRejectedValueOnce(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    try {
      const plain = await s.get(`/results/${id}/features.geojson`, { headers: { 'Accept-Encoding': 'gzip' } });
      // It was a 500, although the plain file was there to serve.
      expect(plain.status).toBe(200);
      expect(plain.headers.get('content-encoding')).toBeNull();
      expect(((await plain.json()) as { type: string }).type).toBe('FeatureCollection');
    } finally {
      gzip.mockRestore();
    }
    fs.rmSync(path.dirname(s.ctx.results.file(s.ctx.results.get(gone), 'mask')), { recursive: true });
    for (const p of ['mask.tif', 'features.geojson', 'features.fgb', 'tiles/10/200/300.png']) {
      const res = await s.get(`/results/${gone}/${p}`);
      // They were 500 (mask.tif) and 400 "output folder does not exist".
      expect(res.status, p).toBe(404);
      expect(((await res.json()) as { detail: string }).detail, p).toMatch(/^(result "\w+" is gone: its files are no longer in the data folder; delete it|file ".*" is no longer on the server)$/);
    }
    expect((await s.get(`/results/${gone}`, { method: 'DELETE' })).status).toBe(204);

    const dropped = path.join(s.ctx.dataDir, 'doomed.tif');
    fs.copyFileSync(path.join(s.ctx.dataDir, 'scene.tif'), dropped);
    await new Promise((r) => setTimeout(r, 1100));
    const doomed = s.datasetId('doomed.tif');
    fs.rmSync(dropped);
    const tile = await s.get(`/datasets/${doomed}/tiles/10/200/300.png`);
    // It was a 400 "no such file" on every tile, and the dataset stayed listed.
    expect(tile.status).toBe(404);
    expect(((await tile.json()) as { detail: string }).detail).toBe(`dataset "${doomed}" is gone: its file is no longer in the data folder`);
    expect((await s.get(`/datasets/${doomed}`)).status).toBe(404);
  });

  it('answer 503 when the whole data folder is gone', async () => {
    const t = createTestServer({ 'scene.tif': (f) => writeTestTiff(f, { width: 64, height: 64, bands: syntheticScene(64, 64), geoTransform: [485899, 5, 0, 5209246, 0, -5], epsg: 26914 }) });
    try {
      fs.rmSync(t.ctx.dataDir, { recursive: true });
      await new Promise((r) => setTimeout(r, 1100));
      const res = await t.get('/datasets');
      // It was a 500 naming scandir.
      expect(res.status).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/^the server's data folder is gone \(deleted or unmounted\)/);
      // An upload received before the folder went: it was a 400 "invalid GeoTIFF ... ENOENT rename".
      const received = path.join(t.dir, 'received.tif');
      writeTestTiff(received, { width: 64, height: 64, bands: syntheticScene(64, 64), geoTransform: [485899, 5, 0, 5209246, 0, -5], epsg: 26914 });
      await expect(t.ctx.datasets.addUpload(received, 'up.tif')).rejects.toMatchObject({ kind: 'storage', message: expect.stringMatching(/^the server's data folder is gone/) });
    } finally {
      fs.mkdirSync(t.ctx.dataDir, { recursive: true });
      await t.close();
    }
  });
});

describe('a dataset listed as unusable', () => {
  it('is refused at submission, naming it and why (a truncated file was accepted and its job failed later)', async () => {
    // A COG (its directory first) cut short: it opens, and its blocks are missing.
    const file = path.join(s.ctx.dataDir, 'truncated.tif');
    const w = await CogWriter.create(file, { width: 512, height: 512, geoTransform: [485899, 5, 0, 5209246, 0, -5], geoKeys: { epsg: 26914, geographic: false }, nodata: null, blockSize: 128, overviewResampling: 'average' });
    const rows = new Uint8Array(512 * 512).map((_, i) => (i * 7) % 251);
    await w.writeRows(rows, 512);
    await w.finish();
    fs.truncateSync(file, Math.floor(fs.statSync(file).size / 3));
    await new Promise((r) => setTimeout(r, 1100));
    const id = s.datasetId('truncated.tif');
    const listed = ((await (await s.get(`/datasets/${id}`)).json()) as { usable: boolean; error?: string });
    expect(listed.usable).toBe(false);
    const res = await s.get('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: id, model: 'test-rgb' }) });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { detail: string }).detail).toMatch(new RegExp(`^the dataset "${id}" cannot be read: `));
    fs.rmSync(file);
  });
});

describe('a read-only data folder', () => {
  it('refuses a job at once (503), where it was accepted and failed on "ENOENT mkdir"', async () => {
    const access = vi.spyOn(fs, 'accessSync').mockImplementationOnce(() => { throw Object.assign(new Error('EROFS: read-only file system, access'), { code: 'EROFS' }); });
    try {
      const res = await s.get('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: s.datasetId('scene.tif'), model: 'test-rgb' }) });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { detail: string }).detail).toBe('the server cannot write results now: its results folder is read-only');
    } finally {
      access.mockRestore();
    }
  });
});

describe('result folders no record names', () => {
  it('are removed at start when empty or an hour old; an unfinished job\'s, a registered result\'s and young ones stay', async () => {
    const { ResultCatalog } = await import('../../server/src/catalog/result-catalog.ts');
    const catalog = new ResultCatalog(s.ctx.db, s.ctx.dataDir);
    const results = path.join(s.ctx.dataDir, 'results');
    const folder = (name: string, file?: string, hoursOld = 0) => {
      const dir = path.join(results, name);
      fs.mkdirSync(dir, { recursive: true });
      if (file) fs.writeFileSync(path.join(dir, file), 'x');
      if (hoursOld) fs.utimesSync(dir, new Date(Date.now() - hoursOld * 3600_000), new Date(Date.now() - hoursOld * 3600_000));
      return dir;
    };
    // A job that could not write on a read-only folder left an empty one; an upload that landed as
    // its job failed left a mask no record names.
    const empty = folder('emptyleftover');
    const orphan = folder('orphanmask01', 'mask.tif', 2);
    const young = folder('youngorphan1', 'mask.tif');
    const pending = folder('pendingjob02');
    const registered = catalog.list()[0];
    expect(catalog.removeOrphanFolders(new Set(['pendingjob02']))).toBe(2);
    expect([empty, orphan].filter((d) => fs.existsSync(d))).toEqual([]);
    expect([young, pending].every((d) => fs.existsSync(d))).toBe(true);
    if (registered) expect(fs.existsSync(path.join(results, registered.id))).toBe(true);
    for (const d of [young, pending]) fs.rmSync(d, { recursive: true });
  });
});

describe('statuses for the server\'s storage', () => {
  it('answer 507 for a full disk and 503 for a locked catalog or a read-only folder, saying the server is at fault', () => {
    expect(toHttpError(failure('SQLITE_FULL', 'database or disk is full'))).toMatchObject({ status: 507, detail: expect.stringMatching(/^the server's disk is full/) });
    expect(toHttpError(failure('ENOSPC', 'ENOSPC: no space left on device, write'))).toMatchObject({ status: 507 });
    expect(toHttpError(failure('SQLITE_BUSY', 'database is locked'))).toMatchObject({ status: 503, detail: expect.stringMatching(/catalog \(satseg\.sqlite\) is locked by another process/) });
    expect(toHttpError(failure('EROFS', "EROFS: read-only file system, open '/srv/data/x'"))).toMatchObject({ status: 503, detail: "the server cannot write its data folder (EROFS: read-only file system, open 'x')" });
    expect(toHttpError(new Error('something else'))).toMatchObject({ status: 500 });
  });

  it('refuse to start on a catalog that cannot be written, naming it', async () => {
    const { openCatalogDb } = await import('../../server/src/catalog/catalog-db.ts');
    const Database = (await import('better-sqlite3')).default;
    const dir = fs.mkdtempSync('/tmp/satseg-ro-');
    try {
      openCatalogDb(dir).close();
      // Another process holds the write lock: the start-up write check is refused at once.
      const other = new Database(`${dir}/satseg.sqlite`);
      other.exec('BEGIN EXCLUSIVE');
      try {
        expect(() => openCatalogDb(dir, 50)).toThrow(/^the catalog .*satseg\.sqlite cannot be used: database is locked$/);
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      // A read-only file (where file modes hold: root ignores them) is refused the same way.
      fs.chmodSync(`${dir}/satseg.sqlite`, 0o444);
      if (process.getuid?.() !== 0) expect(() => openCatalogDb(dir)).toThrow(/cannot be used: attempt to write a readonly database/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leave no empty satseg.sqlite behind when a new catalog cannot be made', async () => {
    const { openCatalogDb } = await import('../../server/src/catalog/catalog-db.ts');
    const dir = fs.mkdtempSync('/tmp/satseg-nocat-');
    try {
      // The journal's place taken by a folder: SQLite creates satseg.sqlite, then cannot open its
      // write-ahead log (as a full disk fails it part way).
      const data = path.join(dir, 'data');
      fs.mkdirSync(path.join(data, 'satseg.sqlite-wal'), { recursive: true });
      expect(() => openCatalogDb(data)).toThrow(/^the catalog .*satseg\.sqlite cannot be used: /);
      expect(fs.readdirSync(data)).toEqual(['satseg.sqlite-wal']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('working folders of workers killed mid-job', () => {
  it('are removed when their process is gone (and old unnamed ones), never a live worker\'s', async () => {
    const { sweepDeadWorkerFolders } = await import('../../server/src/jobs/remote-worker.ts');
    const tmp = fs.mkdtempSync('/tmp/satseg-sweep-');
    try {
      // A pid no process has (above the kernel's limit), this process's own, and the old naming.
      const dead = path.join(tmp, 'satseg-worker-4194999-abc123');
      const live = path.join(tmp, `satseg-worker-${process.pid}-def456`);
      const oldName = path.join(tmp, 'satseg-worker-Xy12Zq');
      const recentOldName = path.join(tmp, 'satseg-worker-Ab34Cd');
      for (const d of [dead, live, oldName, recentOldName]) fs.mkdirSync(path.join(d, 'result'), { recursive: true });
      const hourAgo = (Date.now() - 2 * 3600_000) / 1000;
      fs.utimesSync(oldName, hourAgo, hourAgo);
      fs.mkdirSync(path.join(tmp, 'someone-else'));
      expect(sweepDeadWorkerFolders(tmp)).toBe(2);
      expect(fs.readdirSync(tmp).sort()).toEqual(['satseg-worker-Ab34Cd', `satseg-worker-${process.pid}-def456`, 'someone-else'].sort());
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
