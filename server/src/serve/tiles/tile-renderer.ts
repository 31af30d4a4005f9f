/**
 * The seam between a map tile request and the pixels: a renderer turns z/x/y into RGBA.
 * Imagery and class masks are styled differently (stretch vs palette) but warp the same way.
 */
export interface RgbaTile {
  size: number;
  /** size*size*4 bytes. */
  rgba: Uint8Array;
}

export interface TileRenderer {
  /** Null when the tile does not touch the raster. */
  render(z: number, x: number, y: number, signal?: AbortSignal): Promise<RgbaTile | null>;
}
