/**
 * The seam between raster formats and everything else: what a stage may ask of any raster.
 * The embedded implementation decodes GeoTIFFs (geotiff-source.ts) over a ByteSource (a local file
 * or HTTP ranges); another format only has to answer these questions. Most callers want the
 * richer vocabulary of RasterReader on top of it.
 */
import type { PixelBlock, RasterInfo, Window } from './raster.ts';

export interface ReadOptions {
  /** 1-based band indexes, in the order wanted; all bands when omitted. */
  bands?: number[];
  /** 0 = full resolution, i = the i-th overview (window in that level's pixels). */
  level?: number;
  /**
   * false: `valid` marks out only pixels outside the raster and those its mask band or alpha
   * hides, not pixels holding the nodata value. For callers that tell nodata by value themselves
   * (a class mask's nodata id is one more entry of their lookup table): a pass over every pixel
   * saved. Default true.
   */
  nodataInvalid?: boolean;
  /**
   * true: a pixel is invalid where ANY requested band holds the nodata value or NaN, as GDAL's
   * per-band masks say; for a model, which needs every band it reads (a NaN in one band went into
   * Dynamic World and came out water, spreading to its neighbours). Default: only where every band
   * does, so imagery is drawn where any band has data.
   */
  anyBandNodata?: boolean;
  signal?: AbortSignal;
}

export interface RasterSource {
  readonly info: RasterInfo;
  /** Changes when the underlying bytes do: part of every cache key derived from the pixels. */
  readonly version: string;
  readonly levelCount: number;
  levelSize(level: number): { width: number; height: number };
  /** Pixels of a window; parts outside the raster come back invalid (valid = 0). */
  read(window: Window, options?: ReadOptions): Promise<PixelBlock>;
  /**
   * Throws RasterError 'source-changed' when the bytes are no longer those it was opened on (a
   * file written over in place): what was read before and after would not be one raster.
   */
  checkUnchanged?(): Promise<void>;
  close(): Promise<void>;
}
