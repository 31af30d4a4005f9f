/**
 * The seam between a map tile request and the pixels: the reader warps the bands a renderer asks
 * for into a Web Mercator tile, and the renderer paints them as RGBA. Imagery and class masks are
 * styled differently (stretch vs palette) but warp the same way.
 */
import type { Resampling } from '../../read/warp-tile.ts';
import type { TileImage } from '../../read/raster-reader.ts';

export interface RgbaTile {
  size: number;
  /** size*size*4 bytes. */
  rgba: Uint8Array;
}

export interface TileRenderer {
  /** 1-based bands to warp. */
  readonly bands: number[];
  readonly resampling: Resampling;
  paint(tile: TileImage): RgbaTile;
}
