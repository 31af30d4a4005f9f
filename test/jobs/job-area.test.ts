/**
 * Areas on the pixel grid, and class areas: projected and geodesic.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as turf from '@turf/turf';
import { afterAll, describe, expect, it } from 'vitest';
import { areaOnGrid, footprintWgs84 } from '../../server/src/segment/segment-area.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';
import { converter, transformableProj4, WGS84 } from '../../server/src/read/crs-transform.ts';
import { pixelToCrs } from '../../server/src/read/georef.ts';
import type { GeoTransform } from '../../server/src/read/raster.ts';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { maskStatistics } from '../../server/src/segment/class-statistics.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-area-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('areaOnGrid', () => {
  it('marks exactly the pixels whose centres are inside a polygon with a hole (UTM grid)', () => {
    const crs = crsFromEpsg(32633);
    const gt: GeoTransform = [390000, 10, 0, 5820000, 0, -10];
    const toWgs = converter(transformableProj4(crs), WGS84);
    const ll = (c: number, r: number) => toWgs.forward(pixelToCrs(gt, c, r));
    const outer = [ll(50, 40), ll(400, 60), ll(380, 330), ll(90, 300), ll(50, 40)];
    const hole = [ll(150, 120), ll(250, 120), ll(250, 200), ll(150, 200), ll(150, 120)];
    const area = { type: 'Polygon' as const, coordinates: [outer, hole] };
    const grid = areaOnGrid(area, gt, 500, 400, crs)!;
    expect(grid.window.x).toBeGreaterThanOrEqual(49);
    expect(grid.window.x + grid.window.width).toBeLessThanOrEqual(402);
    const m = grid.mask(0, grid.window.height, grid.window.width);
    let wrong = 0;
    let inside = 0;
    for (let r = 0; r < grid.window.height; r++) {
      for (let c = 0; c < grid.window.width; c++) {
        const p = ll(grid.window.x + c + 0.5, grid.window.y + r + 0.5);
        const expected = turf.booleanPointInPolygon(p, area);
        if (expected) inside++;
        if ((m[r * grid.window.width + c] === 1) !== expected) wrong++;
      }
    }
    expect(inside).toBeGreaterThan(50_000);
    expect(wrong).toBeLessThanOrEqual(inside * 0.001);
  });

  it('returns null for an area off the raster, and a footprint that contains the raster centre', () => {
    const crs = crsFromEpsg(4326);
    const gt: GeoTransform = [10, 0.01, 0, 50, 0, -0.01];
    expect(areaOnGrid(turf.bboxPolygon([20, 20, 21, 21]).geometry, gt, 100, 100, crs)).toBeNull();
    const fp = footprintWgs84(gt, 100, 100, crs)!;
    expect(turf.booleanPointInPolygon([10.5, 49.5], fp)).toBe(true);
  });
});

describe('maskStatistics', () => {
  async function mask(file: string, gt: GeoTransform, epsg: number, geographic: boolean) {
    const w = await CogWriter.create(file, { width: 200, height: 100, geoTransform: gt, geoKeys: { epsg, geographic }, nodata: 255, blockSize: 256, overviewResampling: 'mode' });
    const rows = new Uint8Array(200 * 100);
    for (let y = 0; y < 100; y++) for (let x = 0; x < 200; x++) rows[y * 200 + x] = x < 50 ? 0 : x < 150 ? 1 : 255;
    await w.writeRows(rows, 100);
    await w.finish();
    return openRaster(file);
  }

  it('measures projected areas from the pixel size', async () => {
    const src = await mask(path.join(tmp, 'utm.tif'), [390000, 10, 0, 5820000, 0, -10], 32633, false);
    const s = await maskStatistics(src, ['a', 'b']);
    expect(s.area_method).toBe('projected');
    expect(s.classes.map((c) => [c.pixels, c.area_m2])).toEqual([[5000, 500_000], [10000, 1_000_000]]);
    expect(s.classes[0]!.share).toBeCloseTo(1 / 3, 9);
    expect(s.nodata_pixels).toBe(5000);
  });

  it('measures lon/lat areas on the WGS 84 ellipsoid (as polygon area_m2 does), within 0.6 % of turf\'s sphere', async () => {
    const src = await mask(path.join(tmp, 'wgs.tif'), [10, 0.01, 0, 60, 0, -0.01], 4326, true);
    const s = await maskStatistics(src, ['a', 'b']);
    expect(s.area_method).toBe('geodesic');
    // Area of a lon/lat box on the ellipsoid, written out here from the textbook formula:
    // A = (Δλ) b² / 2 [ f(φ2) - f(φ1) ], f(φ) = sinφ/(1 - e² sin²φ) + ln((1 + e sinφ)/(1 - e sinφ)) / (2e).
    const a = 6378137;
    const fl = 1 / 298.257223563;
    const e2 = 2 * fl - fl * fl;
    const e = Math.sqrt(e2);
    const b2 = a * a * (1 - e2);
    const f = (deg: number) => { const s1 = Math.sin((deg * Math.PI) / 180); return s1 / (1 - e2 * s1 * s1) + Math.log((1 + e * s1) / (1 - e * s1)) / (2 * e); };
    const ellipsoidal = ((0.5 * Math.PI) / 180) * (b2 / 2) * (f(60) - f(59));
    expect(s.classes[0]!.area_m2 / ellipsoidal).toBeCloseTo(1, 6);
    const sphere = turf.area(turf.bboxPolygon([10, 59, 10.5, 60]));
    expect(Math.abs(s.classes[0]!.area_m2 / sphere - 1)).toBeLessThan(0.006);
  });
});
