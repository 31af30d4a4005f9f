/**
 * Cutting one model tile out of a band of scene rows, normalised the way the model expects.
 */
import type { PixelBlock } from '../read/raster.ts';
import { reflect } from './plan-tiles.ts';

export interface Normalisation {
  /** Raw DN → model input scale (for example 1/255). */
  scale: number;
  mean: number[];
  std: number[];
  /** Added to each channel's raw values first (band-offset.ts); none when absent. */
  offset?: number[];
}

/**
 * Fill `out` (channels x height x width, at `offset`) with the tile whose top-left scene pixel is
 * (x0, y0); `size` is its side, or its width and height. `band` holds full-width scene rows and
 * must contain every row the tile reflects onto.
 * Pixels outside the scene take the value of their mirror image inside it; invalid pixels are set
 * to the channel mean (0 after standardisation) so nodata does not look like a dark object.
 * Returns the number of valid scene pixels the tile covers (0 means: skip it).
 */
export function cutTile(band: PixelBlock, sceneWidth: number, sceneHeight: number, x0: number, y0: number, size: number | { width: number; height: number }, norm: Normalisation, out: Float32Array, offset: number): number {
  const { width, height } = typeof size === 'number' ? { width: size, height: size } : size;
  const channels = band.bands.length;
  const bandY0 = band.window.y;
  const plane = width * height;
  const colIndex = new Int32Array(width);
  for (let i = 0; i < width; i++) colIndex[i] = reflect(x0 + i, sceneWidth) - band.window.x;
  // ((v + offset) * scale - mean) / std as one multiply-add per value.
  const gain = norm.mean.slice(0, channels).map((_, c) => norm.scale / norm.std[c]!);
  const bias = norm.mean.slice(0, channels).map((m, c) => -m / norm.std[c]! + (norm.offset?.[c] ?? 0) * gain[c]!);
  const valid = band.valid;
  // Tiles away from the left and right edges read their columns in one run, without mirroring.
  const contiguous = x0 >= 0 && x0 + width <= sceneWidth;
  let validInside = 0;
  for (let ty = 0; ty < height; ty++) {
    const sy = y0 + ty;
    const ry = reflect(sy, sceneHeight) - bandY0;
    if (ry < 0 || ry >= band.height) throw new Error(`internal: row ${sy} (mirror ${ry + bandY0}) is not in the band read for this tile`);
    const rowBase = ry * band.width;
    // Most rows of most tiles are wholly valid: one native scan then spares a test per value.
    const base = rowBase + colIndex[0]!;
    const allValid = contiguous && valid.subarray(base, base + width).indexOf(0) < 0;
    if (sy >= 0 && sy < sceneHeight) {
      const txFrom = Math.max(0, -x0);
      const txTo = Math.min(width, sceneWidth - x0);
      if (allValid) validInside += txTo - txFrom;
      else for (let tx = txFrom; tx < txTo; tx++) validInside += valid[rowBase + colIndex[tx]!]!;
    }
    const dstRow = offset + ty * width;
    for (let c = 0; c < channels; c++) {
      const src = band.bands[c]!;
      const g = gain[c]!;
      const b = bias[c]!;
      const dst = dstRow + c * plane;
      if (allValid) {
        for (let tx = 0; tx < width; tx++) out[dst + tx] = src[base + tx]! * g + b;
      } else if (contiguous) {
        for (let tx = 0; tx < width; tx++) out[dst + tx] = valid[base + tx] === 1 ? src[base + tx]! * g + b : 0;
      } else {
        for (let tx = 0; tx < width; tx++) {
          const i = rowBase + colIndex[tx]!;
          out[dst + tx] = valid[i] === 1 ? src[i]! * g + b : 0;
        }
      }
    }
  }
  return validInside;
}

/** The scene rows [lo, hi) a tile row at y0 of height `size` reads, reflections included. */
export function rowsNeeded(y0: number, size: number, sceneHeight: number): { lo: number; hi: number } {
  let lo = Infinity;
  let hi = -Infinity;
  for (let y = y0; y < y0 + size; y++) {
    const r = reflect(y, sceneHeight);
    if (r < lo) lo = r;
    if (r > hi) hi = r;
  }
  return { lo, hi: hi + 1 };
}
