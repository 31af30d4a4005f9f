/**
 * CoarsenedSource: a raster on a grid of whole blocks of another's pixels, each the average of the
 * valid pixels under it. Against a count made here on small files written in the test, and
 * against GDAL's own average (gdalwarp -r average onto the block grid) where GDAL is installed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTestTiff } from '../fixtures/write-tiff.ts';
import { seededRandom } from '../fixtures/seeded-random.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { CoarsenedSource } from '../../server/src/read/coarsened-source.ts';
import { gdalRead, gdalSkipReason, skipWithoutGdal } from '../helpers/shared-data.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-coarsened-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const W = 13;
const H = 10;
const GT: [number, number, number, number, number, number] = [500000, 0.5, 0, 5000000, 0, -0.5];

/** Three uint8 bands with nodata 0: a few pixels nodata in every band, some in band 2 only. */
function scene(): Uint8Array[] {
  const rand = seededRandom(7);
  const bands = [0, 1, 2].map(() => Uint8Array.from({ length: W * H }, () => 1 + Math.floor(rand() * 250)));
  for (const i of [0, 1, 2, 13, 14, 15, 27, 28, 29, 40, 41, 42, 129]) for (const b of bands) b[i] = 0;
  for (const i of [5, 6, 60]) bands[1]![i] = 0;
  return bands;
}

/**
 * The average of the valid pixels of each whole block (round half up), as counted here: every band
 * nodata makes a pixel invalid (any band, with anyBand); a valid pixel's 0 in one band counts.
 */
function expected(bands: Uint8Array[], fx: number, fy: number, anyBand: boolean): { values: number[][]; valid: number[] } {
  const w = Math.floor(W / fx);
  const h = Math.floor(H / fy);
  const values = bands.map(() => new Array<number>(w * h).fill(0));
  const valid = new Array<number>(w * h).fill(0);
  for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) {
    const sums = bands.map(() => 0);
    const counts = bands.map(() => 0);
    for (let v = j * fy; v < Math.min(H, (j + 1) * fy); v++) for (let u = i * fx; u < Math.min(W, (i + 1) * fx); u++) {
      const px = bands.map((b) => b[v * W + u]!);
      if (anyBand ? px.some((p) => p === 0) : px.every((p) => p === 0)) continue;
      valid[j * w + i] = 1;
      px.forEach((p, b) => { sums[b]! += p; counts[b]!++; });
    }
    sums.forEach((s, b) => { if (counts[b]) values[b]![j * w + i] = Math.round(s / counts[b]!); });
  }
  return { values, valid };
}

describe('CoarsenedSource', () => {
  const file = path.join(tmp, 'fine.tif');
  const bands = scene();
  writeTestTiff(file, { width: W, height: H, bands, nodata: 0, geoTransform: GT, epsg: 32633, rowsPerStrip: 3 });

  it('describes the grid of whole blocks: pixels fx x fy as large, the last partial column left out, no overviews', async () => {
    const s = new CoarsenedSource(await openRaster(file), { x: 3, y: 2 });
    try {
      // 13 x 10 in 3 x 2 blocks: 4 whole ones across (the 13th column left out), 5 down.
      expect(s.info).toMatchObject({ width: 4, height: 5, bandCount: 3, dtype: 'uint8', nodata: 0, overviews: [] });
      expect(s.info.geoTransform).toEqual([500000, 1.5, 0, 5000000, 0, -1]);
      expect(s.levelCount).toBe(1);
      await expect(s.read({ x: 0, y: 0, width: 1, height: 1 }, { level: 1 })).rejects.toThrow(/no overviews/);
    } finally {
      await s.close();
    }
    expect(() => new CoarsenedSource({} as never, { x: 1.5, y: 2 })).toThrow(/whole numbers/);
    const small = await openRaster(file);
    expect(() => new CoarsenedSource(small, { x: 14, y: 2 })).toThrow(/a 14 x 2 block is larger than the 13 x 10 raster/);
    await small.close();
  });

  it('averages the valid pixels of each block, and marks blocks with none invalid', async () => {
    const s = new CoarsenedSource(await openRaster(file), { x: 3, y: 2 });
    try {
      for (const anyBandNodata of [false, true]) {
        const got = await s.read({ x: 0, y: 0, width: 4, height: 5 }, { anyBandNodata });
        const want = expected(bands, 3, 2, anyBandNodata);
        expect(Array.from(got.valid)).toEqual(want.valid);
        got.bands.forEach((b, i) => expect(Array.from(b)).toEqual(want.values[i]));
        // Invalid pixels hold the nodata value.
        expect(got.bands[0]!.filter((_, k) => !got.valid[k]).every((v) => v === 0)).toBe(true);
      }
      // The first block lies wholly on nodata.
      const whole = await s.read({ x: 0, y: 0, width: 4, height: 5 });
      expect(whole.valid[0]).toBe(0);
      expect(whole.geoTransform).toEqual([500000, 1.5, 0, 5000000, 0, -1]);
    } finally {
      await s.close();
    }
  });

  it('reads a window partly outside the raster: outside is invalid, inside as in the whole read', async () => {
    const s = new CoarsenedSource(await openRaster(file), { x: 3, y: 2 });
    try {
      const whole = await s.read({ x: 0, y: 0, width: 4, height: 5 }, { bands: [2] });
      const part = await s.read({ x: 3, y: -1, width: 4, height: 3 }, { bands: [2] });
      expect(part.bands).toHaveLength(1);
      expect(part.geoTransform).toEqual([500000 + 3 * 1.5, 1.5, 0, 5000000 + 1, 0, -1]);
      for (let j = 0; j < 3; j++) for (let i = 0; i < 4; i++) {
        const [x, y] = [3 + i, -1 + j];
        const inside = x < 4 && y >= 0;
        expect(part.valid[j * 4 + i]).toBe(inside ? whole.valid[y * 4 + x] : 0);
        if (inside) expect(part.bands[0]![j * 4 + i]).toBe(whole.bands[0]![y * 4 + x]);
      }
    } finally {
      await s.close();
    }
  });

  it('reads a window in many chunks as in one (chunks of a few blocks, across and down)', async () => {
    const f = path.join(tmp, 'chunks.tif');
    const rand = seededRandom(5);
    const band = Uint8Array.from({ length: 203 * 151 }, () => Math.floor(rand() * 256));
    writeTestTiff(f, { width: 203, height: 151, bands: [band], nodata: 0, geoTransform: GT, epsg: 32633, rowsPerStrip: 16 });
    const whole = new CoarsenedSource(await openRaster(f), { x: 3, y: 2 });
    const chunked = new CoarsenedSource(await openRaster(f), { x: 3, y: 2 }, { chunkPixels: 50 });
    try {
      // 67 x 75 blocks, 8 blocks a read; a window partly off the grid.
      const win = { x: -2, y: 3, width: 70, height: 73 };
      const a = await whole.read(win);
      const b = await chunked.read(win);
      expect(Array.from(b.valid)).toEqual(Array.from(a.valid));
      expect(Array.from(b.bands[0]!)).toEqual(Array.from(a.bands[0]!));
      // And each equal to its block's average counted here.
      const j = 10, i = 20; // block (20, 13) of the grid: window pixel (22, 10)
      let sum = 0, n = 0;
      for (let v = 13 * 2; v < 13 * 2 + 2; v++) for (let u = 20 * 3; u < 20 * 3 + 3; u++) { const p = band[v * 203 + u]!; if (p !== 0) { sum += p; n++; } }
      expect(b.bands[0]![j * 70 + i + 2]).toBe(n ? Math.round(sum / n) : 0);
    } finally {
      await whole.close();
      await chunked.close();
    }
  });

  it('keeps float values unrounded and leaves NaN pixels out of the average', async () => {
    const f = path.join(tmp, 'float.tif');
    const values = Float32Array.from({ length: 16 }, (_, i) => i + 0.25);
    values[1] = Number.NaN;
    writeTestTiff(f, { width: 4, height: 4, dtype: 'float32', bands: [values], geoTransform: GT, epsg: 32633 });
    const s = new CoarsenedSource(await openRaster(f), { x: 2, y: 2 });
    try {
      const got = await s.read({ x: 0, y: 0, width: 2, height: 2 });
      expect(Array.from(got.bands[0]!)).toEqual([(0.25 + 4.25 + 5.25) / 3, (2.25 + 3.25 + 6.25 + 7.25) / 4, (8.25 + 9.25 + 12.25 + 13.25) / 4, (10.25 + 11.25 + 14.25 + 15.25) / 4]);
      expect(Array.from(got.valid)).toEqual([1, 1, 1, 1]);
    } finally {
      await s.close();
    }
    // With nodata NaN, a block with no valid pixel holds NaN, as the raster does.
    const nan = path.join(tmp, 'float-nan.tif');
    writeTestTiff(nan, { width: 4, height: 2, dtype: 'float32', bands: [Float32Array.from([Number.NaN, Number.NaN, 1, 2, Number.NaN, Number.NaN, 3, 4])], nodata: Number.NaN, geoTransform: GT, epsg: 32633 });
    const n = new CoarsenedSource(await openRaster(nan), { x: 2, y: 2 });
    try {
      const got = await n.read({ x: 0, y: 0, width: 2, height: 1 });
      expect(Array.from(got.valid)).toEqual([0, 1]);
      expect(got.bands[0]![0]).toBeNaN();
      expect(got.bands[0]![1]).toBe(2.5);
    } finally {
      await n.close();
    }
  });
});

describe.skipIf(skipWithoutGdal)(`CoarsenedSource equals gdalwarp -r average on the block grid ${gdalSkipReason}`, () => {
  it('on a 3-band uint8 scene with nodata, factors 3 x 2 and 4 x 4', async () => {
    const file = path.join(tmp, 'oracle.tif');
    const bands = scene();
    writeTestTiff(file, { width: W, height: H, bands, nodata: 0, geoTransform: GT, epsg: 32633 });
    for (const [fx, fy] of [[3, 2], [4, 4]] as const) {
      const w = Math.floor(W / fx);
      const h = Math.floor(H / fy);
      const out = path.join(tmp, `gdal-${fx}x${fy}.tif`);
      execFileSync('gdalwarp', ['-q', '-overwrite', '-r', 'average', '-srcnodata', '0', '-dstnodata', '0',
        '-te', String(GT[0]), String(GT[3] + h * fy * GT[5]), String(GT[0] + w * fx * GT[1]), String(GT[3]),
        '-ts', String(w), String(h), file, out]);
      const gdal = gdalRead(out, { x: 0, y: 0, width: w, height: h });
      const s = new CoarsenedSource(await openRaster(file), { x: fx, y: fy });
      try {
        const ours = await s.read({ x: 0, y: 0, width: w, height: h });
        expect([gdal.width, gdal.height]).toEqual([w, h]);
        // gdalwarp writes nodata (0 in every band) where no source pixel was valid.
        const gdalValid = Array.from({ length: w * h }, (_, k) => (gdal.pixels!.some((b) => b[k] !== 0) ? 1 : 0));
        expect(Array.from(ours.valid)).toEqual(gdalValid);
        let apart = 0;
        let compared = 0;
        let same = 0;
        ours.bands.forEach((b, band) => b.forEach((v, k) => {
          compared++;
          apart = Math.max(apart, Math.abs(v - gdal.pixels![band]![k]!));
          if (v === gdal.pixels![band]![k]) same++;
        }));
        // GDAL rounds the same averages; a sum that lands on .5 may round the other way there.
        expect(apart).toBeLessThanOrEqual(1);
        expect(compared).toBe(3 * w * h);
        expect(same / compared).toBeGreaterThan(0.9);
      } finally {
        await s.close();
      }
    }
  });
});
