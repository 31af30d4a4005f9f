/**
 * Lon/lat rasters written past ±180 (179.9..180.1 across the antimeridian, or 0..360): tiles,
 * point values and lon/lat boxes on both sides of the line, and web bounds within ±180. The part
 * east of the line (-179.9x on a map) was blank, its points "outside the raster", and the bounds
 * were cut at 180 (a 0..360 raster's were [0, -90, 180, 90]: the viewer fitted half of it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { RasterReader } from '../../server/src/read/raster-reader.ts';
import { normalizeLonLatBox } from '../../server/src/read/georef.ts';
import { createTestServer } from '../helpers/test-server.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-antimeridian-raster-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const across = path.join(tmp, 'across.tif');
const global = path.join(tmp, 'global.tif');

/** A one-band lon/lat COG: `value(lon)` per column, one row pattern for every row. */
async function lonLatRaster(file: string, gt: [number, number, number, number, number, number], width: number, height: number, value: (lon: number) => number): Promise<void> {
  const w = await CogWriter.create(file, { width, height, geoTransform: gt, geoKeys: { epsg: 4326, geographic: true }, nodata: 0, blockSize: 64, overviewResampling: 'mode' });
  const rows = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rows[y * width + x] = value(gt[0] + (x + 0.5) * gt[1]);
  await w.writeRows(rows, height);
  await w.finish();
}

/** The XYZ tile holding a lon/lat at zoom z. */
function tileOf(lon: number, lat: number, z: number): [number, number] {
  const n = 2 ** z;
  const r = (lat * Math.PI) / 180;
  return [Math.floor(((lon + 180) / 360) * n), Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n)];
}

beforeAll(async () => {
  // 179.9..180.1 in 0.001° pixels: 10 west of the line, 200 east of it.
  await lonLatRaster(across, [179.9, 0.001, 0, -16.9, 0, -0.001], 200, 200, (lon) => (lon < 180 ? 10 : 200));
  // 0..360 in 1° pixels: the longitude's tens (a column east of 180 holds its -180..0 value's).
  await lonLatRaster(global, [0, 1, 0, 90, 0, -1], 360, 180, (lon) => 1 + Math.floor(lon / 10));
});

describe('web bounds', () => {
  it('keep a lon/lat box within ±180: moved by a turn, or the whole band across the line', () => {
    expect(normalizeLonLatBox([181, -10, 182, -9])).toEqual([-179, -10, -178, -9]);
    expect(normalizeLonLatBox([179.9, -17.1, 180.1, -16.9])).toEqual([-180, -17.1, 180, -16.9]);
    expect(normalizeLonLatBox([0, -90, 360, 90])).toEqual([-180, -90, 180, 90]);
    expect(normalizeLonLatBox([10, 20, 30, 40])).toEqual([10, 20, 30, 40]);
  });
});

describe('a lon/lat raster across the antimeridian', () => {
  it('gives bounds within ±180 and its own middle as the centre', async () => {
    const reader = new RasterReader(await openRaster(across));
    try {
      const { bounds, center } = reader.webExtent();
      expect(bounds!.map((v) => Number(v.toFixed(9)))).toEqual([-180, -17.1, 180, -16.9]);
      expect(Math.abs(center![0])).toBeCloseTo(180, 6);
    } finally {
      await reader.close();
    }
  });

  it('draws tiles on both sides of the line, and reads points and boxes east of it', async () => {
    const reader = new RasterReader(await openRaster(across));
    try {
      const z = 12;
      for (const [lon, want] of [[179.95, 10], [-179.95, 200]] as const) {
        const [x, y] = tileOf(lon, -17, z);
        const tile = await reader.tile(z, x, y, { bands: [1], resampling: 'nearest' });
        expect(tile, `tile at ${lon}`).not.toBeNull();
        const values = new Set<number>();
        tile!.valid.forEach((v, i) => { if (v) values.add(tile!.bands[0]![i]!); });
        expect([...values]).toEqual([want]);
      }
      expect((await reader.point(-179.95, -17)).values).toEqual([200]);
      expect((await reader.point(179.95, -17)).values).toEqual([10]);
      const win = reader.windowOf([-179.99, -17.05, -179.91, -16.95]);
      expect(win.x).toBeGreaterThanOrEqual(109);
      expect(win.x + win.width).toBeLessThanOrEqual(191);
    } finally {
      await reader.close();
    }
  });

  it('draws the west of a 0..360 raster from its columns past 180', async () => {
    const reader = new RasterReader(await openRaster(global));
    try {
      expect(reader.webExtent().bounds).toEqual([-180, -90, 180, 90]);
      // -95° is the raster's 265°: value 1 + 26.
      expect((await reader.point(-95, 10)).values).toEqual([27]);
      const [x, y] = tileOf(-95, 10, 5);
      const tile = await reader.tile(5, x, y, { bands: [1], resampling: 'nearest' });
      const values = new Set<number>();
      tile!.valid.forEach((v, i) => { if (v) values.add(tile!.bands[0]![i]!); });
      expect([...values].sort((a, b) => a - b)).toEqual([26, 27]);
    } finally {
      await reader.close();
    }
  });

  it('is served: TileJSON bounds within ±180, and WMTS GetCapabilities (which wants boxes within ±180) answers with a 0..360 raster in the folder', async () => {
    const s = createTestServer({ 'across.tif': (f) => fs.copyFileSync(across, f), 'global.tif': (f) => fs.copyFileSync(global, f) });
    try {
      const tj = (await (await s.get(`/datasets/${s.datasetId('across.tif')}/tilejson.json`)).json()) as { bounds: number[] };
      expect(tj.bounds.map((v) => Number(v.toFixed(9)))).toEqual([-180, -17.1, 180, -16.9]);
      const caps = await s.get('/wmts/WMTSCapabilities.xml');
      expect(caps.status).toBe(200);
      expect(await caps.text()).toContain('global');
    } finally {
      await s.close();
    }
  });
});
