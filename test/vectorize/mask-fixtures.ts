/**
 * Synthetic class masks and brute-force references for the vectorize tests: a 4-connected flood
 * fill says what the regions are, and a point-in-polygon test of every pixel centre says what a
 * polygon covers. Anything clever in the polygonizer is checked against these simple answers.
 */
import { StripPolygonizer, INVALID, type RegionPolygon } from '../../server/src/vectorize/polygonize.ts';
import { seededRandom } from '../fixtures/seeded-random.ts';

export interface Mask {
  width: number;
  height: number;
  /** Class codes, row-major; INVALID for no class. */
  codes: Int32Array;
}

/** A mask from ASCII art: one character per pixel, '.' = no class, anything else = its char code. */
export function gridMask(art: string): Mask {
  const rows = art.split('\n').map((r) => r.trim()).filter(Boolean);
  const width = rows[0]!.length;
  const codes = new Int32Array(width * rows.length);
  rows.forEach((row, y) => {
    if (row.length !== width) throw new Error('ragged mask art');
    for (let x = 0; x < width; x++) codes[y * width + x] = row[x] === '.' ? INVALID : row.charCodeAt(x);
  });
  return { width, height: rows.length, codes };
}


/**
 * Smooth blobs of `classes` classes with a sprinkle of single-pixel noise (which makes saddles,
 * one-pixel islands and holes); `nodataShare` of the pixels become INVALID in blobs of their own.
 */
export function blobMask(width: number, height: number, seed: number, classes = 4, noise = 0.05, nodataShare = 0): Mask {
  const rand = seededRandom(seed);
  const centres = Array.from({ length: classes * 3 + 2 }, () => [rand() * width, rand() * height, Math.floor(rand() * classes)] as const);
  const codes = new Int32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let best = Infinity;
      let cls = 0;
      for (const [cx, cy, c] of centres) {
        const d = (x - cx) ** 2 + (y - cy) ** 2 + 40 * Math.sin((x + seed) / 3.7) * Math.cos(y / 4.3);
        if (d < best) { best = d; cls = c; }
      }
      if (rand() < noise) cls = Math.floor(rand() * classes);
      codes[y * width + x] = cls;
    }
  }
  if (nodataShare > 0) {
    const cx = rand() * width;
    const cy = rand() * height;
    const r = Math.sqrt((nodataShare * width * height) / Math.PI);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if ((x - cx) ** 2 + (y - cy) ** 2 < r * r) codes[y * width + x] = INVALID;
  }
  return { width, height, codes };
}

/** Uniform random classes: the worst case for saddles and tiny regions. */
export function noiseMask(width: number, height: number, seed: number, classes = 3): Mask {
  const rand = seededRandom(seed);
  const codes = new Int32Array(width * height);
  for (let i = 0; i < codes.length; i++) {
    const v = Math.floor(rand() * (classes + 1));
    codes[i] = v === classes ? INVALID : v;
  }
  return { width, height, codes };
}

/** 4-connected components: a label per pixel (-1 for INVALID) and the pixel count per label. */
export function components(mask: Mask): { labels: Int32Array; sizes: number[]; values: number[] } {
  const { width, height, codes } = mask;
  const labels = new Int32Array(width * height).fill(-1);
  const sizes: number[] = [];
  const values: number[] = [];
  const stack: number[] = [];
  for (let i = 0; i < codes.length; i++) {
    if (labels[i] !== -1 || codes[i] === INVALID) continue;
    const id = sizes.length;
    let size = 0;
    labels[i] = id;
    stack.push(i);
    while (stack.length) {
      const p = stack.pop()!;
      size++;
      const x = p % width;
      const y = (p - x) / width;
      for (const [nx, ny] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]] as const) {
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const q = ny * width + nx;
        if (labels[q] === -1 && codes[q] === codes[i]) { labels[q] = id; stack.push(q); }
      }
    }
    sizes.push(size);
    values.push(codes[i]!);
  }
  return { labels, sizes, values };
}

export function polygonizeMask(mask: Mask, tolerance = 0, bandHeight?: number): RegionPolygon[] {
  const out: RegionPolygon[] = [];
  const p = new StripPolygonizer(mask.width, mask.height, { tolerance, bandHeight }, (poly) => out.push(poly));
  for (let y = 0; y < mask.height; y++) p.pushRow(mask.codes, y * mask.width);
  p.finish();
  return out;
}

/** Pixels whose centres lie inside the polygon (even-odd over all its rings). */
export function coveredPixels(poly: { rings: ArrayLike<number>[] }, width: number, height: number): number[] {
  const covered: number[] = [];
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let i = 0; i < poly.rings[0]!.length; i += 2) {
    minX = Math.min(minX, poly.rings[0]![i]!); maxX = Math.max(maxX, poly.rings[0]![i]!);
    minY = Math.min(minY, poly.rings[0]![i + 1]!); maxY = Math.max(maxY, poly.rings[0]![i + 1]!);
  }
  for (let y = Math.max(0, Math.floor(minY)); y < Math.min(height, Math.ceil(maxY)); y++) {
    for (let x = Math.max(0, Math.floor(minX)); x < Math.min(width, Math.ceil(maxX)); x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      let inside = false;
      for (const ring of poly.rings) {
        const n = ring.length;
        for (let i = 0, j = n - 2; i < n; j = i, i += 2) {
          const xi = ring[i]!, yi = ring[i + 1]!, xj = ring[j]!, yj = ring[j + 1]!;
          if ((yi > py) !== (yj > py) && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
        }
      }
      if (inside) covered.push(y * width + x);
    }
  }
  return covered;
}

/** Planar area: shell minus holes (rings as flat [x, y, ...], any orientation). */
export function planarArea(rings: ArrayLike<number>[]): number {
  return rings.reduce((sum, ring, i) => {
    let s = 0;
    for (let k = 0, j = ring.length - 2; k < ring.length; j = k, k += 2) s += ring[j]! * ring[k + 1]! - ring[k]! * ring[j + 1]!;
    return sum + (i === 0 ? 1 : -1) * Math.abs(s / 2);
  }, 0);
}

/** A GeoJSON polygon from flat rings (closed), for turf. */
export function toGeoJsonPolygon(rings: ArrayLike<number>[]): { type: 'Polygon'; coordinates: number[][][] } {
  return {
    type: 'Polygon',
    coordinates: rings.map((ring) => {
      const pts: number[][] = [];
      for (let i = 0; i < ring.length; i += 2) pts.push([ring[i]!, ring[i + 1]!]);
      pts.push([ring[0]!, ring[1]!]);
      return pts;
    }),
  };
}
