/**
 * The vocabulary every stage shares: a raster's description and a window of its pixels.
 * Pixels always travel with their validity mask and georeferencing (like rio-tiler's ImageData),
 * so no stage downstream needs to ask where they came from.
 */

export type DType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64';

export type TypedArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/** GDAL order: [originX, pixelWidth, rowRotation, originY, colRotation, pixelHeight]. */
export type GeoTransform = [number, number, number, number, number, number];

export interface Window {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Crs {
  /** EPSG code when the file names one. */
  epsg?: number;
  /** A proj4 definition; always present so any stage can reproject. */
  proj4: string;
  /** Human-readable name (from the EPSG registry or the GeoTIFF citation). */
  name: string;
  /** True for geographic (lon/lat) coordinate systems. */
  geographic: boolean;
  /** True for bodies other than Earth (reprojecting to Web Mercator makes no sense there). */
  nonEarth?: boolean;
  /** Set when the definition's datum shift needs a grid we lack: what we do instead, to show users. */
  datumShift?: DatumShift;
  /** The GeoTIFF GeoKey tags it was read from, so a writer can copy the CRS exactly. */
  geoKeys?: GeoKeyTags;
}

/** The fallback for a datum grid that is not available (decided in datum-shift.ts). */
export interface DatumShift {
  /** 'helmert': the datum's published towgs84; 'none': no datum shift (PROJ's "ballpark"). */
  kind: 'helmert' | 'none';
  /** The grid files the definition names. */
  missingGrids: string[];
  towgs84?: string;
  /** One sentence for users: what is missing, what is used instead, how far off it may be. */
  note: string;
}

export interface GeoKeyTags {
  GeoKeyDirectory: number[];
  GeoDoubleParams?: number[];
  GeoAsciiParams?: string;
}

export type ColorInterp = 'gray' | 'red' | 'green' | 'blue' | 'alpha' | 'palette' | 'undefined';

export interface BandInfo {
  /** 1-based, as users and GDAL count. */
  index: number;
  description: string | null;
  colorInterp: ColorInterp;
  /**
   * The unit conversion the file declares (GDAL metadata items of role scale and offset):
   * physical value = value x scale + offset. Absent where it declares none.
   */
  scale?: number;
  offset?: number;
}

export interface OverviewInfo {
  width: number;
  height: number;
  /** Ground size of one pixel along x, in CRS units. */
  resolution: number;
}

export interface RasterInfo {
  width: number;
  height: number;
  bandCount: number;
  dtype: DType;
  nodata: number | null;
  geoTransform: GeoTransform;
  crs: Crs;
  bands: BandInfo[];
  /** Reduced-resolution levels, largest first. */
  overviews: OverviewInfo[];
  /** How invalid pixels are flagged: nodata value, an internal mask, an alpha band, or nothing. */
  maskKind: 'nodata' | 'mask' | 'alpha' | 'none';
  /** RGB colour table (0..255) for paletted bands. */
  colorMap: Array<[number, number, number]> | null;
  /** GDAL_METADATA items of the dataset (key → value). */
  metadata: Record<string, string>;
  blockWidth: number;
  blockHeight: number;
  /** Samples in one stored block: 1 where each band is stored apart (planar), else bandCount (the default). */
  blockSamples?: number;
  compression: string;
}

/** A window of pixels: band-sequential arrays plus a validity mask (1 = valid). */
export interface PixelBlock {
  window: Window;
  width: number;
  height: number;
  dtype: DType;
  /** One array per requested band, each width*height long. */
  bands: TypedArray[];
  valid: Uint8Array;
  /** The transform of this block's own top-left pixel. */
  geoTransform: GeoTransform;
  crs: Crs;
}

export function windowTransform(gt: GeoTransform, win: Window, scaleX = 1, scaleY = 1): GeoTransform {
  return [gt[0] + win.x * gt[1] * scaleX, gt[1] * scaleX, 0, gt[3] + win.y * gt[5] * scaleY, 0, gt[5] * scaleY];
}

export function bytesPerSample(dtype: DType): number {
  switch (dtype) {
    case 'uint8': case 'int8': return 1;
    case 'uint16': case 'int16': return 2;
    case 'uint32': case 'int32': case 'float32': return 4;
    case 'float64': return 8;
  }
}

export function allocate(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'uint8': return new Uint8Array(length);
    case 'int8': return new Int8Array(length);
    case 'uint16': return new Uint16Array(length);
    case 'int16': return new Int16Array(length);
    case 'uint32': return new Uint32Array(length);
    case 'int32': return new Int32Array(length);
    case 'float32': return new Float32Array(length);
    case 'float64': return new Float64Array(length);
  }
}
