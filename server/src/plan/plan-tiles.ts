/**
 * Where the model's tiles go: the fewest tiles that cover the scene, ceil((W - overlap) / (tile -
 * overlap)) per axis. The model is the cost floor of a run, so every tile must earn its place.
 *
 * Edge pixels need context as much as tile borders do: a tile starting exactly at the scene edge
 * shows the model zero padding there, and its answers differ from a run that sees the scene go on.
 * So the edge tiles start up to half an overlap before the scene, and the part outside is filled
 * by reflecting the scene (see cut-tile.ts). That margin comes from the cover's spare pixels (n
 * tiles reach further than the scene) and, when those are too few, from the overlaps, which may
 * shrink to three quarters of the request; whatever is left over widens the overlaps evenly. All
 * neighbours along an axis overlap by the same amount (one stride), so the blend ramps, as wide as
 * that overlap, cross-fade exactly.
 *
 * `alignment` keeps every origin a multiple of it, relative to the scene's (window's) first pixel:
 * a network that halves the resolution (Dynamic World) gives different answers for a tile that
 * starts one pixel off the grid of its neighbours.
 */
import { TilePlanError } from '../errors.ts';

export interface TilePlan {
  /** Scene size in pixels. */
  width: number;
  height: number;
  /**
   * A tile's size in scene pixels along x and y: equal unless tiles are resampled to square
   * ground pixels from pixels that are not square on the ground (tile-geometry.ts).
   */
  tileWidth: number;
  tileHeight: number;
  /** The smaller of the two axes' overlaps (for display). */
  overlap: number;
  /** Overlap between neighbours along x and along y: each axis's blend ramp width. */
  overlapX: number;
  overlapY: number;
  /** Tile origins in scene pixels (may be negative or run past the edge). */
  xs: number[];
  ys: number[];
}

/** Tiles needed along one axis: the minimum cover. */
export function minimumCover(length: number, tile: number, overlap: number): number {
  return length <= tile ? 1 : Math.ceil((length - overlap) / (tile - overlap));
}

function origins(length: number, tile: number, overlap: number, align: number): number[] {
  const down = (v: number) => Math.floor(v / align) * align;
  if (length <= tile) {
    // One tile holds the scene: centre it so both sides get the same reflected context.
    return [down(-Math.floor((tile - length) / 2)) || 0];
  }
  for (let n = minimumCover(length, tile, overlap); ; n++) {
    const spare = n * tile - (n - 1) * overlap - length;
    const borrowable = (n - 1) * Math.floor(overlap / 4);
    const margin = Math.min(overlap / 2, (spare + borrowable) / 2);
    // One stride for all, a multiple of the alignment, so every overlap is the same and the blend
    // ramps cross-fade exactly; what does not divide evenly goes to the edge margins.
    let stride = down((length + 2 * margin - tile) / (n - 1));
    if ((n - 1) * stride + tile < length) stride += align;
    const slack = (n - 1) * stride + tile - length;
    const first = -down(slack / 2);
    const shared = tile - stride;
    if (stride > 0 && shared >= Math.ceil(overlap / 2)) return Array.from({ length: n }, (_, i) => first + i * stride);
    if (n > length) throw new TilePlanError(`cannot tile ${length} px with ${tile} px tiles`);
  }
}

/** The overlap between neighbouring origins (the requested one when there is one tile). */
function sharedPixels(starts: number[], tile: number, requested: number): number {
  return starts.length > 1 ? tile - (starts[1]! - starts[0]!) : requested;
}

/**
 * The plan for a scene. `tile` and `overlap` are one size for both axes, or one per axis
 * ({ width, height } and { x, y }); every check applies to each axis. `minTile`: the smallest
 * tile (16 px for tiles the model sees as they are; a resampled tile's scene span may be less).
 */
export function planTiles(width: number, height: number, tile: number | { width: number; height: number }, overlap: number | { x: number; y: number }, alignment = 1, minTile = 16): TilePlan {
  const tiles = typeof tile === 'number' ? { width: tile, height: tile } : tile;
  const overlaps = typeof overlap === 'number' ? { x: overlap, y: overlap } : overlap;
  const axes: Array<[number, number]> = [[tiles.width, overlaps.x], [tiles.height, overlaps.y]];
  for (const [t, o] of axes) {
    if (!Number.isInteger(t) || t < minTile) throw new TilePlanError(`tile size must be an integer of at least ${minTile} px (got ${t})`);
    if (!Number.isInteger(o) || o < 0) throw new TilePlanError(`overlap must be a non-negative integer (got ${o})`);
    if (o * 2 >= t) throw new TilePlanError(`overlap (${o} px) must be less than half the tile size (${t} px)`);
    if (!Number.isInteger(alignment) || alignment < 1 || t % alignment !== 0) throw new TilePlanError(`tile size ${t} must be a multiple of the model's input alignment ${alignment}`);
  }
  if (width < 1 || height < 1) throw new TilePlanError('the scene is empty');
  const xs = origins(width, tiles.width, overlaps.x, alignment);
  const ys = origins(height, tiles.height, overlaps.y, alignment);
  // The blend ramps span the overlap the tiles really have, on each axis.
  const overlapX = sharedPixels(xs, tiles.width, overlaps.x);
  const overlapY = sharedPixels(ys, tiles.height, overlaps.y);
  return { width, height, tileWidth: tiles.width, tileHeight: tiles.height, overlap: Math.min(overlapX, overlapY), overlapX, overlapY, xs, ys };
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
