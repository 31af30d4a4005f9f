/**
 * The seam between raster storage and everything else. The embedded implementation reads local
 * GeoTIFFs; a remote COG or another format only has to answer these two questions.
 */
import type { PixelBlock, RasterInfo, Window } from './raster.ts';
import { GeoTiffSource } from './geotiff-source.ts';

export interface ReadOptions {
  /** 1-based band indexes, in the order wanted; all bands when omitted. */
  bands?: number[];
  /** 0 = full resolution, i = the i-th overview (window in that level's pixels). */
  level?: number;
  signal?: AbortSignal;
}

export interface RasterSource {
  readonly info: RasterInfo;
  readonly levelCount: number;
  levelSize(level: number): { width: number; height: number };
  /** Pixels of a window; parts outside the raster come back invalid (valid = 0). */
  read(window: Window, options?: ReadOptions): Promise<PixelBlock>;
  close(): Promise<void>;
}

export function openRaster(path: string): Promise<RasterSource> {
  return GeoTiffSource.open(path);
}
