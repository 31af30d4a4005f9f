/**
 * Area jobs through the API: a full job watched over SSE, the mask outside the polygon, the
 * statistics, cancelling, every 400 case and the API key guard.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as turf from '@turf/turf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { converter, transformableProj4, WGS84 } from '../../server/src/read/crs-transform.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';
import { pixelToCrs } from '../../server/src/read/georef.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { watchJob } from '../helpers/job-events.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';
import { installTestModel } from '../fixtures/test-model.ts';
import { hasShared, scenesDir } from '../helpers/shared-data.ts';
import { Limits, limitsFromEnv } from '../../server/src/serve/limits.ts';

let s: TestServer;
let datasetId: string;
let bounds: [number, number, number, number];

const sceneWriter = hasShared
  ? (f: string) => fs.copyFileSync(path.join(scenesDir, 'naip_2020.tif'), f)
  : (f: string) => writeTestTiff(f, { width: 900, height: 700, bands: syntheticScene(900, 700), geoTransform: [485899, 5, 0, 5209246, 0, -5], epsg: 26914 });

async function post(body: unknown, headers: Record<string, string> = {}) {
  const res = await s.get('/jobs', { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers } });
  return { status: res.status, body: await res.json() as Record<string, any> };
}

/** Read Server-Sent Events until a terminal status arrives. */
const watch = (id: string) => watchJob(s, id);

async function waitFor(id: string, predicate: (job: any) => boolean, timeoutMs = 60_000): Promise<any> {
  const start = Date.now();
  for (;;) {
    const job = await (await s.get(`/jobs/${id}`)).json();
    if (predicate(job)) return job;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for job ${id}: ${JSON.stringify(job.status)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  s = createTestServer({
    'scene.tif': sceneWriter,
    // 25 cm pixels, 20x finer than test-rgb's 5 m (drone imagery).
    'drone.tif': (f: string) => writeTestTiff(f, { width: 800, height: 600, bands: syntheticScene(800, 600, 3), geoTransform: [400000, 0.25, 0, 5000000, 0, -0.25], epsg: 32633 }),
  }, { limits: { maxAreaKm2: 50 } });
  datasetId = s.datasetId('scene.tif');
  bounds = (await (await s.get(`/datasets/${datasetId}`)).json()).bounds;
});
afterAll(async () => { await s?.close(); });

describe('an area over SATSEG_MAX_AREA_KM2', () => {
  let small: TestServer;
  let id: string;
  beforeAll(async () => {
    small = createTestServer({ 'scene.tif': sceneWriter }, { limits: { maxAreaKm2: 0.1 } });
    id = small.datasetId('scene.tif');
  });
  afterAll(async () => { await small?.close(); });
  const refusal = async (bbox: number[]) => {
    const res = await small.get('/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dataset: id, model: 'test-rgb', bbox }) });
    expect(res.status).toBe(400);
    return ((await res.json()) as { detail: string }).detail;
  };

  it('is refused, with its size, when it lies on the dataset', async () => {
    const [w, so, e, n] = bounds;
    const inner = [w + 0.1 * (e - w), so + 0.1 * (n - so), e - 0.1 * (e - w), n - 0.1 * (n - so)];
    expect(await refusal(inner)).toMatch(/^the area is [\d.]+ km², over the 0\.1 km² limit \(SATSEG_MAX_AREA_KM2\); draw a smaller area$/);
  });

  it('is refused by the size of its part over the dataset when it reaches beyond it', async () => {
    const detail = await refusal([-100, 46, -99, 47.5]);
    const km2 = Number(/part over the dataset is ([\d.]+) km²/.exec(detail)?.[1]);
    // The scene's own area, give or take the corners of its lon/lat box; not the 12,600 km² sent.
    const [w, so, e, n] = bounds;
    const sceneKm2 = (e - w) * 111.32 * Math.cos((((so + n) / 2) * Math.PI) / 180) * (n - so) * 110.57;
    expect(km2).toBeGreaterThan(sceneKm2 * 0.95);
    expect(km2).toBeLessThan(sceneKm2 * 1.1);
  });
});

function triangle(): GeoJSON.Polygon {
  const [w, so, e, n] = bounds;
  const dx = e - w;
  const dy = n - so;
  return { type: 'Polygon', coordinates: [[[w + 0.2 * dx, so + 0.2 * dy], [w + 0.7 * dx, so + 0.3 * dy], [w + 0.4 * dx, so + 0.8 * dy], [w + 0.2 * dx, so + 0.2 * dy]]] };
}

describe('a full job', () => {
  it('runs, reports progress over SSE to 100 %, and its mask is nodata outside the polygon', async () => {
    const area = triangle();
    const { status, body } = await post({ dataset: datasetId, model: 'test-rgb', area, options: { tile: 128, overlap: 16, batch: 2, device: 'cpu', vector: true } });
    expect(status).toBe(202);
    expect(body.status_url).toBe(`http://satseg.test/jobs/${body.id}`);
    const events = await watch(body.id);
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data.progress.percent);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const last = events[events.length - 1]!;
    expect(last.event).toBe('status');
    expect(last.data.status).toBe('succeeded');
    expect(last.data.progress.percent).toBe(100);
    expect(last.data.timings.run_seconds).toBeGreaterThan(0);

    const job = await (await s.get(`/jobs/${body.id}`)).json();
    expect(job.results.mask).toMatch(/\/results\/[a-z0-9]+\/mask\.tif$/);
    // The result's summary names files, never the server's paths, nor its memory.
    const result = await (await s.get(job.results.result)).json();
    const summary = JSON.stringify(result.summary);
    expect(summary).not.toContain(s.ctx.dataDir);
    expect(summary).not.toMatch(/"\/|peakRssMb/);
    expect(result.summary).toMatchObject({ output: 'mask.tif' });
    const stats = await (await s.get(job.results.stats)).json();
    expect(stats.area_method).toBe('projected');
    const total = stats.classes.reduce((a: number, c: any) => a + c.area_m2, 0);
    expect(total).toBeCloseTo(stats.classified_area_m2, 3);
    // The classified area is the polygon's, within the pixel staircase along its edge.
    expect(stats.classified_area_m2 / turf.area(area)).toBeGreaterThan(0.97);
    expect(stats.classified_area_m2 / turf.area(area)).toBeLessThan(1.03);
    expect(stats.classes.reduce((a: number, c: any) => a + c.share, 0)).toBeCloseTo(1, 6);

    // Inside/outside against turf's point-in-polygon, at every 3rd pixel centre.
    const mask = await openRaster(s.ctx.results.file(s.ctx.results.get(job.results.result.split('/').pop()), 'mask'));
    const m = await mask.read({ x: 0, y: 0, width: mask.info.width, height: mask.info.height });
    const toWgs = converter(transformableProj4(mask.info.crs), WGS84);
    let wrong = 0;
    let inside = 0;
    for (let y = 1; y < mask.info.height; y += 3) {
      for (let x = 1; x < mask.info.width; x += 3) {
        const [cx, cy] = pixelToCrs(mask.info.geoTransform, x + 0.5, y + 0.5);
        const ll = toWgs.forward([cx, cy]);
        const isInside = turf.booleanPointInPolygon(ll, area);
        const isNodata = m.bands[0]![y * mask.info.width + x] === 255;
        if (isInside) inside++;
        if (isInside === isNodata) wrong++;
      }
    }
    await mask.close();
    expect(inside).toBeGreaterThan(500);
    expect(wrong / inside).toBeLessThan(0.005); // pixels whose centre is within float noise of the edge
    // The result is registered and draws tiles; its polygons were written by the job.
    const tj = await (await s.get(job.results.tilejson)).json();
    expect(tj.tilejson).toBe('3.0.0');
    const stages = events.filter((e) => e.event === 'progress').map((e) => e.data.progress.stage);
    expect(stages).toContain('vectorizing');
    expect(fs.existsSync(path.join(s.ctx.dataDir, 'results', job.results.result.split('/').pop(), 'features.geojson'))).toBe(true);
    const fc = await (await s.get(job.results.geojson)).json();
    const polygonArea = fc.features.reduce((a: number, f: any) => a + f.properties.area_m2, 0);
    expect(polygonArea / stats.classified_area_m2).toBeGreaterThan(0.95);
  });
});

describe('a dataset much finer than the model', () => {
  it('is segmented on its block averages: the mask, its area and its statistics on that grid', async () => {
    const drone = s.datasetId('drone.tif');
    const toWgs = converter(transformableProj4(crsFromEpsg(32633)), WGS84);
    // A square 100 m x 60 m inside the 200 m x 150 m scene.
    const ring = [[400050, 4999900], [400150, 4999900], [400150, 4999960], [400050, 4999960], [400050, 4999900]].map((p) => toWgs.forward(p as [number, number]));
    const area = { type: 'Polygon', coordinates: [ring] };
    const { status, body } = await post({ dataset: drone, model: 'test-rgb', area, options: { device: 'cpu' } });
    expect(status).toBe(202);
    const job = await waitFor(body.id, (j) => j.status === 'succeeded' || j.status === 'failed');
    expect(job.status).toBe('succeeded');
    expect(job.notices).toContainEqual(expect.stringMatching(/^the scene's 25\.0 cm pixels are 20x finer than model test-rgb's 5\.00 m: it is segmented averaged in 10 x 10 blocks, as gdalwarp -r average would, so the mask has 2\.50 m pixels \(80 x 60\)$/));
    const result = await (await s.get(job.results.result)).json();
    expect(result.summary.coarsened).toEqual({ x: 10, y: 10 });

    const mask = await openRaster(s.ctx.results.file(s.ctx.results.get(job.results.result.split('/').pop()), 'mask'));
    try {
      // The area's window of the 2.5 m grid (on the lattice of the scene's blocks): its 40 x 24
      // pixels inside are classified, the rest nodata.
      const gt = mask.info.geoTransform;
      expect([gt[1], gt[2], gt[4], gt[5]]).toEqual([2.5, 0, 0, -2.5]);
      expect([(gt[0] - 400000) / 2.5, (5000000 - gt[3]) / 2.5].map((v) => Math.abs(v - Math.round(v)))).toEqual([0, 0]);
      const ids = (await mask.read({ x: 0, y: 0, width: mask.info.width, height: mask.info.height })).bands[0]!;
      expect(ids.filter((v) => v !== 255).length).toBe(40 * 24);
      // Its speed counts the scene's pixels: each of the window's stands for 10 x 10.
      expect(result.summary.mpxPerSec * result.summary.seconds).toBeCloseTo(mask.info.width * mask.info.height * 100 / 1e6, 4);
    } finally {
      await mask.close();
    }
    const stats = await (await s.get(job.results.stats)).json();
    expect(stats.classified_area_m2).toBeCloseTo(100 * 60, 0);
  });
});

describe('notices', () => {
  it('records what the run said (here: resampling to a 1 m model) in the job, and keeps it', async () => {
    const models = path.join(s.dir, 'models-installed');
    installTestModel(models, 'test-rgb-1m', { metadata: { resolution: '100' } });
    try {
      const [w, so, e, n] = bounds;
      const bbox = [w + 0.4 * (e - w), so + 0.4 * (n - so), w + 0.5 * (e - w), so + 0.5 * (n - so)];
      // A 5 m scene is too coarse for a 1 m model: refused with both resolutions, unless asked.
      const refused = await post({ dataset: datasetId, model: 'test-rgb-1m', bbox, options: { device: 'cpu' } });
      expect(refused.status).toBe(400);
      expect(refused.body.detail).toMatch(/does not suit this dataset: .*5\.0 m is 5\.0x coarser than test-rgb-1m's 1\.0 m/);
      const { body } = await post({ dataset: datasetId, model: 'test-rgb-1m', bbox, options: { device: 'cpu', allow_unsuitable: true } });
      const job = await waitFor(body.id, (j) => j.status === 'succeeded' || j.status === 'failed');
      expect(job.status).toBe('succeeded');
      // (A scene without colour interpretation also hears that its bands were taken by position.)
      const said = job.notices.filter((n: string) => !/^nothing in the scene names its bands: first 3 bands/.test(n));
      expect(said).toHaveLength(2);
      expect(said[0]).toMatch(/does not suit this dataset .*run anyway as asked/);
      expect(said[1]).toMatch(/differs from model test-rgb-1m's 1\.00 m by 5\.0x; resampling tiles .*upsampling adds no detail/);
      // Stored with the record, not only sent once.
      expect((await s.ctx.jobs.get(body.id)).notices).toEqual(job.notices);
    } finally {
      fs.rmSync(path.join(models, 'test-rgb-1m'), { recursive: true, force: true });
    }
  });
});

describe('cancelling', () => {
  it('echoes its options in the words a request uses, so they can be sent back as they are', async () => {
    const options = { tile: 32, overlap: 4, batch: 1, device: 'cpu', band_offset: -1000, min_area_m2: 5, simplify_px: 1, allow_unsuitable: false };
    const first = await post({ dataset: datasetId, model: 'test-rgb', options });
    expect(first.status).toBe(202);
    const echoed = (await (await s.get(`/jobs/${first.body.id}`)).json()).options;
    // As sent, with `vector` (default false) said.
    expect(echoed).toEqual({ ...options, vector: false });
    const again = await post({ dataset: datasetId, model: 'test-rgb', options: echoed });
    expect(again.status).toBe(202);
    expect((await (await s.get(`/jobs/${again.body.id}`)).json()).options).toEqual(echoed);
    for (const id of [first.body.id, again.body.id]) await s.get(`/jobs/${id}`, { method: 'DELETE' });
    const far = await post({ dataset: datasetId, model: 'test-rgb', options: { band_offset: 1e7 } });
    expect(far.status).toBe(400);
    expect(far.body.detail).toMatch(/band_offset/);
  });

  it('stops a running job within a batch and removes its outputs', async () => {
    const { body } = await post({ dataset: datasetId, model: 'test-rgb', options: { tile: 32, overlap: 4, batch: 1, device: 'cpu' } });
    await waitFor(body.id, (j) => j.status === 'running' && j.progress.tiles_done > 0);
    // Its dataset cannot be deleted from under it (the job ran on, to fail at its end).
    const inUse = await s.get(`/datasets/${datasetId}`, { method: 'DELETE' });
    expect(inUse.status).toBe(409);
    expect(await inUse.json()).toEqual({ error: 'conflict', detail: `dataset "${datasetId}" is used by job ${body.id} (running): cancel it (a DELETE of the job) or let it finish, then delete the dataset` });
    expect((await s.get(`/datasets/${datasetId}`)).status).toBe(200);
    const res = await s.get(`/jobs/${body.id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    const job = await res.json();
    expect(job.status).toBe('cancelled');
    expect(job.results).toBeNull();
    expect(job.progress.tiles_done).toBeLessThan(job.progress.tiles_total);
    expect(fs.existsSync(path.join(s.ctx.dataDir, 'results', body.id))).toBe(false);
    expect((await s.get(`/results/${body.id}`)).status).toBe(404);
    // Cancelling again is harmless.
    expect((await (await s.get(`/jobs/${body.id}`, { method: 'DELETE' })).json()).status).toBe('cancelled');
  });
});

describe('every bad request is a 400 with the reason', () => {
  const far: GeoJSON.Polygon = { type: 'Polygon', coordinates: [[[10, 10], [10.01, 10], [10.01, 10.01], [10, 10]]] };
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['not JSON', () => '{nope', /request body is not valid JSON/],
    ['an unknown dataset', () => ({ dataset: 'zzzzzzzzzzzz', model: 'test-rgb' }), /unknown dataset "zzzzzzzzzzzz"/],
    ['an unknown model', () => ({ dataset: datasetId, model: 'nope' }), /unknown model "nope"; installed: test-rgb/],
    ['an area that does not intersect', () => ({ dataset: datasetId, model: 'test-rgb', area: far }), /the area does not intersect the dataset/],
    ['a malformed bbox', () => ({ dataset: datasetId, model: 'test-rgb', bbox: [1, 2, 3] }), /bbox must be \[west, south, east, north\]/],
    ['an open ring', () => ({ dataset: datasetId, model: 'test-rgb', area: { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1]]] } }), /ring is not closed/],
    ['a point', () => ({ dataset: datasetId, model: 'test-rgb', area: { type: 'Point', coordinates: [0, 0] } }), /area must be a GeoJSON Polygon or MultiPolygon/],
    ['bands that do not fit the model', () => ({ dataset: datasetId, model: 'test-rgb', options: { bands: [1, 2] } }), /model test-rgb needs 3 bands \(red, green, blue\); 2 bands were given/],
    ['an unknown option', () => ({ dataset: datasetId, model: 'test-rgb', options: { speed: 'fast' } }), /invalid request body: options: Unrecognized key/],
    ['a self-intersecting ring that cannot be repaired', () => {
      const [w, so] = bounds;
      const a = [w + 0.001, so + 0.001];
      const b = [w + 0.002, so + 0.002];
      const c = [w + 0.003, so + 0.003];
      return { dataset: datasetId, model: 'test-rgb', area: { type: 'Polygon', coordinates: [[a, b, c, b, a]] } };
    }, /self-intersecting ring that cannot be repaired/],
    ['an overlap too large for the tile', () => ({ dataset: datasetId, model: 'test-rgb', options: { tile: 64, overlap: 40 } }), /overlap \(40 px\) must be less than half the tile size/],
    ['a sliver thinner than a pixel (it ran, to an empty mask)', () => {
      const [w, so, e, n] = bounds;
      const [x, y] = [(w + e) / 2, (so + n) / 2];
      return { dataset: datasetId, model: 'test-rgb', area: { type: 'Polygon', coordinates: [[[x, y], [x + 0.001, y + 1e-9], [x + 0.002, y], [x, y]]] } };
    }, /the area holds no pixel centre of the dataset \(it is thinner than a pixel there\)/],
  ];
  for (const [what, body, reason] of cases) {
    it(what, async () => {
      const r = await post(body());
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('bad request');
      expect(r.body.detail).toMatch(reason);
    });
  }

  it('measures an area against SATSEG_MAX_AREA_KM2 by its part over the dataset', async () => {
    // 1° x 1.5° (about 12,600 km², over the 50 km² limit) around a scene of a few km²: the work is
    // the scene, so the job runs.
    const r = await post({ dataset: datasetId, model: 'test-rgb', bbox: [-100, 46, -99, 47.5], options: { device: 'cpu' } });
    expect(r.status).toBe(202);
    const done = await waitFor(r.body.id, (j) => j.status !== 'queued' && j.status !== 'running');
    expect(done.status).toBe('succeeded');
  });

  it('repairs a self-intersecting (bow-tie) ring instead of rejecting it', async () => {
    const [w, so, e, n] = bounds;
    const cx = (w + e) / 2;
    const cy = (so + n) / 2;
    const d = (e - w) / 10;
    const bowtie = { type: 'Polygon', coordinates: [[[cx - d, cy - d], [cx + d, cy + d], [cx + d, cy - d], [cx - d, cy + d], [cx - d, cy - d]]] };
    const r = await post({ dataset: datasetId, model: 'test-rgb', area: bowtie, options: { device: 'cpu' } });
    expect(r.status).toBe(202);
    expect(r.body.job.area.type).toBe('MultiPolygon');
    const done = await waitFor(r.body.id, (j) => j.status !== 'queued' && j.status !== 'running');
    expect(done.status).toBe('succeeded');
  });
});

describe('the job list', () => {
  it('comes a page at a time, newest first, with the total and a link to the next page', async () => {
    for (let i = 0; i < 3; i++) expect((await post({ dataset: datasetId, model: 'test-rgb', options: { device: 'cpu' } })).status).toBe(202);
    const all = (await (await s.get('/jobs')).json()) as { jobs: Array<{ id: string; created_at: string }>; total: number; next: string | null };
    expect(all.total).toBeGreaterThanOrEqual(3);
    expect(all.jobs).toHaveLength(Math.min(all.total, 100));
    const seen: string[] = [];
    let url: string | null = '/jobs?limit=2';
    while (url) {
      const page = (await (await s.get(url.replace(/^https?:\/\/[^/]+/, ''))).json()) as typeof all;
      expect(page.jobs.length).toBeLessThanOrEqual(2);
      expect(page.total).toBe(all.total);
      seen.push(...page.jobs.map((j) => j.id));
      url = page.next;
    }
    expect(seen).toEqual(all.jobs.map((j) => j.id));
    const times = all.jobs.map((j) => Date.parse(j.created_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('refuses a page size out of range', async () => {
    for (const [query, reason] of [['limit=0', /limit must be at least 1/], ['limit=501', /limit must be at most 500/], ['offset=-1', /offset must be a whole number/]] as const) {
      const res = await s.get(`/jobs?${query}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { detail: string }).detail).toMatch(reason);
    }
  });
});

describe('a job\'s error and notices', () => {
  it('name files, never the server\'s paths (a worker\'s ENOENT quoted a temporary file in full)', async () => {
    const { describeJob } = await import('../../server/src/serve/routes/job-routes.ts');
    const job = {
      id: 'abcdefgh', datasetId: 'd1', beforeId: null, modelId: 'test-rgb', area: null, options: {}, status: 'failed', progress: { tilesDone: 0, tilesTotal: 0, percent: 0, mpxPerSec: 0, etaSeconds: null, stage: 'failed' },
      createdAt: '2026-01-01T00:00:00Z', startedAt: null, finishedAt: null, resultId: null, worker: null, extraResults: null,
    } as const;
    const shown = describeJob({ ...job, error: "job worker crashed: ENOENT: no such file or directory, open '/srv/satseg/data/results/abc/.mask.tif.satseg-tmp-1/cog.tif'", notices: ['read /srv/satseg/data/scene.tif slowly'] }, 'http://x');
    expect(shown.error).toBe("job worker crashed: ENOENT: no such file or directory, open 'cog.tif'");
    expect(shown.notices).toEqual(['read scene.tif slowly']);
  });
});

describe('job event streams', () => {
  it('are refused past SATSEG_MAX_EVENT_STREAMS at once (429 naming the limit), and each frees its place when it ends', async () => {
    // The counter itself: streams need no key, so without it they alone could take every connection.
    const limits = new Limits(limitsFromEnv({ maxEventStreams: 2 }));
    const a = limits.admitEventStream();
    const b = limits.admitEventStream();
    expect(() => limits.admitEventStream()).toThrow(/^2 job event streams are open, the most at once \(SATSEG_MAX_EVENT_STREAMS is 2\); close one, or poll GET \/jobs\/\{id\} instead$/);
    a.end();
    a.end(); // twice (the stream's end and its client leaving) frees one place
    const c = limits.admitEventStream();
    expect(() => limits.admitEventStream()).toThrow(/SATSEG_MAX_EVENT_STREAMS/);
    b.end();
    c.end();
    // The route: with no place at all, a job's stream is a 429 with a JSON body.
    const full = createTestServer({ 'scene.tif': sceneWriter }, { limits: { maxEventStreams: 0 } });
    try {
      const [w, so, e, n] = bounds;
      const job = await full.get('/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dataset: full.datasetId('scene.tif'), model: 'test-rgb', bbox: [w, so, w + 0.2 * (e - w), so + 0.2 * (n - so)] }) });
      expect(job.status).toBe(202);
      const res = await full.get(`/jobs/${((await job.json()) as { id: string }).id}/events`);
      expect(res.status).toBe(429);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/SATSEG_MAX_EVENT_STREAMS is 0/);
    } finally {
      await full.close();
    }
  });
});

describe('API key', () => {
  it('guards POST and DELETE when SATSEG_API_KEY is set, and leaves GETs open', async () => {
    const guarded = createTestServer({ 'scene.tif': sceneWriter }, { apiKey: 'sekrit' });
    try {
      const id = guarded.datasetId('scene.tif');
      const body = JSON.stringify({ dataset: id, model: 'test-rgb', bbox: [0, 0, 1, 1] });
      const noKey = await guarded.get('/jobs', { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
      expect(noKey.status).toBe(401);
      expect((await noKey.json()).detail).toMatch(/needs an API key/);
      const wrong = await guarded.get('/jobs', { method: 'POST', body, headers: { 'Content-Type': 'application/json', Authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      const ok = await guarded.get('/jobs', { method: 'POST', body, headers: { 'Content-Type': 'application/json', Authorization: 'Bearer sekrit' } });
      expect(ok.status).toBe(400); // past the guard: the bbox is elsewhere on Earth
      expect((await guarded.get(`/datasets/${id}`, { method: 'DELETE' })).status).toBe(401);
      // Refused before the body is read: a body that is not JSON still gets 401, not 400 (a
      // client without the key had 500 MB parsed before its 401), and so does every change.
      for (const type of ['application/json', 'application/vnd.a+json']) {
        expect((await guarded.get('/jobs', { method: 'POST', body: '{not json', headers: { 'Content-Type': type } })).status).toBe(401);
      }
      expect((await guarded.get('/datasets', { method: 'POST', body: 'II*\0', headers: { 'Content-Type': 'image/tiff' } })).status).toBe(401);
      expect((await guarded.get('/jobs/abcdefgh', { method: 'DELETE' })).status).toBe(401);
      expect((await guarded.get('/results/abcdefgh/mask.tif', { method: 'PUT', body: 'x', headers: { 'Content-Type': 'application/octet-stream' } })).status).toBe(401);
      expect((await guarded.get('/jobs')).status).toBe(200);
      expect((await guarded.get('/datasets')).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});
