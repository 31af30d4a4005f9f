/**
 * The affine georeferencing of a GeoTIFF, read the way GDAL reads it, so that our outputs land
 * exactly where GDAL and QGIS put the input.
 */
import type { GeoTransform } from './raster.ts';
import { RasterError } from '../errors.ts';

export interface GeoTiffGeoTags {
  ModelPixelScale?: ArrayLike<number>;
  ModelTiepoint?: ArrayLike<number>;
  ModelTransformation?: ArrayLike<number>;
  /** GTRasterTypeGeoKey: 1 = PixelIsArea, 2 = PixelIsPoint. */
  rasterType?: number;
}

export function geoTransformFromTags(tags: GeoTiffGeoTags): GeoTransform {
  let gt: GeoTransform;
  if (tags.ModelTransformation && tags.ModelTransformation.length >= 8) {
    const m = tags.ModelTransformation;
    gt = [m[3]!, m[0]!, m[1]!, m[7]!, m[4]!, m[5]!];
  } else if (tags.ModelTiepoint && tags.ModelPixelScale) {
    const t = tags.ModelTiepoint;
    const s = tags.ModelPixelScale;
    if (t.length > 6) {
      throw new RasterError('gcps-only', `GCPs only, no geotransform (${t.length / 6} tie points); warp it first, e.g. gdalwarp`);
    }
    // A negative ScaleY would make the image south-up by the letter of the specification, but the
    // writers of such files meant north-up, and GDAL (without GTIFF_HONOUR_NEGATIVE_SCALEY), hence
    // QGIS, reads them so: read otherwise, a mask lay a scene's height away from its input, upside
    // down, in every GIS (probe).
    const sy = Math.abs(s[1]!);
    gt = [t[3]! - t[0]! * s[0]!, s[0]!, 0, t[4]! + t[1]! * sy, 0, -sy];
  } else if (tags.ModelTiepoint && tags.ModelTiepoint.length >= 6) {
    throw new RasterError('gcps-only', `GCPs only, no geotransform (${tags.ModelTiepoint.length / 6} tie points); warp it first, e.g. gdalwarp`);
  } else {
    throw new RasterError('no-georeference', 'not georeferenced: the file has no geotransform (ModelPixelScale/ModelTiepoint or ModelTransformation)');
  }
  if (gt[2] !== 0 || gt[4] !== 0) {
    throw new RasterError('rotated', 'rotated geotransform not supported; warp it to north-up first, e.g. gdalwarp');
  }
  if (!(gt[1] !== 0 && gt[5] !== 0 && gt.every(Number.isFinite))) {
    throw new RasterError('no-georeference', 'invalid geotransform: zero or non-finite pixel size');
  }
  // GDAL (with its default GTIFF_POINT_GEO_IGNORE=FALSE) moves a PixelIsPoint origin from the
  // pixel centre to its corner; doing the same keeps our outputs aligned with GDAL's.
  if (tags.rasterType === 2) {
    gt[0] -= gt[1] / 2;
    gt[3] -= gt[5] / 2;
  }
  return gt;
}

/** Pixel (column,row) → CRS coordinates. */
export function pixelToCrs(gt: GeoTransform, col: number, row: number): [number, number] {
  return [gt[0] + col * gt[1] + row * gt[2], gt[3] + col * gt[4] + row * gt[5]];
}

/** CRS coordinates → fractional pixel (column,row), for north-up transforms. */
export function crsToPixel(gt: GeoTransform, x: number, y: number): [number, number] {
  return [(x - gt[0]) / gt[1], (y - gt[3]) / gt[5]];
}

/**
 * For a lon/lat raster, a function moving longitudes by whole turns to within 180° of its middle;
 * for a projected one, x as it is. A lon/lat raster may be written past ±180 (0..360, or 179.9..180.1
 * across the antimeridian) while proj4 and clients give -180..180: -179.95 is the raster's 180.05.
 * Centred on the raster, the seam lies half a turn from its middle, outside any raster narrower
 * than a turn.
 */
export function longitudeWrap(info: { geoTransform: GeoTransform; width: number; crs: { geographic: boolean } }): (lon: number) => number {
  if (!info.crs.geographic) return (x) => x;
  const gt = info.geoTransform;
  const centre = gt[0] + (gt[1] * info.width) / 2;
  return (lon) => lon - 360 * Math.round((lon - centre) / 360);
}

/**
 * A lon/lat box [west, south, east, north] within -180..180 for web maps and OGC clients: moved by
 * whole turns when it lies past ±180, the whole band of latitudes when it crosses the antimeridian
 * (MapLibre clamps a box to ±180, and WMTS wants one within it).
 */
export function normalizeLonLatBox([w, s, e, n]: [number, number, number, number]): [number, number, number, number] {
  const k = Math.round((w + e) / 2 / 360);
  const [west, east] = [w - 360 * k, e - 360 * k];
  return west >= -180 && east <= 180 ? [west, s, east, n] : [-180, s, 180, n];
}

/** The bounding box [minX, minY, maxX, maxY] of a raster in its CRS. */
export function rasterBounds(gt: GeoTransform, width: number, height: number): [number, number, number, number] {
  const [x0, y0] = pixelToCrs(gt, 0, 0);
  const [x1, y1] = pixelToCrs(gt, width, height);
  return [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
}

/** Largest coordinate a projected Earth CRS gives, in any unit (metres: 40 times the equator). */
const MAX_PROJECTED = 1e9;

type PlacedInfo = { geoTransform: GeoTransform; width: number; height: number; crs: { geographic: boolean; nonEarth?: boolean } };

/** Throws (not-on-earth) when a raster's georeference cannot be on Earth (implausibleExtent). */
export function checkOnEarth(info: PlacedInfo): void {
  const implausible = implausibleExtent(info);
  if (implausible) throw new RasterError('not-on-earth', `this raster cannot be placed on Earth: ${implausible}`);
}

/**
 * Why a raster's georeference cannot be on Earth, or null: lon/lat corners beyond ±90° latitude or
 * ±540° longitude, projected corners beyond 1e9 units, or corners that are not numbers. A file with
 * 1e12 m pixels was listed with nonsense bounds and wrote Infinity into its polygons.
 */
function implausibleExtent(info: PlacedInfo): string | null {
  if (info.crs.nonEarth) return null;
  const [minX, minY, maxX, maxY] = rasterBounds(info.geoTransform, info.width, info.height);
  if (![minX, minY, maxX, maxY].every(Number.isFinite)) return 'its corners are not numbers (check its geotransform)';
  if (info.crs.geographic) {
    if (minY < -90.5 || maxY > 90.5) return `its latitudes run from ${minY.toPrecision(4)} to ${maxY.toPrecision(4)}°, beyond ±90° (check its geotransform)`;
    if (minX < -540 || maxX > 540) return `its longitudes run from ${minX.toPrecision(4)} to ${maxX.toPrecision(4)}°, beyond any wrap of ±180° (check its geotransform)`;
    return null;
  }
  const far = Math.max(Math.abs(minX), Math.abs(maxX), Math.abs(minY), Math.abs(maxY));
  return far > MAX_PROJECTED ? `its corners reach ${far.toPrecision(3)} units from the origin, beyond any projection of the Earth (check its geotransform)` : null;
}
