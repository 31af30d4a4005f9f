/**
 * The checks on a result file a remote worker uploads (jobs/result-upload.ts), without Redis: a
 * mask made by the embedded mode for a job passes against what the server expects of that job,
 * and every way a file can be wrong (size, placement, CRS, classes, ids beyond them, not a COG, cut
 * short, not JSON, colours that are not hex) is refused with the reason. Then placing: the file
 * lands in the result's folder, the temp file goes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkJson, checkMask, expectedMask, placeResultFile, roleOf, type ExpectedMask } from '../../server/src/jobs/result-upload.ts';
import type { JobRecord } from '../../server/src/jobs/job-types.ts';
import { ResultUploadError } from '../../server/src/errors.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { geoKeysOf } from '../../server/src/write/class-mask.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';

let s: TestServer;
let job: JobRecord;
let whole: JobRecord;
let mask: string;
let want: ExpectedMask;

async function runJob(body: Record<string, unknown>): Promise<JobRecord> {
  const res = await s.get('/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const { id } = await res.json();
  for (;;) {
    const record = await s.ctx.jobs.get(id);
    if (record.status === 'succeeded') return record;
    if (record.status === 'failed' || record.status === 'cancelled') throw new Error(`job ${record.status}: ${record.error}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ResultUploadError);
  expect((err as ResultUploadError).code).toBe('invalid');
  return (err as Error).message;
}

beforeAll(async () => {
  s = createTestServer({ 'scene.tif': (f) => writeTestTiff(f, { width: 700, height: 600, bands: syntheticScene(700, 600), geoTransform: [400000, 5, 0, 5000000, 0, -5] }) }, { jobThreads: 1 });
  const dataset = s.datasetId('scene.tif');
  const [w, so, e, n] = (await (await s.get(`/datasets/${dataset}`)).json()).bounds as [number, number, number, number];
  job = await runJob({ dataset, model: 'test-rgb', bbox: [w + 0.1 * (e - w), so + 0.2 * (n - so), w + 0.8 * (e - w), so + 0.9 * (n - so)], options: { device: 'cpu' } });
  whole = await runJob({ dataset, model: 'test-rgb', options: { device: 'cpu' } });
  mask = s.ctx.results.file(s.ctx.results.get(job.id), 'mask');
  want = await expectedMask(s.ctx, job, 'segment');
});
afterAll(async () => { await s?.close(); });

describe('checkMask', () => {
  it('passes the mask the embedded mode wrote for the same job, on the grid the server works out', async () => {
    expect(roleOf(job, job.id)).toBe('segment');
    expect(roleOf(job, 'someotherid')).toBeNull();
    expect(want.exact).toBe(true);
    expect(want.classes).toEqual(['water', 'vegetation', 'bare', 'built']);
    expect(want.width).toBeLessThan(700);
    expect(want.height).toBeLessThan(600);
    await expect(checkMask(mask, want)).resolves.toBeUndefined();
  });

  it('refuses a mask of another size, another place, other classes or pixel size', async () => {
    const other = s.ctx.results.file(s.ctx.results.get(whole.id), 'mask');
    expect(await refusal(checkMask(other, want))).toMatch(new RegExp(`is 700 x 600 px; the job's area is ${want.width} x ${want.height} px`));
    const shifted = { ...want, geoTransform: [want.geoTransform[0] + 5, ...want.geoTransform.slice(1)] as ExpectedMask['geoTransform'] };
    expect(await refusal(checkMask(mask, shifted))).toMatch(/is placed at \(.*\), not at the job's/);
    expect(await refusal(checkMask(mask, { ...want, classes: ['water', 'land'] }))).toMatch(/lists the classes \["water","vegetation","bare","built"\], not the model's \["water","land"\]/);
    const coarse = { ...want, geoTransform: [want.geoTransform[0], 10, 0, want.geoTransform[3], 0, -10] as ExpectedMask['geoTransform'] };
    expect(await refusal(checkMask(mask, coarse))).toMatch(/has pixels of 5 x -5, not the job's 10 x -10/);
    expect(await refusal(checkMask(mask, { ...want, transitions: ['water → water'] }))).toMatch(/lacks the transitions of a change mask/);
    // The same grid numbers in another CRS (a mask relabelled in EPSG:4326 was registered, and
    // could not be placed on a map).
    expect(await refusal(checkMask(mask, { ...want, crs: crsFromEpsg(4326) }))).toMatch(/is in EPSG:\d+, not the job's EPSG:4326$/);
  });

  it('refuses a mask holding ids beyond the model\'s classes (in the blocks it decodes)', async () => {
    const { width, height } = want;
    const forged = path.join(s.dir, 'forged.tif');
    const writer = await CogWriter.create(forged, {
      width, height, geoTransform: want.geoTransform, geoKeys: geoKeysOf(want.crs), nodata: 255, overviewResampling: 'mode',
      metadata: { CLASS_NAMES: JSON.stringify(want.classes) },
    });
    // Class ids 0..3 everywhere but a corner of the last block: 232.
    const rows = Uint8Array.from({ length: width * height }, (_, i) => (i % width) % 4);
    rows.fill(232, (height - 1) * width + width - 5, height * width);
    await writer.writeRows(rows, height);
    await writer.finish();
    expect(await refusal(checkMask(forged, want))).toBe('the uploaded mask.tif holds the value 232, beyond the 4 classes of the job\'s model');
  });

  it('takes a change mask anywhere within the grid on whole pixels, and refuses one that sticks out', async () => {
    const larger = { ...want, exact: false, width: want.width + 10, height: want.height + 10, geoTransform: [want.geoTransform[0] - 25, 5, 0, want.geoTransform[3] + 15, 0, -5] as ExpectedMask['geoTransform'] };
    await expect(checkMask(mask, larger)).resolves.toBeUndefined();
    const tooSmall = { ...larger, width: want.width + 2 };
    expect(await refusal(checkMask(mask, tooSmall))).toMatch(/does not lie within the job's/);
    const offGrid = { ...larger, geoTransform: [want.geoTransform[0] - 22.5, 5, 0, want.geoTransform[3] + 15, 0, -5] as ExpectedMask['geoTransform'] };
    expect(await refusal(checkMask(mask, offGrid))).toMatch(/does not lie within the job's/);
  });

  it('refuses what is not a class-mask COG: not a TIFF, several bands, strips, a file cut short', async () => {
    const dir = path.join(s.dir, 'bad');
    fs.mkdirSync(dir);
    const file = (name: string) => path.join(dir, name);
    fs.writeFileSync(file('text.tif'), 'hello');
    expect(await refusal(checkMask(file('text.tif'), want))).toMatch(/is not a readable GeoTIFF/);
    const { width, height } = want;
    writeTestTiff(file('rgb.tif'), { width, height, bands: syntheticScene(width, height) });
    expect(await refusal(checkMask(file('rgb.tif'), want))).toMatch(/must be one uint8 band with nodata 255 \(got 3 uint8 band/);
    writeTestTiff(file('strips.tif'), { width, height, bands: [new Uint8Array(width * height)], nodata: 255, geoTransform: want.geoTransform });
    expect(await refusal(checkMask(file('strips.tif'), want))).toMatch(/is not a Cloud-Optimized GeoTIFF/);
    const bytes = fs.readFileSync(mask);
    fs.writeFileSync(file('cut.tif'), bytes.subarray(0, Math.floor(bytes.length * 0.8)));
    expect(await refusal(checkMask(file('cut.tif'), want))).toMatch(/cannot be decoded|is not a readable GeoTIFF/);
  });
});

describe('checkJson and placeResultFile', () => {
  it('wants stats.json to be a JSON object and features.geojson a FeatureCollection', async () => {
    const file = path.join(s.dir, 'x.json');
    const write = (text: string) => { fs.writeFileSync(file, text); return file; };
    await expect(checkJson(write('{"classes": []}'), 'stats.json')).resolves.toBeUndefined();
    expect(await refusal(checkJson(write('{"classes": ['), 'stats.json'))).toMatch(/stats\.json is not JSON/);
    expect(await refusal(checkJson(write('[1, 2]'), 'stats.json'))).toMatch(/not a JSON object/);
    await expect(checkJson(write('{"classes": [{"name": "water", "color": "#1F78B4"}, {"name": "x", "color": null}]}'), 'stats.json')).resolves.toBeUndefined();
    expect(await refusal(checkJson(write('{"classes": [{"name": "water", "color": "red;background-image:url(http://127.0.0.1:9/leak)"}]}'), 'stats.json')))
      .toMatch(/^the uploaded stats\.json has the colour "red;background-image:url\(http:\/\/127\.0\.0\.1:9\/leak\)", not a hex colour/);
    await expect(checkJson(write(' {"type":"FeatureCollection","features":[\n]}'), 'features.geojson')).resolves.toBeUndefined();
    expect(await refusal(checkJson(write('{"type":"Feature"}'), 'features.geojson'))).toMatch(/not a GeoJSON FeatureCollection/);
  });

  it('moves a good file into the result\'s folder and removes the temp file either way', async () => {
    // A job that has not run: its folder is empty until the worker's files arrive.
    const pending: JobRecord = { ...job, id: 'pendingjob01', status: 'running', resultId: null };
    const temp = path.join(s.dir, 'upload.tmp');
    // Its folder, as placing the job made it; without one (the job ended and its folder went) the
    // file is refused, not given a folder of its own again.
    fs.writeFileSync(temp, '{}');
    await expect(placeResultFile(s.ctx, pending, pending.id, 'stats.json', temp)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(fs.existsSync(s.ctx.results.dirOf(pending.id))).toBe(false);
    expect(fs.existsSync(temp)).toBe(false);
    s.ctx.results.allocate(pending.id);
    fs.copyFileSync(mask, temp);
    await placeResultFile(s.ctx, pending, pending.id, 'mask.tif', temp);
    expect(fs.readFileSync(path.join(s.ctx.results.dirOf(pending.id), 'mask.tif')).equals(fs.readFileSync(mask))).toBe(true);
    expect(fs.existsSync(temp)).toBe(false);
    fs.writeFileSync(temp, 'not json');
    await expect(placeResultFile(s.ctx, pending, pending.id, 'stats.json', temp)).rejects.toThrow(/stats\.json is not JSON/);
    expect(fs.existsSync(temp)).toBe(false);
    expect(fs.existsSync(path.join(s.ctx.results.dirOf(pending.id), 'stats.json'))).toBe(false);
    fs.writeFileSync(temp, '{}');
    await expect(placeResultFile(s.ctx, pending, 'notthisjob01', 'stats.json', temp)).rejects.toThrow(/does not produce result notthisjob01/);
    expect(fs.existsSync(temp)).toBe(false);
  });
});
