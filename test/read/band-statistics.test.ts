/**
 * Band statistics: exact for rasters small enough to read whole, and bounded for huge ones
 * without overviews (at most 64 block-sized windows, whatever the raster claims), with
 * percentiles close to the whole raster's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { computeStatistics } from '../../server/src/read/band-statistics.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import type { RasterSource } from '../../server/src/read/raster-source.ts';
import type { Window } from '../../server/src/read/raster.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { COMPRESSION, writeTiledTiff } from '../fixtures/hostile-tiff.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-stats-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The source, counting the pixels every read asks for. */
function counting(source: RasterSource): { source: RasterSource; pixels: () => number; reads: () => number } {
  let pixels = 0;
  let reads = 0;
  const wrapped = Object.create(source) as RasterSource;
  wrapped.read = (win: Window, opts) => { pixels += win.width * win.height; reads++; return source.read(win, opts); };
  return { source: wrapped, pixels: () => pixels, reads: () => reads };
}

function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))))]!;
}

describe('band statistics', () => {
  it('are exact for a raster read whole', async () => {
    const bands = syntheticScene(600, 400);
    const file = path.join(tmp, 'scene.tif');
    writeTestTiff(file, { width: 600, height: 400, bands, nodata: 0 });
    const source = await openRaster(file);
    try {
      const stats = await computeStatistics(source);
      expect(stats).toMatchObject({ level: 0, sampledWidth: 600, sampledHeight: 400 });
      // Nodata is per pixel across bands: a pixel is out only when every band holds 0.
      const valid = Array.from({ length: 600 * 400 }, (_, i) => bands.some((b) => b[i] !== 0));
      bands.forEach((band, b) => {
        const values = Array.from(band).filter((_, i) => valid[i]).sort((x, y) => x - y);
        const mean = values.reduce((a, v) => a + v, 0) / values.length;
        expect(stats.bands[b]).toMatchObject({ min: values[0], max: values[values.length - 1], p2: exactPercentile(values, 2), p98: exactPercentile(values, 98) });
        expect(stats.bands[b]!.mean).toBeCloseTo(mean, 6);
      });
    } finally {
      await source.close();
    }
  });

  it('sample at most 64 windows of a huge raster without overviews, close to the whole', async () => {
    // 8192 x 8192 (64 Mpx) in 256-px DEFLATE tiles: a ramp from 0 to 255 left to right, plus
    // a per-tile offset, so every part of the raster differs.
    const size = 8192;
    const tile = 256;
    const across = size / tile;
    const payloads = new Map<number, Uint8Array>();
    const payload = (offset: number, column: number) => {
      const key = offset * 1000 + column;
      let p = payloads.get(key);
      if (!p) {
        const data = new Uint8Array(tile * tile);
        for (let y = 0; y < tile; y++) for (let x = 0; x < tile; x++) data[y * tile + x] = Math.min(255, Math.floor(((column * tile + x) / size) * 240) + offset);
        p = zlib.deflateSync(data);
        payloads.set(key, p);
      }
      return p;
    };
    const file = path.join(tmp, 'ramp.tif');
    writeTiledTiff(file, { width: size, height: size, tileSize: tile, compression: COMPRESSION.deflate, tile: (i) => payload(Math.floor(i / across) % 16, i % across) });
    const opened = await openRaster(file);
    try {
      const { source, pixels, reads } = counting(opened);
      const stats = await computeStatistics(source);
      expect(reads()).toBeLessThanOrEqual(64);
      expect(pixels()).toBeLessThanOrEqual(64 * tile * tile);
      // Against the whole raster's histogram (each column's value times the rows of each offset).
      const histogram = new Float64Array(256);
      for (let x = 0; x < size; x++) {
        for (let offset = 0; offset < 16; offset++) histogram[Math.min(255, Math.floor((x / size) * 240) + offset)]! += size / 16;
      }
      const whole = (p: number) => { let acc = 0; for (let v = 0; v < 256; v++) { acc += histogram[v]!; if (acc >= (p / 100) * size * size) return v; } return 255; };
      const band = stats.bands[0]!;
      expect(Math.abs(band.p2 - whole(2))).toBeLessThan(15);
      expect(Math.abs(band.p98 - whole(98))).toBeLessThan(15);
      expect(Math.abs(band.mean - 127)).toBeLessThan(5);
      expect(band.validPercent).toBe(100);
    } finally {
      await opened.close();
    }
  });

  it('of a sparse raster claiming 10 gigapixels take well under a second', async () => {
    const file = path.join(tmp, 'sparse.tif');
    writeTiledTiff(file, { width: 100_000, height: 100_000, tileSize: 256, compression: COMPRESSION.deflate, tile: () => null, nodata: 0 });
    const source = await openRaster(file);
    try {
      const t0 = performance.now();
      const stats = await computeStatistics(source);
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(stats.bands[0]!.validPercent).toBe(0);
    } finally {
      await source.close();
    }
  });
});
