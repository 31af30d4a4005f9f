/**
 * Polygons across the antimeridian in GeoJSON output (RFC 7946 §3.1.9): cut in two at ±180, every
 * longitude within -180..180, the parts valid (by JTS: turf.booleanValid passes a ring that touches
 * itself) and adding up to the polygon's area. A UTM zone 1
 * mask used to give edges jumping from 179.9 to -179.9 (a polygon the long way round the world).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as turf from '@turf/turf';
import type { FeatureCollection, MultiPolygon, Polygon, Position } from 'geojson';
import { afterAll, describe, expect, it } from 'vitest';
import { splitAtAntimeridian } from '../../server/src/vectorize/antimeridian.ts';
import { vectorizeMask } from '../../server/src/vectorize/vectorize-mask.ts';
import type { ClassProperties } from '../../server/src/vectorize/class-polygon.ts';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { polygonInvalidity } from '../helpers/ogc-valid.ts';
import { seededRandom } from '../fixtures/seeded-random.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-antimeridian-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const flat = (ring: number[][]) => Float64Array.from(ring.flat());
const closed = (ring: Float64Array): Position[] => {
  const out: Position[] = [];
  for (let i = 0; i < ring.length; i += 2) out.push([ring[i]!, ring[i + 1]!]);
  return [...out, out[0]!];
};
const partsArea = (parts: Float64Array[][]) => parts.reduce((s, rings) => s + turf.area(turf.polygon(rings.map(closed))), 0);

describe('splitAtAntimeridian', () => {
  it('returns a polygon within -180..180 as it is', () => {
    const rings = [flat([[10, 10], [11, 10], [11, 11], [10, 11]])];
    const parts = splitAtAntimeridian(rings);
    expect(parts).toEqual([rings]);
    expect(parts[0]![0]).toBe(rings[0]);
  });

  it('moves a polygon lying wholly past 180 back by a turn', () => {
    const parts = splitAtAntimeridian([flat([[180.2, 10], [180.5, 10], [180.5, 11], [180.2, 11]])]);
    expect(parts).toHaveLength(1);
    expect(Array.from(parts[0]![0]!)).toEqual([180.2 - 360, 10, 180.5 - 360, 10, 180.5 - 360, 11, 180.2 - 360, 11]);
  });

  it('cuts a polygon whose edges jump from 179 to -179, holes included, into valid parts that keep its area', () => {
    // As proj4 gives it: a shell from 179° to 181° written 179 / -179, a hole across the line too.
    const shell = flat([[179, -17], [-179, -17], [-179, -16], [179, -16]]);
    const hole = flat([[179.5, -16.8], [179.5, -16.2], [-179.5, -16.2], [-179.5, -16.8]]);
    // The same polygon 180° away, where nothing needs cutting: the reference area.
    const reference = turf.area(turf.polygon([[[-1, -17], [1, -17], [1, -16], [-1, -16], [-1, -17]], [[-0.5, -16.8], [-0.5, -16.2], [0.5, -16.2], [0.5, -16.8], [-0.5, -16.8]]]));
    // As a projected mask's edges come out of proj4: each jump is the seam, not a long edge.
    const parts = splitAtAntimeridian([shell, hole], () => false);
    expect(parts).toHaveLength(2);
    for (const rings of parts) {
      for (const ring of rings) for (let i = 0; i < ring.length; i += 2) expect(Math.abs(ring[i]!)).toBeLessThanOrEqual(180);
      expect(polygonInvalidity(rings.map(closed))).toBeNull();
    }
    // West part 179..180, east part -180..-179: both reach the line.
    const lons = parts.map((rings) => Array.from(rings[0]!).filter((_, i) => i % 2 === 0));
    expect(lons.map((l) => [Math.min(...l), Math.max(...l)]).sort((a, b) => a[0]! - b[0]!)).toEqual([[-180, -179], [179, 180]]);
    expect(partsArea(parts)).toBeCloseTo(reference, 0);
  });

  it('gives two parts where the polygon touches the line at a vertex from one side (one ring through that point touched itself)', () => {
    // East of 180 the polygon narrows to the line at (180, 5): two pieces touching there.
    const parts = splitAtAntimeridian([flat([[179, 0], [181, 0], [181, 4], [180, 5], [181, 6], [181, 10], [179, 10]])], () => false);
    expect(parts).toHaveLength(3);
    for (const rings of parts) expect(polygonInvalidity(rings.map(closed))).toBeNull();
    for (const [ring] of parts) {
      const points = Array.from({ length: ring!.length / 2 }, (_, i) => `${ring![2 * i]},${ring![2 * i + 1]}`);
      expect(new Set(points).size).toBe(points.length);
    }
    expect(partsArea(parts)).toBeCloseTo(turf.area(turf.polygon([[[-1, 0], [1, 0], [1, 4], [0, 5], [1, 6], [1, 10], [-1, 10], [-1, 0]]])), -3);
  });

  it('leaves a ring that winds round a pole as it is', () => {
    const ring = flat([[-180, 80], [-90, 80], [0, 80], [90, 80], [179, 80]]);
    expect(splitAtAntimeridian([ring], () => false)).toEqual([[ring]]);
  });
});

describe('vectorizing a mask across the antimeridian', () => {
  it('writes GeoJSON whose polygons crossing it are MultiPolygons cut at ±180, valid, with their areas', async () => {
    // UTM 1S near Fiji, 100 m pixels; the antimeridian near x = 181 km. Class 1 is a band across
    // the line with a hole of class 0 across it too; class 0 fills the rest.
    const width = 120;
    const height = 80;
    const mask = path.join(tmp, 'utm1s.tif');
    const w = await CogWriter.create(mask, {
      width, height, geoTransform: [175_000, 100, 0, 8_126_000, 0, -100], geoKeys: { epsg: 32701, geographic: false }, nodata: 255, blockSize: 64,
      colorMap: [[0, 0, 0], [0, 0, 200]], overviewResampling: 'mode',
      metadata: { CLASS_NAMES: '["land","water"]', CLASS_COLORS: '["#000000","#0000c8"]' },
    });
    const ids = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const inBand = y >= 20 && y < 60 && x >= 30 && x < 100;
        const inHole = y >= 35 && y < 45 && x >= 50 && x < 75;
        ids[y * width + x] = inBand && !inHole ? 1 : 0;
      }
    }
    await w.writeRows(ids, height);
    await w.finish();
    const out = path.join(tmp, 'utm1s.geojson');
    await vectorizeMask({ mask, out, minAreaM2: 0 });
    const fc = JSON.parse(fs.readFileSync(out, 'utf8')) as FeatureCollection<Polygon | MultiPolygon, ClassProperties>;
    let cut = 0;
    for (const f of fc.features) {
      const polygons = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
      if (f.geometry.type === 'MultiPolygon') cut++;
      let area = 0;
      for (const rings of polygons) {
        for (const ring of rings) {
          for (let i = 0; i < ring.length; i++) {
            expect(Math.abs(ring[i]![0]!)).toBeLessThanOrEqual(180);
            if (i > 0) expect(Math.abs(ring[i]![0]! - ring[i - 1]![0]!)).toBeLessThan(1);
          }
        }
        expect(polygonInvalidity(rings)).toBeNull();
        area += turf.area(turf.polygon(rings));
      }
      // turf's spherical area against ours on the ellipsoid's projection: well within a percent.
      expect(Math.abs(area - f.properties.area_m2) / f.properties.area_m2).toBeLessThan(0.01);
    }
    // The band, the land around it and the hole's land all cross the line.
    expect(cut).toBe(3);
    expect(fc.features).toHaveLength(3);
  });

  // Pixel edges on 180 itself; the line through the middle of pixels, simplified; a UTM zone 1 mask.
  it.each([
    ['lon/lat, pixel edges on 180', [179.9, 0.002, 0, -16.9, 0, -0.002], 4326, 0],
    ['lon/lat, 180 mid-pixel, simplified', [179.9007, 0.002, 0, -16.9, 0, -0.002], 4326, 1],
    ['UTM 1S, simplified', [178_013, 60, 0, 8_126_000, 0, -60], 32701, 1],
  ] as const)('cuts every polygon of noisy masks across 180 (%s) into valid parts within ±180 that keep their areas', async (_, gt, epsg, simplifyPx) => {
    // Blobs of three classes with speckle: rings cross the line many times, holes cross it, lie on
    // either side, or touch each other and the line at points (a fuzz of 30 such masks found the
    // cases that needed care: parts whose rings touch round a loop, vertices a few ulps off 180).
    const width = 80;
    const height = 50;
    let cut = 0;
    let holesCut = 0;
    for (let seed = 1; seed <= 5; seed++) {
      const mask = path.join(tmp, `noisy-${epsg}-${simplifyPx}-${seed}.tif`);
      const rand = seededRandom(seed);
      const w = await CogWriter.create(mask, {
        width, height, geoTransform: [...gt], geoKeys: { epsg, geographic: epsg === 4326 }, nodata: 255, blockSize: 64,
        colorMap: [[0, 0, 0], [0, 0, 200], [0, 200, 0]], overviewResampling: 'mode',
        metadata: { CLASS_NAMES: '["a","b","c"]', CLASS_COLORS: '["#000000","#0000c8","#00c800"]' },
      });
      const ids = new Uint8Array(width * height);
      const noise = 0.05 + 0.07 * seed;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const blob = Math.floor((Math.sin(x / (3 + seed)) + Math.cos(y / 4) + 2) * 0.75) % 3;
          ids[y * width + x] = rand() < noise ? Math.floor(rand() * 3) : blob;
        }
      }
      await w.writeRows(ids, height);
      await w.finish();
      const out = mask.replace(/\.tif$/, '.geojson');
      await vectorizeMask({ mask, out, minAreaM2: 0, simplifyPx });
      const fc = JSON.parse(fs.readFileSync(out, 'utf8')) as FeatureCollection<Polygon | MultiPolygon, ClassProperties>;
      for (const f of fc.features) {
        const polygons = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
        if (polygons.length > 1) cut++;
        let area = 0;
        for (const rings of polygons) {
          if (polygons.length > 1 && rings.length > 1) holesCut++;
          for (const ring of rings) for (const p of ring) expect(Math.abs(p[0]!)).toBeLessThanOrEqual(180);
          expect(polygonInvalidity(rings), `seed ${seed}, feature ${f.id}`).toBeNull();
          area += turf.area(turf.polygon(rings));
        }
        expect(Math.abs(area - f.properties.area_m2) / f.properties.area_m2).toBeLessThan(0.01);
      }
    }
    expect(cut).toBeGreaterThan(10);
    expect(holesCut).toBeGreaterThan(0);
  });

  // A straight row across the whole world is one edge from -180 to 180, not a crossing of the seam:
  // it was folded to nothing, a rectangle became its complement, and in Web Mercator the writer threw.
  it.each([
    ['lon/lat', [-180, 1, 0, 90, 0, -1], 4326, true],
    ['Web Mercator', [-20037508.34, 111319.49, 0, 15538711.1, 0, -111319.49], 3857, false],
  ] as const)('leaves a global %s mask\'s polygons whole, with their areas', async (_, gt, epsg, geographic) => {
    const width = 360;
    const height = 180;
    const mask = path.join(tmp, `global-${epsg}.tif`);
    const w = await CogWriter.create(mask, {
      width, height, geoTransform: [...gt], geoKeys: { epsg, geographic }, nodata: 255, blockSize: 64, colorMap: [[0, 0, 0], [0, 0, 200]], overviewResampling: 'mode',
      metadata: { CLASS_NAMES: '["land","water"]', CLASS_COLORS: '["#000000","#0000c8"]' },
    });
    const ids = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) ids[y * width + x] = y >= 150 || (x >= 10 && x < 210 && y >= 80 && y < 90) ? 1 : 0;
    await w.writeRows(ids, height);
    await w.finish();
    const out = path.join(tmp, `global-${epsg}.geojson`);
    await vectorizeMask({ mask, out, minAreaM2: 0, simplifyPx: 0 });
    const fc = JSON.parse(fs.readFileSync(out, 'utf8')) as FeatureCollection<Polygon | MultiPolygon, ClassProperties>;
    expect(fc.features).toHaveLength(3);
    for (const f of fc.features) {
      expect(f.geometry.type).toBe('Polygon');
      expect(Math.abs(turf.area(f) - f.properties.area_m2) / f.properties.area_m2).toBeLessThan(0.01);
    }
  });
});
