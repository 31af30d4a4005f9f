/**
 * Geodesy, once: units of a CRS, its ellipsoid, the area of pixels and pixel-edge polygons, ground
 * resolution and the web-map zoom for a resolution. Class statistics, polygon areas and TileJSON
 * zooms all come from here, so stats.json and polygon area_m2 agree, and one TileJSON never
 * reports two maxzooms.
 *
 * Areas are measured where they are true. Projected CRS: planar area in the CRS's own units,
 * converted with its unit size, as GIS tools report it, where the projection's area scale is within
 * 1 % of 1 over the grid (UTM, state planes, equal-area projections). Where it is not (polar
 * stereographic away from its true-scale latitude: +25 % at 47° N in EPSG:3413; an equirectangular
 * grid far from the equator; a wide conic), each row's pixels are weighed by the ground area of a
 * pixel at the row's middle, measured through the projection. Geographic CRS, and normal-aspect Mercator
 * (Web Mercator's plane doubles areas at 45°): exact ellipsoidal area. Their pixel edges run along
 * meridians and parallels, and both stay straight in the ellipsoid's cylindrical equal-area
 * projection, so the shoelace area there is the exact ellipsoidal area of a pixel-edge polygon (a
 * sphere would be off by ~0.7 % at the equator); simplified diagonals differ from geodesics by far
 * less than a pixel.
 *
 * The common ellipsoids and units are read straight from the proj4 definition; proj4 itself (a
 * tenth of a second to load) is only loaded for anything else.
 */
import type { Crs, GeoTransform } from './raster.ts';
import { MAX_ZOOM, Z0_RESOLUTION } from './web-mercator.ts';
import { proj4Library } from './proj4-library.ts';

/** Absolute area (m²) of one ring of pixel corners [col0, row0, col1, row1, ...]. */
export type PixelRingArea = (ring: Int32Array) => number;

// Semi-major axis and inverse flattening (0 = sphere).
const ELLIPSOIDS: Record<string, [number, number]> = {
  WGS84: [6378137, 298.257223563], GRS80: [6378137, 298.257222101], WGS72: [6378135, 298.26],
  intl: [6378388, 297], bessel: [6377397.155, 299.1528128], krass: [6378245, 298.3],
  clrk66: [6378206.4, 294.978698213898], clrk80: [6378249.145, 293.4663], airy: [6377563.396, 299.3249646],
};
const DATUM_ELLIPSOIDS: Record<string, string> = { WGS84: 'WGS84', NAD83: 'GRS80', NAD27: 'clrk66', potsdam: 'bessel', OSGB36: 'airy' };
const UNITS: Record<string, number> = { m: 1, km: 1000, cm: 0.01, ft: 0.3048, 'us-ft': 1200 / 3937, yd: 0.9144, mi: 1609.344 };

function param(def: string, key: string): string | undefined {
  return new RegExp(`\\+${key}=(\\S+)`).exec(def)?.[1];
}

/** [a, e²] of a proj4 definition, when it uses a common form. */
export function ellipsoidOf(def: string): [number, number] | null {
  const R = param(def, 'R');
  if (R) return [Number(R), 0];
  const a = param(def, 'a');
  if (a) {
    const b = param(def, 'b');
    const rf = param(def, 'rf');
    if (b) return [Number(a), 1 - (Number(b) / Number(a)) ** 2];
    if (rf) { const f = 1 / Number(rf); return [Number(a), 2 * f - f * f]; }
    return [Number(a), 0];
  }
  const name = param(def, 'ellps') ?? DATUM_ELLIPSOIDS[param(def, 'datum') ?? ''] ?? (/\+(ellps|datum)=/.test(def) ? undefined : 'WGS84');
  const e = name ? ELLIPSOIDS[name] : undefined;
  if (!e) return null;
  const f = 1 / e[1];
  return [e[0], 2 * f - f * f];
}

/** Metres per CRS unit from a proj4 definition; null for a unit we do not know. */
export function unitOf(def: string): number | null {
  const toMeter = param(def, 'to_meter');
  if (toMeter) return Number(toMeter);
  return UNITS[param(def, 'units') ?? 'm'] ?? null;
}

/** Metres per CRS unit of a projected CRS (1 for metres; feet and custom units from proj4). */
export function metresPerUnit(crs: { proj4: string }): number {
  return unitOf(crs.proj4) ?? 1;
}

async function crsMetrics(crs: Crs): Promise<{ unit: number; ellipsoid: [number, number] }> {
  let ellipsoid = crs.geographic ? ellipsoidOf(crs.proj4) : null;
  let unit = crs.geographic ? 1 : unitOf(crs.proj4);
  if ((crs.geographic && !ellipsoid) || unit === null) {
    const proj = proj4Library().Proj(crs.proj4) as unknown as { a: number; es: number; to_meter?: number };
    ellipsoid = [proj.a, proj.es];
    unit = proj.to_meter ?? 1;
  }
  return { unit: unit!, ellipsoid: ellipsoid ?? [6378137, 0.0066943799901413165] };
}

/**
 * Normal-aspect Mercator (EPSG:3857, World Mercator): a north-up raster's pixel edges are meridians
 * and parallels, as in lon/lat, but its plane exaggerates areas by 1/cos² of the latitude (2x at
 * 45°, 4x at 60°), so its areas are measured on the ellipsoid like lon/lat ones.
 */
export function isMercator(crs: { geographic: boolean; proj4: string }): boolean {
  return !crs.geographic && /\+proj=merc\b/.test(crs.proj4);
}

/** Whether a CRS's pixel edges are meridians and parallels (lon/lat, normal-aspect Mercator). */
function graticular(crs: { geographic: boolean; proj4: string }): boolean {
  return crs.geographic || isMercator(crs);
}

/** Beyond this departure of a projection's area scale from 1 over a grid, areas are weighed by it. */
const AREA_SCALE_TOLERANCE = 0.01;

/**
 * Ground area of a pixel at (col, row) over its area in the CRS's plane, through the projection:
 * the cross product of its two sides on the WGS 84 ellipsoid, in metres. NaN where it cannot be
 * measured (outside the projection's domain).
 */
function areaScaleAt(toLonLat: (p: [number, number]) => [number, number], gt: GeoTransform, unit: number, col: number, row: number): number {
  const at = (c: number, r: number) => toLonLat([gt[0] + c * gt[1] + r * gt[2], gt[3] + c * gt[4] + r * gt[5]]);
  const [lon, lat] = at(col, row);
  const perDegree = metresPerDegree(lat);
  const side = ([lon1, lat1]: [number, number]) => [((((lon1 - lon) % 360) + 540) % 360 - 180) * perDegree.lon, (lat1 - lat) * perDegree.lat] as const;
  const [ex, ey] = side(at(col + 1, row));
  const [nx, ny] = side(at(col, row + 1));
  return Math.abs(ex * ny - ey * nx) / (Math.abs(gt[1] * gt[5]) * unit * unit);
}

/**
 * A projected grid whose area scale departs from 1 by more than AREA_SCALE_TOLERANCE somewhere
 * (sampled at its corners, edge middles and centre), as an equal-area grid: each row's y advanced
 * by its pixel's ground area at the row's middle column, in blocks of rows. Null where planar
 * areas are true enough, or the projection cannot be inverted there.
 */
async function scaledProjectedGrid(gt: GeoTransform, size: { width: number; height: number }, crs: Crs): Promise<EqualAreaGrid | null> {
  if (graticular(crs)) return null;
  let toLonLat: (p: [number, number]) => [number, number];
  try {
    const converter = proj4Library()(crs.proj4, '+proj=longlat +datum=WGS84 +no_defs') as unknown as { forward: (p: [number, number]) => [number, number] };
    toLonLat = (p) => converter.forward(p);
  } catch {
    return null;
  }
  const { unit } = await crsMetrics(crs);
  const { width, height } = size;
  const scale = (col: number, row: number) => {
    try {
      return areaScaleAt(toLonLat, gt, unit, col, row);
    } catch {
      return Number.NaN;
    }
  };
  const probes = [0, 0.5, 1].flatMap((fx) => [0, 0.5, 1].map((fy) => scale(fx * Math.max(0, width - 1), fy * Math.max(0, height - 1))));
  if (probes.some((v) => !Number.isFinite(v) || v <= 0) || probes.every((v) => Math.abs(v - 1) <= AREA_SCALE_TOLERANCE)) return null;
  // Blocks of rows share one scale: at most 512 transforms, and within a block the scale changes by
  // far less than the tolerance.
  const step = Math.max(1, Math.ceil(height / 512));
  const blocks = Math.ceil(height / step);
  const middle = Math.max(0, width - 1) / 2;
  const blockScale = Float64Array.from({ length: blocks }, (_, b) => scale(middle, Math.min(height - 1, b * step + step / 2)));
  if (blockScale.some((v) => !Number.isFinite(v) || v <= 0)) return null;
  const rowHeight = Math.abs(gt[5]) * unit;
  const before = new Float64Array(blocks + 1);
  for (let b = 0; b < blocks; b++) before[b + 1] = before[b]! + step * blockScale[b]! * rowHeight;
  return {
    xPerColumn: Math.abs(gt[1]) * unit,
    yOfRow: (row) => {
      const b = Math.min(blocks - 1, Math.max(0, Math.floor(row / step)));
      return before[b]! + (row - b * step) * blockScale[b]! * rowHeight;
    },
  };
}

/** How a CRS's areas are measured when the grid is not known: on the ellipsoid, or in its plane. */
export function areaMethod(crs: { geographic: boolean; proj4: string }): 'geodesic' | 'projected' {
  return graticular(crs) ? 'geodesic' : 'projected';
}

/**
 * How a grid's areas are measured: 'geodesic' (on the ellipsoid: lon/lat, Mercator, and projected
 * grids whose area scale departs from 1 by over 1 %, weighed row by row) or 'projected' (in the
 * CRS's plane).
 */
export async function gridAreaMethod(gt: GeoTransform, size: { width: number; height: number }, crs: Crs): Promise<'geodesic' | 'projected'> {
  return graticular(crs) || (await scaledProjectedGrid(gt, size, crs)) ? 'geodesic' : 'projected';
}

/**
 * A north-up grid whose pixel edges are meridians and parallels, seen in the ellipsoid's
 * cylindrical equal-area projection: x of a column step (m) and the authalic y (m) of each row's
 * top edge, where a pixel-edge polygon's shoelace area is its ellipsoidal area. Not cached here:
 * pixelAreaFunction keeps the rows it uses.
 */
interface EqualAreaGrid {
  xPerColumn: number;
  yOfRow: (row: number) => number;
}

async function equalAreaGrid(gt: GeoTransform, crs: Crs): Promise<EqualAreaGrid> {
  const toRad = Math.PI / 180;
  let ellipsoid: [number, number];
  let latOfRow: (row: number) => number;
  let lonPerColumn: number;
  if (crs.geographic) {
    ellipsoid = (await crsMetrics(crs)).ellipsoid;
    latOfRow = (row) => gt[3] + row * gt[5];
    lonPerColumn = gt[1];
  } else {
    // Mercator: longitude is linear in x and latitude a function of y alone; proj4 inverts both.
    const toLonLat = proj4Library()(crs.proj4) as unknown as { inverse: (p: [number, number]) => [number, number] };
    latOfRow = (row) => toLonLat.inverse([gt[0], gt[3] + row * gt[5]])[1];
    const [lon0] = toLonLat.inverse([gt[0], gt[3]]);
    const [lon1] = toLonLat.inverse([gt[0] + gt[1], gt[3]]);
    lonPerColumn = ((((lon1 - lon0) % 360) + 540) % 360) - 180;
    // EPSG:3857 does spherical arithmetic on WGS 84 coordinates: its areas are WGS 84's.
    const spherical = ellipsoidOf(crs.proj4)?.[1] === 0;
    ellipsoid = crs.epsg === 3857 || (spherical && /\+nadgrids=@null\b/.test(crs.proj4)) ? [6378137, 0.0066943799901413165] : (await crsMetrics({ ...crs, geographic: true })).ellipsoid;
  }
  const [a, es] = ellipsoid;
  const q = authalic(es);
  return { xPerColumn: a * lonPerColumn * toRad, yOfRow: (row) => (a * q(latOfRow(row) * toRad)) / 2 };
}

/**
 * The area (m²) of one pixel in each row of a north-up raster: constant for a projected CRS whose
 * scale is near 1, the ground area at the row's middle where it is not, the exact ellipsoidal area
 * of the row's cell for a geographic or Mercator one.
 */
export async function rowPixelAreaFunction(gt: GeoTransform, size: { width: number; height: number }, crs: Crs): Promise<(row: number) => number> {
  const scaled = await scaledProjectedGrid(gt, size, crs);
  if (!scaled && !graticular(crs)) {
    const { unit } = await crsMetrics(crs);
    const perPixel = Math.abs(gt[1] * gt[5]) * unit * unit;
    return () => perPixel;
  }
  const { xPerColumn, yOfRow } = scaled ?? await equalAreaGrid(gt, crs);
  const width = Math.abs(xPerColumn);
  return (row) => width * Math.abs(yOfRow(row + 1) - yOfRow(row));
}

/**
 * The area (m²) of a ring of pixel corners [col0, row0, col1, row1, ...] of a north-up raster.
 * Working in pixel space keeps it exact and cheap: a projected area is the pixel shoelace times the
 * pixel size; an ellipsoidal one needs the authalic y of each row, computed once per row.
 */
export async function pixelAreaFunction(gt: GeoTransform, size: { width: number; height: number }, crs: Crs): Promise<PixelRingArea> {
  const { height } = size;
  const scaled = await scaledProjectedGrid(gt, size, crs);
  if (!scaled && !graticular(crs)) {
    const { unit } = await crsMetrics(crs);
    const perPixel = Math.abs(gt[1] * gt[5]) * unit * unit;
    return (ring) => (Math.abs(ringArea2(ring)) / 2) * perPixel;
  }
  const { xPerColumn, yOfRow } = scaled ?? await equalAreaGrid(gt, crs);
  const rowY = new Float64Array(height + 1).fill(Number.NaN);
  const yOf = (row: number) => {
    if (row < 0 || row > height) return yOfRow(row);
    let y = rowY[row]!;
    if (Number.isNaN(y)) {
      y = yOfRow(row);
      rowY[row] = y;
    }
    return y;
  };
  return (ring) => {
    const n = ring.length;
    let s = 0;
    const x0 = ring[0]!;
    const y0 = yOf(ring[1]!);
    let px = 0;
    let py = 0;
    for (let i = 2; i < n; i += 2) {
      const x = (ring[i]! - x0) * xPerColumn;
      const y = yOf(ring[i + 1]!) - y0;
      s += px * y - x * py;
      px = x;
      py = y;
    }
    return Math.abs(s / 2);
  };
}

/** Twice the signed shoelace area of a ring in (col, row) space. */
export function ringArea2(ring: Int32Array | Float64Array): number {
  const n = ring.length;
  let s = 0;
  let px = ring[n - 2]!;
  let py = ring[n - 1]!;
  for (let i = 0; i < n; i += 2) {
    const x = ring[i]!;
    const y = ring[i + 1]!;
    s += px * y - x * py;
    px = x;
    py = y;
  }
  return s;
}

/** Signed shoelace area, taken relative to the first vertex so large coordinates keep precision. */
export function shoelace(ring: Float64Array): number {
  const n = ring.length;
  if (n < 6) return 0;
  const x0 = ring[0]!;
  const y0 = ring[1]!;
  let s = 0;
  let px = 0;
  let py = 0;
  for (let i = 2; i < n; i += 2) {
    const x = ring[i]! - x0;
    const y = ring[i + 1]! - y0;
    s += px * y - x * py;
    px = x;
    py = y;
  }
  return s / 2;
}

/**
 * Metres per degree of longitude and of latitude at a latitude, on the WGS 84 ellipsoid (the
 * radii of curvature of the parallel and the meridian). Other ellipsoids differ by under 1e-4.
 */
function metresPerDegree(lat: number): { lon: number; lat: number } {
  const a = 6378137;
  const es = 0.0066943799901413165;
  const phi = (lat * Math.PI) / 180;
  const w = 1 - es * Math.sin(phi) ** 2;
  const toRad = Math.PI / 180;
  return { lon: ((a * Math.cos(phi)) / Math.sqrt(w)) * toRad, lat: ((a * (1 - es)) / w ** 1.5) * toRad };
}

/**
 * Ground width and height of a pixel in metres, at the scene's centre: a lon/lat pixel of square
 * degrees is about cos(latitude) as wide as it is tall, and a projected one is square on the ground
 * only where the projection is conformal and its scale near 1 (not an equirectangular or
 * sinusoidal grid far from the equator, nor Web Mercator, whose metres shrink to half at 60°), so
 * its sides are measured through the projection.
 */
export function groundPixelMetres(gt: GeoTransform, size: { width: number; height: number }, crs: { geographic: boolean; proj4: string }): { x: number; y: number } {
  if (crs.geographic) {
    const perDegree = metresPerDegree(gt[3] + (size.height / 2) * gt[5]);
    return { x: Math.abs(gt[1]) * perDegree.lon, y: Math.abs(gt[5]) * perDegree.lat };
  }
  const unit = metresPerUnit(crs);
  const square = { x: Math.abs(gt[1]) * unit, y: Math.abs(gt[5]) * unit };
  try {
    const toLonLat = proj4Library()(crs.proj4, '+proj=longlat +datum=WGS84 +no_defs');
    const cx = gt[0] + (size.width / 2) * gt[1];
    const cy = gt[3] + (size.height / 2) * gt[5];
    const [lon, lat] = toLonLat.forward([cx, cy]) as [number, number];
    const perDegree = metresPerDegree(lat);
    const metres = ([x, y]: number[]) => {
      const [lon1, lat1] = toLonLat.forward([x!, y!]) as [number, number];
      return Math.hypot((lon1 - lon) * perDegree.lon, (lat1 - lat) * perDegree.lat);
    };
    const ground = { x: metres([cx + gt[1], cy]), y: metres([cx, cy + gt[5]]) };
    if (!(Number.isFinite(ground.x) && Number.isFinite(ground.y) && ground.x > 0 && ground.y > 0)) return square;
    // Within 2 % the CRS's own metres are kept: UTM and state planes (scale within 0.1 % of 1 in
    // their zones) then give the pixel size their users know, not 4.99 m for 5 m.
    const near = (g: number, n: number) => Math.abs(g / n - 1) < 0.02;
    return near(ground.x, square.x) && near(ground.y, square.y) ? square : ground;
  } catch {
    return square;
  }
}

/** The web-map zoom whose ground resolution at `lat` is at least as fine as `metres` per pixel. */
export function zoomForResolution(metres: number, lat: number): number {
  const z = Math.log2((Z0_RESOLUTION * Math.cos((lat * Math.PI) / 180)) / Math.max(metres, 1e-6));
  return Math.max(0, Math.min(MAX_ZOOM, Math.ceil(z - 1e-6)));
}

/** The authalic function q(φ): a·q/2 is the y of the cylindrical equal-area projection. */
function authalic(es: number): (phi: number) => number {
  const e = Math.sqrt(es);
  if (e < 1e-12) return (phi) => 2 * Math.sin(phi);
  return (phi) => {
    const s = Math.sin(phi);
    return (1 - es) * (s / (1 - es * s * s) - (1 / (2 * e)) * Math.log((1 - e * s) / (1 + e * s)));
  };
}
