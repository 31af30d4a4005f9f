/**
 * Moving coordinates between a raster's CRS and the web's (EPSG:4326 / EPSG:3857) with proj4.
 */
import type proj4 from 'proj4';
import type { Crs, GeoTransform } from './raster.ts';
import { pixelToCrs } from './georef.ts';
import { transformableProj4 } from './datum-shift.ts';
import { proj4Library } from './proj4-library.ts';
import { RasterError } from '../errors.ts';

export const WGS84 = '+proj=longlat +datum=WGS84 +no_defs';

// Callers transform with this: where a datum grid is missing, datum-shift.ts decides what to use instead.
export { transformableProj4 };

const converters = new Map<string, proj4.Converter>();

export function converter(from: string, to: string): proj4.Converter {
  const key = `${from}|${to}`;
  let c = converters.get(key);
  if (!c) {
    try {
      c = proj4Library()(from, to);
    } catch (err) {
      // proj4 refuses some definitions a file can carry (fuzzing: a geostationary projection at
      // satellite height 0 threw Error("")): the raster cannot be placed, said as such.
      const which = [from, to].find((def) => { try { proj4Library()(def); return false; } catch { return true; } }) ?? from;
      const why = (err as Error)?.message ? `: ${(err as Error).message.slice(0, 200)}` : '';
      throw new RasterError('unsupported-crs', `its CRS cannot be used: proj4 refuses ${which.slice(0, 300)}${why}`);
    }
    converters.set(key, c);
  }
  return c;
}

/** Transform a point; null where the projection is undefined (outside its domain). */
export function transformPoint(conv: proj4.Converter, x: number, y: number, inverse = false): [number, number] | null {
  try {
    const p = inverse ? conv.inverse([x, y]) : conv.forward([x, y]);
    const [px, py] = p as [number, number];
    return Number.isFinite(px) && Number.isFinite(py) ? [px, py] : null;
  } catch {
    return null;
  }
}

/**
 * Bounds [west, south, east, north] in EPSG:4326 of a raster, from its edges densified (21 points
 * per edge), so curved edges of projected rasters are not cut off. Null for non-Earth CRSs or
 * when no edge point can be placed on Earth. Longitudes are as the raster has them: a lon/lat
 * raster written past ±180 gives a box past it (normalizeLonLatBox brings it within ±180 for web
 * maps; clamped here, the part past 180 was lost).
 */
export function boundsWgs84(gt: GeoTransform, width: number, height: number, crs: Crs): [number, number, number, number] | null {
  if (crs.nonEarth) return null;
  const conv = converter(transformableProj4(crs), WGS84);
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const steps = 20;
  for (let i = 0; i <= steps; i++) {
    for (const [c, r] of [[(i / steps) * width, 0], [(i / steps) * width, height], [0, (i / steps) * height], [width, (i / steps) * height]] as const) {
      const [x, y] = pixelToCrs(gt, c, r);
      const p = transformPoint(conv, x, y);
      if (!p) continue;
      w = Math.min(w, p[0]); e = Math.max(e, p[0]); s = Math.min(s, p[1]); n = Math.max(n, p[1]);
    }
  }
  if (!Number.isFinite(w)) return null;
  return [w, Math.max(-90, s), e, Math.min(90, n)];
}
