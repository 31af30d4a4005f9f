/**
 * Polygons a result makes on request follow the settings its job was sent with (min_area_m2,
 * simplify_px, kept in the result's summary), not the defaults: a job sent with min_area_m2 0
 * must not get an empty features.geojson because the default 20 m² dropped every polygon.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { ResultVectors } from '../../server/src/serve/result-vectors.ts';
import { RESULT_FILES, type ResultCatalog, type ResultRecord } from '../../server/src/catalog/result-catalog.ts';

let tmp: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-rvec-'));
  // 1 m pixels, blocks of 2 x 2 px in a checkerboard of classes 0 and 1: 100 polygons of 4 m².
  for (const id of ['asked', 'default']) {
    fs.mkdirSync(path.join(tmp, id));
    const w = await CogWriter.create(path.join(tmp, id, RESULT_FILES.mask), {
      width: 20, height: 20, geoTransform: [500000, 1, 0, 4000000, 0, -1], geoKeys: { epsg: 32618, geographic: false }, nodata: 255,
      blockSize: 16, overviewResampling: 'mode', metadata: { CLASS_NAMES: '["bare","water"]' },
    });
    const rows = new Uint8Array(400);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) rows[y * 20 + x] = ((x >> 1) + (y >> 1)) % 2;
    await w.writeRows(rows, 20);
    await w.finish();
  }
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ResultVectors reads only where a result's files are.
const catalog = { file: (r: ResultRecord, which: keyof typeof RESULT_FILES) => path.join(tmp, r.id, RESULT_FILES[which]), withFiles: (r: ResultRecord) => r } as unknown as ResultCatalog;
const record = (id: string, summary: Record<string, unknown> | null): ResultRecord => ({
  id, kind: 'segmentation', datasetId: null, modelId: 'm', dir: id, name: id, classes: ['bare', 'water'], colors: [], createdAt: '', summary,
});

describe('polygons made on request', () => {
  it('follow the min_area_m2 the job was sent with, and the defaults otherwise', async () => {
    const vectors = new ResultVectors(catalog);
    const count = async (r: ResultRecord) => (JSON.parse(fs.readFileSync(await vectors.features(r), 'utf8')) as { features: unknown[] }).features.length;
    expect(await count(record('asked', { vector_options: { min_area_m2: 0 } }))).toBe(100);
    // The default minimum area (20 m²) drops every 4 m² square.
    expect(await count(record('default', null))).toBe(0);
  });
});

describe('a result deleted while its polygons are made', () => {
  it('stops the making, and the request that asked gets a 404 naming the result', async () => {
    // A 600 x 600 checkerboard: 360,000 polygons, seconds of work in the thread.
    const id = 'deleted';
    fs.mkdirSync(path.join(tmp, id));
    const w = await CogWriter.create(path.join(tmp, id, RESULT_FILES.mask), {
      width: 600, height: 600, geoTransform: [500000, 1, 0, 4000000, 0, -1], geoKeys: { epsg: 32618, geographic: false }, nodata: 255,
      overviewResampling: 'mode', metadata: { CLASS_NAMES: '["bare","water"]' },
    });
    const rows = new Uint8Array(600 * 600);
    for (let y = 0; y < 600; y++) for (let x = 0; x < 600; x++) rows[y * 600 + x] = (x + y) % 2;
    await w.writeRows(rows, 600);
    await w.finish();
    const vectors = new ResultVectors(catalog);
    const asked = vectors.features(record(id, { vector_options: { min_area_m2: 0 } }));
    asked.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    vectors.forget(id); // as DELETE /results/{id} does, before removing the folder
    fs.rmSync(path.join(tmp, id), { recursive: true, force: true });
    await expect(asked).rejects.toMatchObject({ kind: 'not-found', message: 'result "deleted" was deleted while its polygons were being made' });
    expect(fs.existsSync(path.join(tmp, id))).toBe(false);
  });
});
