/**
 * Where the model's tiles go.
 *
 * Tiles sit on a regular grid with a stride of (tile - overlap), starting half an overlap before
 * the scene and running past its far edge. Nothing is "snapped" back inside the scene: the parts of
 * edge tiles that fall outside are filled by reflecting the scene (see cut-tile.ts), so edge pixels
 * get real-looking context and every pair of neighbouring tiles overlaps by exactly `overlap`, which
 * is what the blending window assumes.
 */
export interface TilePlan {
  /** Scene size in pixels. */
  width: number;
  height: number;
  tile: number;
  overlap: number;
  stride: number;
  /** Tile origins in scene pixels (may be negative or run past the edge). */
  xs: number[];
  ys: number[];
}

export class TilePlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TilePlanError';
  }
}

function origins(length: number, tile: number, overlap: number, stride: number): number[] {
  const margin = Math.floor(overlap / 2);
  if (length + 2 * margin <= tile) {
    // One tile holds the scene: centre it so both sides get the same reflected context.
    return [-Math.floor((tile - length) / 2)];
  }
  const out: number[] = [];
  for (let o = -margin; ; o += stride) {
    out.push(o);
    if (o + tile >= length + margin) break;
  }
  return out;
}

export function planTiles(width: number, height: number, tile: number, overlap: number): TilePlan {
  if (!Number.isInteger(tile) || tile < 16) throw new TilePlanError(`tile size must be an integer of at least 16 px (got ${tile})`);
  if (!Number.isInteger(overlap) || overlap < 0) throw new TilePlanError(`overlap must be a non-negative integer (got ${overlap})`);
  if (overlap * 2 >= tile) throw new TilePlanError(`overlap (${overlap} px) must be less than half the tile size (${tile} px)`);
  if (width < 1 || height < 1) throw new TilePlanError('the scene is empty');
  const stride = tile - overlap;
  return { width, height, tile, overlap, stride, xs: origins(width, tile, overlap, stride), ys: origins(height, tile, overlap, stride) };
}

export function tileCount(plan: TilePlan): number {
  return plan.xs.length * plan.ys.length;
}

/** Mirror a coordinate into [0, length) without repeating the edge pixel (numpy's "reflect"). */
export function reflect(i: number, length: number): number {
  if (length === 1) return 0;
  const period = 2 * (length - 1);
  let m = i % period;
  if (m < 0) m += period;
  return m < length ? m : period - m;
}
