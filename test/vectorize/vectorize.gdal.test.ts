/**
 * GDAL as the oracle: on 1024 x 1024 crops of real masks, without simplification, the polygon count
 * and total area per class must equal gdal_polygonize.py's (within 0.1 %; in practice they are
 * identical). One crop is lon/lat (ESA WorldCover, areas on the ellipsoid), one Web Mercator.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import type { FeatureCollection, Polygon } from 'geojson';
import { corpusDir, gdalPython, gdalSkipReason, hasGdal, hasShared, repoRoot, scenesDir, sharedSkipReason } from '../helpers/shared-data.ts';
import { vectorizeMask } from '../../server/src/vectorize/vectorize-mask.ts';
import type { ClassProperties } from '../../server/src/vectorize/class-polygon.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-vgdal-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Stats = Record<string, { count: number; area: number }>;

function gdalStats(raster: string): Stats {
  return JSON.parse(execFileSync(gdalPython, [path.join(repoRoot, 'test/oracle/gdal_polygon_stats.py'), raster], { encoding: 'utf8' })) as Stats;
}

async function ourStats(raster: string): Promise<Stats> {
  const out = path.join(tmp, `${path.basename(raster)}.geojson`);
  await vectorizeMask({ mask: raster, out, simplifyPx: 0, minAreaM2: 0 });
  const fc = JSON.parse(fs.readFileSync(out, 'utf8')) as FeatureCollection<Polygon, ClassProperties>;
  const stats: Stats = {};
  for (const f of fc.features) {
    const entry = (stats[String(f.properties.class_id)] ??= { count: 0, area: 0 });
    entry.count++;
    entry.area += f.properties.area_m2;
  }
  return stats;
}

function crop(source: string, x: number, y: number, name: string): string {
  const out = path.join(tmp, name);
  execFileSync('gdal_translate', ['-q', '-srcwin', String(x), String(y), '1024', '1024', source, out]);
  return out;
}

const skip = !hasShared || !hasGdal;
describe.skipIf(skip)(`vectorize vs gdal_polygonize.py ${sharedSkipReason || gdalSkipReason}`, () => {
  const crops = [
    { name: 'ESA WorldCover (EPSG:4326)', source: () => path.join(scenesDir, 'esa_worldcover_2021_N00E006.tif'), x: 6147, y: 32724 },
    { name: 'rio-tiler cmap COG (EPSG:3857)', source: () => path.join(corpusDir, 'riotiler__cog_cmap.tif'), x: 3000, y: 3000 },
  ];
  for (const { name, source, x, y } of crops) it(`${name}: per-class polygon count and area match within 0.1 %`, async () => {
    const raster = crop(source(), x, y, `crop-${x}-${y}.tif`);
    const [ours, gdal] = [await ourStats(raster), gdalStats(raster)];
    expect(Object.keys(ours).sort()).toEqual(Object.keys(gdal).sort());
    for (const [cls, g] of Object.entries(gdal)) {
      const o = ours[cls]!;
      expect(Math.abs(o.count - g.count) / g.count, `count of class ${cls}: ours ${o.count}, GDAL ${g.count}`).toBeLessThanOrEqual(0.001);
      expect(Math.abs(o.area - g.area) / g.area, `area of class ${cls}: ours ${o.area}, GDAL ${g.area}`).toBeLessThanOrEqual(0.001);
    }
  });
});
