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
}

/**
 * Fill `out` (channels x size x size, at `offset`) with the tile whose top-left scene pixel is
 * (x0, y0). `band` holds full-width scene rows and must contain every row the tile reflects onto.
 * Pixels outside the scene take the value of their mirror image inside it; invalid pixels are set
 * to the channel mean (0 after standardisation) so nodata does not look like a dark object.
 * Returns the number of valid scene pixels the tile covers (0 means: skip it).
 */
export function cutTile(band: PixelBlock, sceneWidth: number, sceneHeight: number, x0: number, y0: number, size: number, norm: Normalisation, out: Float32Array, offset: number): number {
  const channels = band.bands.length;
  const bandY0 = band.window.y;
  const plane = size * size;
  const colIndex = new Int32Array(size);
  for (let i = 0; i < size; i++) colIndex[i] = reflect(x0 + i, sceneWidth) - band.window.x;
  let validInside = 0;
  for (let ty = 0; ty < size; ty++) {
    const sy = y0 + ty;
    const ry = reflect(sy, sceneHeight) - bandY0;
    if (ry < 0 || ry >= band.height) throw new Error(`internal: row ${sy} (mirror ${ry + bandY0}) is not in the band read for this tile`);
    const rowBase = ry * band.width;
    const insideY = sy >= 0 && sy < sceneHeight;
    for (let tx = 0; tx < size; tx++) {
      const src = rowBase + colIndex[tx]!;
      const ok = band.valid[src] === 1;
      if (ok && insideY && x0 + tx >= 0 && x0 + tx < sceneWidth) validInside++;
      const dst = offset + ty * size + tx;
      for (let c = 0; c < channels; c++) {
        out[dst + c * plane] = ok ? (band.bands[c]![src]! * norm.scale - norm.mean[c]!) / norm.std[c]! : 0;
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
