/**
 * Topology-preserving simplification: every polygon stays valid, no ring crosses itself, and
 * neighbours share their simplified boundary exactly (no gap, no overlap), also across band lines.
 */
import { describe, expect, it } from 'vitest';
import * as turf from '@turf/turf';
import type { Feature, MultiPolygon, Polygon } from 'geojson';
import { polygonInvalidity } from '../helpers/ogc-valid.ts';
import { simplifyBand } from '../../server/src/vectorize/simplify.ts';
import type { RegionPolygon } from '../../server/src/vectorize/polygonize.ts';
import { blobMask, components, noiseMask, planarArea, polygonizeMask, toGeoJsonPolygon, type Mask } from './mask-fixtures.ts';

function bbox(p: RegionPolygon): [number, number, number, number] {
  const r = p.rings[0]!;
  let b: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let i = 0; i < r.length; i += 2) b = [Math.min(b[0], r[i]!), Math.min(b[1], r[i + 1]!), Math.max(b[2], r[i]!), Math.max(b[3], r[i + 1]!)];
  return b;
}

function overlapArea(a: RegionPolygon, b: RegionPolygon): number {
  const inter = turf.intersect(turf.featureCollection([turf.feature(toGeoJsonPolygon(a.rings)), turf.feature(toGeoJsonPolygon(b.rings))])) as Feature<Polygon | MultiPolygon> | null;
  if (!inter) return 0;
  const polys = inter.geometry.type === 'Polygon' ? [inter.geometry.coordinates] : inter.geometry.coordinates;
  return polys.reduce((s, rings) => s + planarArea(rings.map((ring) => ring.slice(0, -1).flat())), 0);
}

function checkTopology(mask: Mask, tolerance: number, bandHeight?: number, fullyValid = true): RegionPolygon[] {
  const exact = polygonizeMask(mask);
  const polys = polygonizeMask(mask, tolerance, bandHeight);
  // Simplification never loses or splits a region.
  expect(polys.length).toBe(components(mask).sizes.length);
  for (const p of polys) {
    expect(polygonInvalidity(toGeoJsonPolygon(p.rings).coordinates)).toBeNull();
    for (const ring of p.rings) expect(turf.kinks(turf.feature(toGeoJsonPolygon([ring]))).features).toHaveLength(0);
    expect(planarArea(p.rings)).toBeGreaterThan(0);
  }
  // No overlaps between any two polygons...
  const boxes = polys.map(bbox);
  for (let i = 0; i < polys.length; i++) {
    for (let j = i + 1; j < polys.length; j++) {
      const [a, b] = [boxes[i]!, boxes[j]!];
      if (a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1]) continue;
      expect(overlapArea(polys[i]!, polys[j]!)).toBeLessThan(1e-9);
    }
  }
  // ...and, where the mask is full, no gaps: the areas still add up to the whole raster.
  if (fullyValid) {
    const total = polys.reduce((s, p) => s + planarArea(p.rings), 0);
    expect(total).toBeCloseTo(mask.width * mask.height, 9);
  }
  const count = (ps: RegionPolygon[]) => ps.reduce((s, p) => s + p.rings.reduce((t, r) => t + r.length / 2, 0), 0);
  expect(count(polys)).toBeLessThanOrEqual(count(exact));
  return polys;
}

describe('simplify: topology kept, neighbours gap-free', () => {
  it.each([
    [1, 1, undefined], [2, 1, 6], [3, 2, 5], [4, 3, 4],
  ])('blob mask seed %i, tolerance %f px, band height %s', (seed, tolerance, band) => {
    checkTopology(blobMask(40, 34, seed, 4, 0.04), tolerance, band);
  });

  it('noise mask full of saddles and one-pixel regions stays valid', () => {
    checkTopology(noiseMask(22, 18, 11, 2), 1.5, 4, false);
  });

  it('with nodata holes and edges stays valid and overlap-free', () => {
    checkTopology(blobMask(36, 36, 9, 3, 0.03, 0.2), 2, 7, false);
  });

  it('actually simplifies: a diagonal staircase becomes a few segments', () => {
    const w = 40;
    const codes = new Int32Array(w * w);
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) codes[y * w + x] = x > y ? 1 : 2;
    const polys = checkTopology({ width: w, height: w, codes }, 1);
    // 79 stair corners become one diagonal: a triangle and a pentagon (frame corners stay).
    expect(polys.map((p) => p.rings[0]!.length / 2).sort()).toEqual([3, 5]);
  });
});

describe('simplifyBand: the shortcut test', () => {
  it('keeps a U-shaped boundary from sweeping over an island inside its bend', () => {
    // Arc 0: a shallow U from (0,0) down to y=1 and back up to (10,0); arc 1: a tiny loop inside it.
    const u = [[0, 0], [0, 1], [10, 1], [10, 0]];
    const island = [[4, 0.25], [6, 0.25], [6, 0.75], [4, 0.75], [4, 0.25]];
    const pts = [...u, ...island];
    const band = {
      xs: Int32Array.from(pts.map((p) => p[0]! * 4)),
      ys: Int32Array.from(pts.map((p) => p[1]! * 4)),
      offsets: Int32Array.from([0, 4, 9]),
      top: 0,
      bottom: 8,
    };
    const keep = simplifyBand(band, 8);
    // Without the check the U would collapse onto its chord y=0 and leave the island outside.
    expect([...keep.slice(0, 4)]).toEqual([1, 1, 1, 1]);
  });

  it('drops vertices of a lone staircase within tolerance', () => {
    const xs: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < 10; i++) { xs.push(i, i + 1); ys.push(i, i); }
    const band = { xs: Int32Array.from(xs), ys: Int32Array.from(ys), offsets: Int32Array.from([0, xs.length]), top: 0, bottom: 10 };
    const keep = simplifyBand(band, 1);
    expect(keep[0]).toBe(1);
    expect(keep[xs.length - 1]).toBe(1);
    expect(keep.reduce((s, k) => s + k, 0)).toBe(2);
  });
});
