/**
 * Change jobs through the API: two dates of one place in different CRSs and resolutions, segmented
 * and compared as one job; the change result's statistics, tiles filtered by transition, and the
 * refusals (no overlap, an unsuitable scene).
 */
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';
import { watchJob } from '../helpers/job-events.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { converter, transformableProj4, WGS84 } from '../../server/src/read/crs-transform.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';
import { ChangeStatisticsDoc } from '../../server/src/serve/api-schemas.ts';

let s: TestServer;
let before: string;
let after: string;
let far: string;
let gray: string;

// Before: 5 m UTM 33N. After: the same ground in EPSG:4326 at about 6 m, another pattern (the
// "event"). Far: a scene elsewhere.
const W = 400;
const H = 300;
const utm = converter(transformableProj4(crsFromEpsg(32633)), WGS84);
const [lon0, lat1] = utm.forward([400000, 5800000]);
const [lon1, lat0] = utm.forward([400000 + W * 5, 5800000 - H * 5]);

beforeAll(() => {
  s = createTestServer({
    'before.tif': (f) => writeTestTiff(f, { width: W, height: H, bands: syntheticScene(W, H, 1), geoTransform: [400000, 5, 0, 5800000, 0, -5], epsg: 32633 }),
    'after.tif': (f) => {
      const w = Math.round((lon1! - lon0!) / 0.00009);
      const h = Math.round((lat1! - lat0!) / 0.00005);
      writeTestTiff(f, { width: w, height: h, bands: syntheticScene(w, h, 3), geoTransform: [lon0!, (lon1! - lon0!) / w, 0, lat1!, 0, -(lat1! - lat0!) / h], epsg: 4326 });
    },
    'far.tif': (f) => writeTestTiff(f, { width: 100, height: 100, bands: syntheticScene(100, 100, 2), geoTransform: [500000, 5, 0, 6500000, 0, -5], epsg: 32633 }),
    // One band of the before date: not enough for an RGB model.
    'gray.tif': (f) => writeTestTiff(f, { width: W, height: H, bands: [syntheticScene(W, H, 1)[0]!], geoTransform: [400000, 5, 0, 5800000, 0, -5], epsg: 32633 }),
  });
  before = s.datasetId('before.tif');
  after = s.datasetId('after.tif');
  far = s.datasetId('far.tif');
  gray = s.datasetId('gray.tif');
});
afterAll(async () => { await s?.close(); });

async function post(body: unknown) {
  const res = await s.get('/jobs', { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  return { status: res.status, body: await res.json() as Record<string, any> };
}

async function finished(id: string): Promise<any> {
  for (let i = 0; i < 600; i++) {
    const job = await (await s.get(`/jobs/${id}`)).json() as { status: string };
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${id} did not finish`);
}

describe('change jobs', () => {
  let job: any;
  let events: Array<{ event: string; data: any }>;
  const bbox = [lon0! + 0.2 * (lon1! - lon0!), lat0! + 0.2 * (lat1! - lat0!), lon0! + 0.8 * (lon1! - lon0!), lat0! + 0.8 * (lat1! - lat0!)];

  beforeAll(async () => {
    const { status, body } = await post({ dataset: after, before, model: 'test-rgb', bbox, options: { device: 'cpu', vector: true } });
    expect(status).toBe(202);
    expect(body.job.kind).toBe('change');
    events = await watchJob(s, body.id);
    job = await finished(body.id);
  });

  it('reports progress over all its steps: tiles of the scene at work, a percentage of the whole, the time left', () => {
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data.progress);
    const stages = progress.map((p) => p.stage).filter((st, i, all) => st !== all[i - 1]);
    expect(stages).toEqual(['segmenting before', 'segmenting after', 'comparing', 'vectorizing']);
    const percents = progress.map((p) => p.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    for (const p of progress) {
      expect(Number.isInteger(p.tiles_done), JSON.stringify(p)).toBe(true);
      expect(p.tiles_done).toBeLessThanOrEqual(p.tiles_total);
    }
    // Two scenes of the same area: the before scene's end is about half way, and vectorizing (the
    // last step) is not 100 % yet.
    const lastBefore = progress.filter((p) => p.stage === 'segmenting before').pop();
    expect(lastBefore.percent).toBeGreaterThan(40);
    expect(lastBefore.percent).toBeLessThan(50);
    expect(progress.find((p) => p.stage === 'vectorizing').percent).toBeLessThan(100);
    // The time left when the before scene is done counts the after scene, about as long again;
    // when the after scene is done, only the comparison is left.
    expect(lastBefore.tiles_done).toBe(lastBefore.tiles_total);
    expect(lastBefore.eta_seconds).toBeGreaterThan(0);
    expect(progress.filter((p) => p.stage === 'segmenting after').pop().eta_seconds).toBe(0);
    const last = events[events.length - 1]!;
    expect(last.data.status).toBe('succeeded');
    expect(last.data.progress.percent).toBe(100);
  });

  it('segments both dates and compares them in one job, with results for each', async () => {
    expect(job.status).toBe('succeeded');
    expect(job.results.change.mask).toBe(job.results.mask);
    const ids = [job.results.before.result, job.results.after.result, job.results.change.result].map((u: string) => u.split('/').pop()!);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids.slice(0, 2)) expect((await s.get(`/results/${id}`)).status).toBe(200);
    const change = await (await s.get(`/results/${ids[2]}`)).json() as any;
    expect(change.kind).toBe('change');
    expect(change.classes[1].name).toBe('water → vegetation');
  });

  it('keeps the statistics consistent: the matrix sums to the compared pixels, gained - lost = net', async () => {
    const stats = await (await s.get(job.results.change.stats)).json() as any;
    // What the OpenAPI document says a change result's stats.json is (it described only class statistics).
    expect(ChangeStatisticsDoc.strict().safeParse(stats).error?.issues ?? []).toEqual([]);
    const sum = stats.matrix.pixels.flat().reduce((a: number, b: number) => a + b, 0);
    expect(sum).toBe(stats.valid_pixels);
    expect(stats.valid_pixels).toBeGreaterThan(1000);
    for (const c of stats.per_class) expect(c.net_m2).toBeCloseTo(c.gained_m2 - c.lost_m2, 3);
    expect(stats.changed_share).toBeGreaterThan(0);
    // The change mask is on the before grid, its pixels coded from * N + to (or nodata).
    const mask = await openRaster(path.join(s.ctx.dataDir, 'results', job.results.change.result.split('/').pop(), 'mask.tif'));
    expect(mask.info.crs.epsg).toBe(32633);
    expect(Math.abs(mask.info.geoTransform[1])).toBeCloseTo(5, 6);
    // It names the two datasets compared (and each scene mask names its own).
    expect(mask.info.metadata.CHANGE_OF).toBe('before.tif|after.tif');
    await mask.close();
    for (const [role, name] of [['before', 'before.tif'], ['after', 'after.tif']] as const) {
      const scene = await openRaster(path.join(s.ctx.dataDir, 'results', job.results[role].result.split('/').pop(), 'mask.tif'));
      expect(scene.info.metadata.SOURCE, role).toBe(name);
      await scene.close();
    }
  });

  it('draws change tiles filtered by transition (?to=), and polygons with from/to', async () => {
    const tj = await (await s.get(`${job.results.change.tilejson.replace('http://satseg.test', '')}?to=water`)).json() as any;
    expect(tj.tiles[0]).toMatch(/\?to=water$/);
    const [w, so, e, n] = tj.bounds;
    const z = tj.maxzoom;
    const x = Math.floor((((w + e) / 2 + 180) / 360) * 2 ** z);
    const latr = (((so + n) / 2) * Math.PI) / 180;
    const y = Math.floor(((1 - Math.log(Math.tan(latr) + 1 / Math.cos(latr)) / Math.PI) / 2) * 2 ** z);
    const id = job.results.change.result.split('/').pop();
    const all = await s.get(`/results/${id}/tiles/${z}/${x}/${y}.png?unchanged=true`);
    const toWater = await s.get(`/results/${id}/tiles/${z}/${x}/${y}.png?to=water`);
    expect(all.status).toBe(200);
    const alpha = async (res: Response) => {
      if (res.status === 204) return 0;
      const { data, info } = await sharp(Buffer.from(await res.arrayBuffer())).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      let n = 0;
      for (let i = 3; i < data.length; i += info.channels) if (data[i]) n++;
      return n;
    };
    expect(await alpha(toWater)).toBeLessThan(await alpha(all));
    expect((await s.get(`/results/${id}/tiles/${z}/${x}/${y}.png?to=lava`)).status).toBe(400);
    // The tile route checks its query as the tilejson route does; filters that select nothing or
    // do not apply are refused, not drawn as an empty tile.
    const refused = async (url: string, reason: RegExp) => {
      const res = await s.get(url);
      expect(res.status, url).toBe(400);
      expect(((await res.json()) as { detail: string }).detail, url).toMatch(reason);
    };
    await refused(`/results/${id}/tiles/${z}/${x}/${y}.png?unchanged=maybe`, /invalid query: unchanged/);
    await refused(`/results/${id}/tiles/${z}/${x}/${y}.png?classes=,`, /classes names no class/);
    await refused(`/results/${id}/tiles/${z}/${x}/${y}.png?from=water&to=water`, /^from water to water names only unchanged pixels, which are drawn with unchanged=true$/);
    await refused(`/results/${id}/tiles/${z}/${x}/${y}.png?classes=1&to=water`, /^give classes \(transition codes or names\) or from\/to\/unchanged, not both \(got classes and to\)$/);
    expect((await s.get(`/results/${id}/tiles/${z}/${x}/${y}.png?from=water&to=water&unchanged=true`)).status).not.toBe(400);
    const sceneResult = job.results.after.result.split('/').pop();
    await refused(`/results/${sceneResult}/tiles/${z}/${x}/${y}.png?to=water`, /to filters change results; .* is a segmentation result \(use classes=\)/);
    const fc = await (await s.get(`/results/${id}/features.geojson`)).json() as any;
    expect(fc.features.length).toBeGreaterThan(0);
    for (const f of fc.features.slice(0, 20)) {
      expect(f.properties.from).not.toBe(f.properties.to);
      expect(f.properties.class).toBe(`${f.properties.from} → ${f.properties.to}`);
      expect(f.properties.area_m2).toBeGreaterThan(0);
    }
  });

  it('reuses the class masks of an earlier job with the same model, area and options', async () => {
    const again = await post({ dataset: after, before, model: 'test-rgb', bbox, options: { device: 'cpu' } });
    const second = await finished(again.body.id);
    expect(second.status).toBe('succeeded');
    expect(second.results.before.result).toBe(job.results.before.result);
    expect(second.notices.filter((t: string) => /reusing the mask/.test(t))).toHaveLength(2);
  });

  it('draws the polygons of a change job that did not ask for them on request: changes only, with from and to', async () => {
    const again = await post({ dataset: after, before, model: 'test-rgb', bbox, options: { device: 'cpu' } });
    const done = await finished(again.body.id);
    expect(done.status).toBe('succeeded');
    const id = done.results.change.result.split('/').pop();
    const fc = await (await s.get(`/results/${id}/features.geojson`)).json() as any;
    expect(fc.features.length).toBeGreaterThan(0);
    for (const f of fc.features) {
      expect(f.properties.from).not.toBe(f.properties.to);
      expect(f.properties.class).toBe(`${f.properties.from} → ${f.properties.to}`);
    }
    const tj = await (await s.get(`/results/${id}/vector/tilejson.json`)).json() as any;
    // test-rgb has 4 classes: 12 changes, no layer for the 4 unchanged transitions.
    expect(tj.vector_layers.map((l: any) => l.id)).toHaveLength(12);
    expect(tj.vector_layers.every((l: any) => !/^(\S+) → \1$/.test(l.id))).toBe(true);
    expect(Object.keys(tj.vector_layers[0].fields)).toEqual(['class', 'class_id', 'area_m2', 'from', 'to', 'from_id', 'to_id']);
    expect(tj.description).toMatch(/from, to, from_id, to_id/);
    expect((await s.get(`/results/${id}/features.fgb`)).status).toBe(200);
  });

  it('refuses a change job whose scenes do not overlap the area, or are the same dataset', async () => {
    const r = await post({ dataset: after, before: far, model: 'test-rgb', bbox, options: { device: 'cpu' } });
    expect(r.status).toBe(400);
    expect(r.body.detail).toMatch(new RegExp(`^the before dataset "${far}": .*does not intersect the dataset`));
    // Without an area: the two scenes miss each other, refused before anything is segmented.
    const apart = await post({ dataset: after, before: far, model: 'test-rgb', options: { device: 'cpu' } });
    expect(apart.status).toBe(400);
    expect(apart.body.detail).toBe(`the before dataset "${far}" and the after dataset "${after}" do not overlap`);
    const same = await post({ dataset: after, before: after, model: 'test-rgb', bbox });
    expect(same.status).toBe(400);
    expect(same.body.detail).toMatch(/same dataset/);
    const unknown = await post({ dataset: after, before: 'zzzzzzzzzzzz', model: 'test-rgb', bbox });
    expect(unknown.body.detail).toMatch(/unknown before dataset/);
  });

  it('names the dataset at fault, and its role, when one scene does not suit the model', async () => {
    for (const [dataset, beforeId, role] of [[after, gray, 'before'], [gray, before, 'after']] as const) {
      const r = await post({ dataset, before: beforeId, model: 'test-rgb', options: { device: 'cpu' } });
      expect(r.status, role).toBe(400);
      expect(r.body.detail, role).toMatch(new RegExp(`^the ${role} dataset "${gray}": .*band`));
    }
  });
});
