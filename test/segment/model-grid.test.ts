/**
 * The grid a model segments a scene on (model-grid.ts), and prepareJob placing a job there: the
 * window, the area's mask and the pixel limit of a scene much finer than the model.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { coarsening, coarseningNotice, MAX_COARSENING, onModelGrid } from '../../server/src/segment/model-grid.ts';
import { prepareJob } from '../../server/src/segment/prepare-job.ts';
import { modelFit } from '../../server/src/segment/model-fit.ts';
import { RasterReader } from '../../server/src/read/raster-reader.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';
import { converter, transformableProj4, WGS84 } from '../../server/src/read/crs-transform.ts';
import type { GeoTransform, RasterInfo } from '../../server/src/read/raster.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { repoRoot } from '../helpers/shared-data.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-model-grid-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const registry = new ModelRegistry(path.join(repoRoot, 'models'));
const aerial = registry.get('aerial-landcover'); // 1 m
const spectral = registry.get('spectral-water'); // per pixel, no resolution

function info(gt: GeoTransform, epsg = 32640, size = 10_000): RasterInfo {
  return {
    width: size, height: size, bandCount: 3, dtype: 'uint8', nodata: null, geoTransform: gt, crs: crsFromEpsg(epsg),
    bands: [1, 2, 3].map((index) => ({ index, description: null, colorInterp: 'undefined' as const })),
    overviews: [], maskKind: 'none', colorMap: null, metadata: {}, blockWidth: 256, blockHeight: 256, compression: 'none',
  };
}
const utm = (metres: number) => info([300000, metres, 0, 2780000, 0, -metres]);

describe('coarsening', () => {
  it('averages scenes at least 4x finer than the model, into pixels at most half the model\'s', () => {
    expect(coarsening(aerial, utm(0.3))).toBeNull(); // 3.3x finer: tiles are resampled as before
    expect(coarsening(aerial, utm(0.25))).toEqual({ x: 2, y: 2 });
    expect(coarsening(aerial, utm(0.03))).toEqual({ x: 16, y: 16 });
    // A model without a resolution works on any pixels.
    expect(coarsening(spectral, utm(0.03))).toBeNull();
  });

  it('measures each axis on the ground: lon/lat pixels at 60° N are half as wide as tall', () => {
    const deg = 0.05 / 111_000; // about 5 cm of latitude
    const c = coarsening(aerial, info([55, deg, 0, 60, 0, -deg], 4326))!;
    // The fit says so too, stretched pixels or not; and a scene of 3 x 3 such pixels is too small.
    expect(modelFit(aerial, info([55, deg, 0, 60, 0, -deg], 4326)).reason).toMatch(/it is averaged in \d+ x \d+ blocks, the mask is on that grid, and each axis of the tiles is resampled/);
    expect(modelFit(aerial, info([55, deg, 0, 60, 0, -deg], 4326, 3))).toMatchObject({ fit: 'unsuitable', reason: expect.stringMatching(/too small for the model to see/) });
    // About 5.0 cm tall and 2.5 cm wide: blocks of about 10 down and 20 across.
    expect(c.y).toBeGreaterThanOrEqual(9);
    expect(c.y).toBeLessThanOrEqual(10);
    expect(Math.abs(c.x - 2 * c.y)).toBeLessThanOrEqual(1);
  });

  it('caps a block at MAX_COARSENING pixels a side (a georeference of nanometre pixels)', () => {
    expect(coarsening(aerial, utm(1e-9))).toEqual({ x: MAX_COARSENING, y: MAX_COARSENING });
    // Never more than the scene has.
    expect(coarsening(aerial, info([300000, 0.01, 0, 2780000, 0, -0.01], 32640, 30))).toEqual({ x: 30, y: 30 });
  });
});

describe('the averaged grid', () => {
  it('holds whole blocks only, and says which of the scene\'s last columns and rows it leaves out', async () => {
    // 803 x 601 pixels of 12.5 cm: 200 x 150 blocks of 4 x 4, and 3 columns and 1 row left over.
    const file = path.join(tmp, 'odd.tif');
    writeTestTiff(file, { width: 803, height: 601, bands: syntheticScene(803, 601), geoTransform: [300000, 0.125, 0, 2780000, 0, -0.125], epsg: 32640, rowsPerStrip: 64 });
    const scene = await openRaster(file);
    try {
      const grid = onModelGrid(aerial, scene);
      expect([grid.info.width, grid.info.height]).toEqual([200, 150]);
      expect(coarseningNotice(aerial, scene.info, grid)).toMatch(/\(200 x 150\); its last 3 columns and 1 row, less than a block, are left out$/);
    } finally {
      await scene.close();
    }
  });
});

describe('prepareJob on a scene much finer than the model', () => {
  // 800 x 600 pixels of 12.5 cm (100 m x 75 m): averaged 4 x 4 into 200 x 150 pixels of 50 cm.
  const file = path.join(tmp, 'drone.tif');
  const gt: GeoTransform = [300000, 0.125, 0, 2780000, 0, -0.125];
  writeTestTiff(file, { width: 800, height: 600, bands: syntheticScene(800, 600), geoTransform: gt, epsg: 32640, rowsPerStrip: 64 });
  const toWgs = converter(transformableProj4(crsFromEpsg(32640)), WGS84);
  // 40 m x 20 m, from 20 m east and 10 m south of the corner.
  const ring = [[300020, 2779990], [300060, 2779990], [300060, 2779970], [300020, 2779970], [300020, 2779990]].map((p) => toWgs.forward(p as [number, number]));
  const area = { type: 'Polygon', coordinates: [ring] };

  it('places the window and the area\'s mask on the averaged grid, and says so', async () => {
    const reader = new RasterReader(await openRaster(file));
    try {
      const p = await prepareJob(reader, aerial, { area });
      expect(p.coarsened).toEqual({ x: 4, y: 4 });
      expect([p.info.width, p.info.height]).toEqual([200, 150]);
      expect(p.info.geoTransform).toEqual([300000, 0.5, 0, 2780000, 0, -0.5]);
      const mask = p.areaMask!(0, p.window.height, p.window.width);
      expect(mask.reduce((n, v) => n + v, 0)).toBe(80 * 40);
      // Where: the pixels inside are columns 40-119 and rows 20-59 of the 0.5 m grid (20-60 m east,
      // 10-30 m south of the corner), wherever the window's margin puts them in it.
      const cols = new Set<number>();
      const rows = new Set<number>();
      mask.forEach((v, k) => { if (v) { cols.add(p.window.x + (k % p.window.width)); rows.add(p.window.y + Math.floor(k / p.window.width)); } });
      expect([Math.min(...cols), Math.max(...cols), Math.min(...rows), Math.max(...rows)]).toEqual([40, 119, 20, 59]);
      expect(p.notices[0]).toMatch(/^the scene's 12\.5 cm pixels are 8x finer than model aerial-landcover's 1\.00 m: it is segmented averaged in 4 x 4 blocks, as gdalwarp -r average would, so the mask has 50\.0 cm pixels \(200 x 150\)$/);
      expect(p.fit.reason).toMatch(/averaged in 4 x 4 blocks/);
      // The scene reader is left as it was.
      expect(reader.info.width).toBe(800);
    } finally {
      await reader.close();
    }
  });

  it('counts the scene\'s pixels against the job pixel limit, not the averaged grid\'s', async () => {
    const reader = new RasterReader(await openRaster(file));
    try {
      // 30,000 averaged pixels stand for 480,000 of the scene.
      await expect(prepareJob(reader, aerial, {}, { maxJobPixels: 400_000 })).rejects.toThrow(/the whole dataset is 0\.48 Mpx, over the 0\.4 Mpx a job may segment/);
      await expect(prepareJob(reader, aerial, {}, { maxJobPixels: 500_000 })).resolves.toMatchObject({ pixels: 30_000 });
    } finally {
      await reader.close();
    }
  });
});
