/**
 * Class masks for the change tests, written the way satseg segment writes them (a COG with
 * CLASS_NAMES / CLASS_COLORS / MODEL metadata, nodata 255), on any grid and CRS; and a brute-force
 * transition count to check the comparison against.
 */
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import type { GeoTransform } from '../../server/src/read/raster.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { seededRandom } from '../fixtures/seeded-random.ts';

export const CLASSES = ['water', 'vegetation', 'other'];
export const COLORS = ['#1f78b4', '#33a02c', '#b15928'];

export interface MaskSpec {
  width: number;
  height: number;
  geoTransform: GeoTransform;
  epsg: number;
  geographic?: boolean;
  /** Class ids row-major (255 = nodata). */
  ids: Uint8Array;
  names?: string[];
  colors?: string[];
  /** MODEL metadata; null leaves it out. */
  model?: string | null;
  /** Default 255. */
  nodata?: number;
  /** Items over the ones written from the above (e.g. a malformed CLASS_NAMES). */
  metadata?: Record<string, string>;
}

export async function writeMask(file: string, m: MaskSpec): Promise<void> {
  const names = m.names ?? CLASSES;
  const colors = m.colors ?? names.map((_, i) => COLORS[i % COLORS.length]!);
  const w = await CogWriter.create(file, {
    width: m.width,
    height: m.height,
    geoTransform: m.geoTransform,
    geoKeys: { epsg: m.epsg, geographic: m.geographic ?? false },
    nodata: m.nodata ?? 255,
    blockSize: 256,
    overviewResampling: 'mode',
    colorMap: colors.map((c) => { const v = parseInt(c.slice(1), 16); return [v >> 16, (v >> 8) & 255, v & 255] as [number, number, number]; }),
    metadata: {
      CLASS_NAMES: JSON.stringify(names),
      CLASS_COLORS: JSON.stringify(colors),
      ...(m.model === null ? {} : { MODEL: m.model ?? 'test-model' }),
      ...m.metadata,
    },
  });
  await w.writeRows(m.ids, m.height);
  await w.finish();
}

/** Smooth blobs of `classes` classes and a round hole of nodata: regions large enough to change. */
export function blobIds(width: number, height: number, seed: number, classes = 3, holeShare = 0.03): Uint8Array {
  const rand = seededRandom(seed);
  const centres = Array.from({ length: 12 }, () => [rand() * width, rand() * height, Math.floor(rand() * classes)] as const);
  const ids = new Uint8Array(width * height);
  const hx = rand() * width;
  const hy = rand() * height;
  const hr2 = (holeShare * width * height) / Math.PI;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let best = Infinity;
      let cls = 0;
      for (const [cx, cy, c] of centres) {
        const d = (x - cx) ** 2 + (y - cy) ** 2;
        if (d < best) { best = d; cls = c; }
      }
      ids[y * width + x] = (x - hx) ** 2 + (y - hy) ** 2 < hr2 ? 255 : cls;
    }
  }
  return ids;
}

export async function readAll(file: string): Promise<{ ids: Uint8Array; valid: Uint8Array; width: number; height: number; metadata: Record<string, string>; colorMap: Array<[number, number, number]> | null; geoTransform: GeoTransform; levels: number }> {
  const src = await openRaster(file);
  try {
    const { width, height } = src.info;
    const b = await src.read({ x: 0, y: 0, width, height });
    return { ids: b.bands[0] as Uint8Array, valid: b.valid, width, height, metadata: src.info.metadata, colorMap: src.info.colorMap, geoTransform: src.info.geoTransform, levels: src.levelCount };
  } finally {
    await src.close();
  }
}

/** Transition pixel counts [from][to] of two id rasters on the same grid (255 = nodata). */
export function countPairs(before: Uint8Array, after: Uint8Array, n: number): number[][] {
  const m = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < before.length; i++) {
    const f = before[i]!;
    const t = after[i]!;
    if (f < n && t < n) m[f]![t]!++;
  }
  return m;
}

/** Transition counts read back from a change mask's codes. */
export function countCodes(codes: Uint8Array, n: number): number[][] {
  const m = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (const c of codes) if (c !== 255) m[Math.floor(c / n)]![c % n]!++;
  return m;
}
