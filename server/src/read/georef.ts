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
    gt = [t[3]! - t[0]! * s[0]!, s[0]!, 0, t[4]! + t[1]! * s[1]!, 0, -s[1]!];
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

/** The bounding box [minX, minY, maxX, maxY] of a raster in its CRS. */
export function rasterBounds(gt: GeoTransform, width: number, height: number): [number, number, number, number] {
  const [x0, y0] = pixelToCrs(gt, 0, 0);
  const [x1, y1] = pixelToCrs(gt, width, height);
  return [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
}
