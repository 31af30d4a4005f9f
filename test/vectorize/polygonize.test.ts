/**
 * The streaming polygonizer on its own: exact pixel-edge rings, holes, 4-connectivity, saddles, and
 * a brute-force comparison on random masks (every polygon must cover exactly one 4-connected
 * component's pixels).
 */
import { describe, expect, it } from 'vitest';
import { ringArea2 } from '../../server/src/read/geodesy.ts';
import { polygonInvalidity } from '../helpers/ogc-valid.ts';
import { StripPolygonizer } from '../../server/src/vectorize/polygonize.ts';
import { blobMask, components, coveredPixels, gridMask, noiseMask, polygonizeMask, toGeoJsonPolygon, type Mask } from './mask-fixtures.ts';

const code = (c: string) => c.charCodeAt(0);

function vertices(ring: Int32Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < ring.length; i += 2) out.push([ring[i]!, ring[i + 1]!]);
  return out;
}

describe('polygonize: exact pixel-edge polygons', () => {
  it('traces a rectangle along pixel edges, shell with positive area', () => {
    const polys = polygonizeMask(gridMask(`
      ....
      .aa.
      .aa.
      .aa.
    `));
    expect(polys).toHaveLength(1);
    expect(polys[0]!.value).toBe(code('a'));
    expect(polys[0]!.rings).toHaveLength(1);
    const ring = polys[0]!.rings[0]!;
    expect(new Set(vertices(ring).map((v) => v.join(',')))).toEqual(new Set(['1,1', '3,1', '3,4', '1,4']));
    expect(ringArea2(ring) / 2).toBe(6);
  });

  it('gives a region around another a hole, and the inner region its own polygon', () => {
    const polys = polygonizeMask(gridMask(`
      aaaa
      abba
      aaaa
    `));
    const a = polys.find((p) => p.value === code('a'))!;
    const b = polys.find((p) => p.value === code('b'))!;
    expect(polys).toHaveLength(2);
    expect(a.rings).toHaveLength(2);
    expect(ringArea2(a.rings[0]!) / 2).toBe(12);
    expect(ringArea2(a.rings[1]!) / 2).toBe(-2);
    expect(b.rings).toHaveLength(1);
    expect(ringArea2(b.rings[0]!) / 2).toBe(2);
  });

  it('keeps diagonal pixels apart (4-connectivity, like gdal_polygonize)', () => {
    const polys = polygonizeMask(gridMask(`
      a.
      .a
    `));
    expect(polys).toHaveLength(2);
    for (const p of polys) expect(ringArea2(p.rings[0]!) / 2).toBe(1);
  });

  it('merges branches that join further down into one polygon', () => {
    const polys = polygonizeMask(gridMask(`
      a.a.a
      a.a.a
      a.a.a
      aaaaa
    `));
    expect(polys).toHaveLength(1);
    expect(polys[0]!.rings).toHaveLength(1);
    expect(ringArea2(polys[0]!.rings[0]!) / 2).toBe(14);
  });

  it('splits a region touching itself at a corner into shell and holes that only touch (valid OGC)', () => {
    // 'a' surrounds two diagonal 'b' pixels: its two holes touch at the saddle corner (2,2).
    const polys = polygonizeMask(gridMask(`
      aaaa
      abaa
      aaba
      aaaa
    `));
    const a = polys.find((p) => p.value === code('a'))!;
    expect(polys).toHaveLength(3);
    expect(a.rings).toHaveLength(3);
    expect(polygonInvalidity(toGeoJsonPolygon(a.rings).coordinates)).toBeNull();
  });

  it('handles one-pixel-wide and one-pixel-tall masks', () => {
    expect(polygonizeMask(gridMask('aab.a'))).toHaveLength(3);
    expect(polygonizeMask(gridMask('a\na\nb\n.\nb'))).toHaveLength(3);
  });

  it('gives nothing for a mask without a valid pixel', () => {
    expect(polygonizeMask(gridMask('...\n...'))).toEqual([]);
  });
});

function checkAgainstFloodFill(mask: Mask): void {
  const polys = polygonizeMask(mask);
  const { labels, sizes, values } = components(mask);
  expect(polys.length).toBe(sizes.length);
  const seen = new Set<number>();
  for (const p of polys) {
    const covered = coveredPixels(p, mask.width, mask.height);
    const label = labels[covered[0]!]!;
    expect(label).toBeGreaterThanOrEqual(0);
    expect(seen.has(label)).toBe(false);
    seen.add(label);
    expect(values[label]).toBe(p.value);
    expect(covered.length).toBe(sizes[label]);
    expect(covered.every((i) => labels[i] === label)).toBe(true);
    expect(ringArea2(p.rings[0]!)).toBeGreaterThan(0);
    let area = 0;
    p.rings.forEach((ring, i) => {
      if (i > 0) expect(ringArea2(ring)).toBeLessThan(0);
      area += ringArea2(ring) / 2;
      const n = ring.length;
      for (let k = 0; k < n; k += 2) {
        const j = (k + 2) % n;
        // Pixel edges: every segment is horizontal or vertical.
        expect(ring[k] === ring[j] || ring[k + 1] === ring[j + 1]).toBe(true);
      }
    });
    expect(area).toBe(sizes[label]);
    expect(polygonInvalidity(toGeoJsonPolygon(p.rings).coordinates)).toBeNull();
  }
}

describe('polygonize: brute-force comparison on random masks', () => {
  it.each([1, 2, 3, 4])('blob mask seed %i (with nodata)', (seed) => {
    checkAgainstFloodFill(blobMask(37, 29, seed, 4, 0.06, seed % 2 ? 0.15 : 0));
  });

  it.each([5, 6, 7])('noise mask seed %i (saddles everywhere)', (seed) => {
    checkAgainstFloodFill(noiseMask(23, 19, seed, 2));
  });

  it('a tall snake crossing many rows stays one polygon', () => {
    const rows: string[] = [];
    for (let y = 0; y < 60; y++) rows.push(y % 4 === 1 ? 'bbbbbbba' : y % 4 === 3 ? 'abbbbbbb' : 'aaaaaaaa');
    const polys = polygonizeMask(gridMask(rows.join('\n')));
    expect(polys.filter((p) => p.value === code('a'))).toHaveLength(1);
  });
});

describe('polygonize: memory follows the open boundary', () => {
  it.each([0, 1.5])('recycles everything of closed regions (tolerance %f), however many rows', (tolerance) => {
    const tile = blobMask(64, 40, 3, 4, 0.05);
    let polygons = 0;
    const p = new StripPolygonizer(64, 40 * 25, { tolerance, bandHeight: 16 }, () => { polygons++; });
    let peak = 0;
    for (let rep = 0; rep < 25; rep++) {
      for (let y = 0; y < 40; y++) p.pushRow(tile.codes, y * 64);
      peak = Math.max(peak, p.openSize.vertices);
    }
    p.finish();
    expect(polygons).toBeGreaterThan(25 * 10);
    expect(p.openSize).toEqual({ arcs: 0, vertices: 0, labels: 0 });
    // 1000 rows of busy mask, yet never more open vertices than a few tiles' worth.
    expect(peak).toBeLessThan(64 * 40);
  });
});
