/**
 * The real pair: NAIP 2009 and 2020 of the same prairie lakes (../shared), segmented with
 * spectral-water and compared. The two scenes sit on grids 1 m apart (5 m pixels), so each 2009
 * pixel centre falls in the 2020 pixel of the same column and row; the statistics are checked
 * against counts made straight from the two masks, and the change polygons against the OGC
 * validity tests of JTS, and of GDAL where it is installed. Skips without ../shared locally; runs (and fails) under CI=true.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { polygonInvalidity } from '../helpers/ogc-valid.ts';
import type { Feature, MultiPolygon, Polygon } from 'geojson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareMasks, type ChangeResult } from '../../server/src/change/compare-masks.ts';
import { changePolygons } from '../../server/src/change/change-polygons.ts';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { areaOnGrid, parseArea } from '../../server/src/segment/segment-area.ts';
import { gdalPython, hasGdal, repoRoot, scenesDir, sharedSkipReason, skipWithoutShared } from '../helpers/shared-data.ts';
import { readAll } from './change-fixtures.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-change-naip-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const file = (name: string) => path.join(tmp, name);
const km2 = (m2: number) => (m2 / 1e6).toFixed(3);

/** Independent counts: 2009 pixel (x, y) against 2020 pixel (x, y), where both have data and `inside` says so. */
async function directCounts(inside: (x: number, y: number) => boolean) {
  const b = await readAll(file('naip_2009.mask.tif'));
  const a = await readAll(file('naip_2020.mask.tif'));
  // The premise of pairing by index: same pixel size, origins 1 m (0.2 px) apart.
  expect(b.geoTransform[1]).toBe(a.geoTransform[1]);
  expect(Math.abs(b.geoTransform[0] - a.geoTransform[0])).toBeLessThan(0.5 * b.geoTransform[1]);
  expect(Math.abs(b.geoTransform[3] - a.geoTransform[3])).toBeLessThan(0.5 * b.geoTransform[1]);
  const matrix = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  const before = [0, 0, 0];
  const after = [0, 0, 0];
  for (let y = 0; y < Math.min(b.height, a.height); y++) {
    for (let x = 0; x < Math.min(b.width, a.width); x++) {
      const f = b.ids[y * b.width + x]!;
      const t = a.ids[y * a.width + x]!;
      if (f > 2 || t > 2 || !inside(x, y)) continue;
      matrix[f]![t]!++;
      before[f]!++;
      after[t]!++;
    }
  }
  return { matrix, before, after };
}

function checkConsistent(r: ChangeResult, direct: Awaited<ReturnType<typeof directCounts>>): void {
  const s = r.statistics;
  expect(s.matrix.pixels).toEqual(direct.matrix);
  expect(s.matrix.pixels.flat().reduce((sum, v) => sum + v, 0)).toBe(s.valid_pixels);
  expect(s.valid_area_m2).toBeCloseTo(s.valid_pixels * 25, 6);
  for (const c of s.per_class) {
    expect(c.gained_pixels - c.lost_pixels).toBe(direct.after[c.id]! - direct.before[c.id]!);
    expect(c.net_m2).toBeCloseTo((direct.after[c.id]! - direct.before[c.id]!) * 25, 6);
  }
}

describe.skipIf(skipWithoutShared)(`naip_2009 → naip_2020 with spectral-water ${sharedSkipReason}`, () => {
  beforeAll(async () => {
    const model = new ModelRegistry(path.join(repoRoot, 'models')).get('spectral-water');
    for (const year of ['2009', '2020']) {
      await segmentScene({ input: path.join(scenesDir, `naip_${year}.tif`), output: file(`naip_${year}.mask.tif`), model, device: 'cpu' });
    }
  });

  it('counts the same transitions as the two masks paired pixel by pixel, over the whole overlap', async () => {
    const r = await compareMasks({ before: file('naip_2009.mask.tif'), after: file('naip_2020.mask.tif'), out: file('change.tif') });
    // naip_2009 is 934 x 724, naip_2020 934 x 723: the last 2009 row has no 2020 pixel and is clipped off.
    expect(r.window).toEqual({ x: 0, y: 0, width: 934, height: 723 });
    checkConsistent(r, await directCounts(() => true));
    const water = r.statistics.per_class.find((c) => c.name === 'water')!;
    // The lakes grew between the two dates (visible in the scenes): water gains far more than it loses.
    expect(water.gained_m2).toBeGreaterThan(10 * water.lost_m2);
    console.log(`[naip 2009 → 2020] newly water ${km2(water.gained_m2)} km² (lost ${km2(water.lost_m2)}, net ${km2(water.net_m2)}), `
      + `changed ${(100 * r.statistics.changed_share).toFixed(1)}% of ${km2(r.statistics.valid_area_m2)} km²`);
  });

  it('inside an area, the matrix sums to the valid pixels of the area', async () => {
    const bbox = [-99.17, 47.01, -99.14, 47.03];
    const area = parseArea(undefined, bbox)!;
    const r = await compareMasks({ before: file('naip_2009.mask.tif'), after: file('naip_2020.mask.tif'), out: file('change-area.tif'), area });
    const source = await openRaster(file('naip_2009.mask.tif'));
    const { info } = source;
    await source.close();
    const grid = areaOnGrid(area, info.geoTransform, info.width, info.height, info.crs)!;
    const inside = grid.mask(0, grid.window.height, grid.window.width);
    const direct = await directCounts((x, y) => {
      const ax = x - grid.window.x;
      const ay = y - grid.window.y;
      return ax >= 0 && ay >= 0 && ax < grid.window.width && ay < grid.window.height && inside[ay * grid.window.width + ax] === 1;
    });
    checkConsistent(r, direct);
    expect(r.statistics.valid_pixels).toBeLessThan(0.5 * 934 * 723);
    // Outside the area the change mask holds nodata only.
    const mask = await readAll(file('change-area.tif'));
    let nodataInside = 0;
    for (let y = 0; y < mask.height; y++) {
      for (let x = 0; x < mask.width; x++) {
        const gx = r.window.x + x - grid.window.x;
        const gy = r.window.y + y - grid.window.y;
        const isIn = gx >= 0 && gy >= 0 && gx < grid.window.width && gy < grid.window.height && inside[gy * grid.window.width + gx] === 1;
        if (!isIn) expect(mask.ids[y * mask.width + x]).toBe(255);
        else if (mask.ids[y * mask.width + x] === 255) nodataInside++;
      }
    }
    expect(nodataInside).toBe(0);
  });

  it('writes change polygons that are valid and carry from/to on every feature', async () => {
    const vec = file('change.geojson');
    const s = await changePolygons(file('change.tif'), vec);
    const fc = JSON.parse(fs.readFileSync(vec, 'utf8'));
    expect(fc.features).toHaveLength(s.features);
    expect(s.features).toBeGreaterThan(100);
    for (const f of fc.features) {
      expect(f.properties.from_id).not.toBe(f.properties.to_id);
      expect(f.properties.class).toBe(`${f.properties.from} → ${f.properties.to}`);
    }
    // JTS's validity test, part by part; GDAL's (GEOS) as well where it is installed.
    const parts = (f: Feature<Polygon | MultiPolygon>) => (f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates);
    expect(fc.features.flatMap((f: Feature<Polygon | MultiPolygon>) => parts(f).map(polygonInvalidity)).filter((e: string | null) => e !== null)).toEqual([]);
    if (!hasGdal) return;
    const invalid = execFileSync(gdalPython, ['-c', [
      'import sys', 'from osgeo import ogr', 'ds = ogr.Open(sys.argv[1])', 'layer = ds.GetLayer()',
      'print(sum(0 if f.GetGeometryRef().IsValid() else 1 for f in layer), layer.GetFeatureCount())',
    ].join('\n'), vec], { encoding: 'utf8' }).trim().split(' ').map(Number);
    expect(invalid).toEqual([0, s.features]);
  });
});
