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
 * grid far from the equator; a wide conic), each pixel is weighed by the projection's area scale
 * where it lies, from a table of samples over the grid, and a polygon by the integral of that scale
 * over it.
 * Geographic CRS, and normal-aspect Mercator
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

/** WGS 84's semi-major axis (m) and squared eccentricity. */
const WGS84_ELLIPSOID: [number, number] = [6378137, 0.0066943799901413165];

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
  return { unit: unit!, ellipsoid: ellipsoid ?? WGS84_ELLIPSOID };
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

/** A point on the WGS 84 ellipsoid in Earth-centred Cartesian metres. */
function ecef(lon: number, lat: number): [number, number, number] {
  const [a, es] = WGS84_ELLIPSOID;
  const phi = (lat * Math.PI) / 180;
  const lam = (lon * Math.PI) / 180;
  const n = a / Math.sqrt(1 - es * Math.sin(phi) ** 2);
  return [n * Math.cos(phi) * Math.cos(lam), n * Math.cos(phi) * Math.sin(lam), n * (1 - es) * Math.sin(phi)];
}

/**
 * The ground a pixel step spans at pixel position (col, row): the vectors (m, Earth-centred) of one
 * step along the grid's columns and one along its rows, as derivatives (two steps of a hundredth of
 * a pixel). In Earth-centred coordinates there is no longitude singularity: a grid through a pole,
 * or across the antimeridian, measures there too.
 */
function groundSteps(toLonLat: (p: [number, number]) => [number, number], gt: GeoTransform, col: number, row: number): { across: number[]; down: number[] } {
  const h = 0.01;
  const at = (c: number, r: number) => {
    const [lon, lat] = toLonLat([gt[0] + c * gt[1] + r * gt[2], gt[3] + c * gt[4] + r * gt[5]]);
    return ecef(lon, lat);
  };
  const step = (p: number[], q: number[]) => q.map((v, i) => (v - p[i]!) / (2 * h));
  return { across: step(at(col - h, row), at(col + h, row)), down: step(at(col, row - h), at(col, row + h)) };
}

/**
 * Ground area over plane area of the projection at pixel position (col, row): the cross product of
 * the pixel's ground steps. NaN where it cannot be measured.
 */
function areaScaleAt(toLonLat: (p: [number, number]) => [number, number], gt: GeoTransform, unit: number, col: number, row: number): number {
  const { across: e, down: n } = groundSteps(toLonLat, gt, col, row);
  const cross = Math.hypot(e[1]! * n[2]! - e[2]! * n[1]!, e[2]! * n[0]! - e[0]! * n[2]!, e[0]! * n[1]! - e[1]! * n[0]!);
  return cross / (Math.abs(gt[1] * gt[5]) * unit * unit);
}

/** The projection's area scale over a grid, where it departs from 1: bilinear in a table of samples. */
interface AreaScale {
  /** Ground area over plane area at pixel position (col, row) (pixel centres at half-integers). */
  at(col: number, row: number): number;
  /** Plane area of a pixel, m². */
  pixel: number;
  /** Ground area (m²) of a ring of pixel positions [col0, row0, col1, row1, ...]. */
  ringArea(ring: Int32Array | Float64Array): number;
}

/** Samples per axis of the scale table (a projection's scale changes smoothly: bilinear between them is far inside the tolerance). */
const SCALE_SAMPLES = 33;

/**
 * The area scale of a projected grid whose scale departs from 1 by more than AREA_SCALE_TOLERANCE
 * somewhere, sampled on a SCALE_SAMPLES² lattice over it. Null where planar areas are true enough.
 * The scale varies across rows as much as down them (polar stereographic grows with the distance
 * from the pole), so pixels are weighed by where they are, not by their row alone (review: the
 * middle column's scale for whole rows made the NSIDC 25 km Arctic grid 5.9 % too large).
 */
async function projectedAreaScale(gt: GeoTransform, size: { width: number; height: number }, crs: Crs): Promise<AreaScale | null> {
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
  const nx = Math.min(SCALE_SAMPLES, Math.max(2, width + 1));
  const ny = Math.min(SCALE_SAMPLES, Math.max(2, height + 1));
  const colOf = (i: number) => (i * width) / (nx - 1);
  const rowOf = (j: number) => (j * height) / (ny - 1);
  const table = new Float64Array(nx * ny);
  let usable = 0;
  let total = 0;
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      let v: number;
      try {
        v = areaScaleAt(toLonLat, gt, unit, colOf(i), rowOf(j));
      } catch {
        v = Number.NaN;
      }
      table[j * nx + i] = v;
      if (Number.isFinite(v) && v > 0) { usable++; total += v; }
    }
  }
  // Samples outside the projection's domain take the mean of the others.
  const mean = usable ? total / usable : 1;
  let near = true;
  for (let k = 0; k < table.length; k++) {
    if (!(Number.isFinite(table[k]!) && table[k]! > 0)) table[k] = mean;
    if (Math.abs(table[k]! - 1) > AREA_SCALE_TOLERANCE) near = false;
  }
  if (near || !usable) return null;
  const dx = width / (nx - 1);
  const dy = height / (ny - 1);
  // Integrals of each table row along x from column 0 to its samples, for rings (Green's theorem).
  const cumulative = new Float64Array(nx * ny);
  for (let j = 0; j < ny; j++) {
    for (let i = 1; i < nx; i++) cumulative[j * nx + i] = cumulative[j * nx + i - 1]! + (dx * (table[j * nx + i - 1]! + table[j * nx + i]!)) / 2;
  }
  /** ∫ from column 0 to x of table row j (linear between samples, extended past the edges). */
  const alongRow = (j: number, x: number) => {
    const fx = x / dx;
    const i = Math.min(nx - 2, Math.max(0, Math.floor(fx)));
    const u = fx - i;
    const a = table[j * nx + i]!;
    const b = table[j * nx + i + 1]!;
    return cumulative[j * nx + i]! + u * dx * (a + ((b - a) * u) / 2);
  };
  /** G(x, y) = ∫ from column 0 to x of the scale at row y: ∂G/∂x is the scale. */
  const g = (x: number, y: number) => {
    const fy = Math.min(ny - 1, Math.max(0, y / dy));
    const j = Math.min(ny - 2, Math.floor(fy));
    const v = fy - j;
    return (1 - v) * alongRow(j, x) + v * alongRow(j + 1, x);
  };
  const pixel = Math.abs(gt[1] * gt[5]) * unit * unit;
  return {
    pixel,
    at: (col, row) => {
      const fx = Math.min(nx - 1, Math.max(0, col / dx));
      const fy = Math.min(ny - 1, Math.max(0, row / dy));
      const i = Math.min(nx - 2, Math.floor(fx));
      const j = Math.min(ny - 2, Math.floor(fy));
      const tx = fx - i;
      const ty = fy - j;
      const top = table[j * nx + i]! * (1 - tx) + table[j * nx + i + 1]! * tx;
      const bottom = table[(j + 1) * nx + i]! * (1 - tx) + table[(j + 1) * nx + i + 1]! * tx;
      return top * (1 - ty) + bottom * ty;
    },
    // The ground area of a ring is ∮ G dy (Green's theorem with ∂G/∂x the scale): exact for a
    // pixel-edge ring up to the table's interpolation, whatever its size. Edges longer than a
    // table cell are cut into cells; each piece by Simpson's rule.
    ringArea: (ring) => {
      const n = ring.length;
      let sum = 0;
      let px = ring[n - 2]!;
      let py = ring[n - 1]!;
      for (let k = 0; k < n; k += 2) {
        const x = ring[k]!;
        const y = ring[k + 1]!;
        const rise = y - py;
        if (rise !== 0) {
          const pieces = Math.max(1, Math.ceil(Math.abs(rise) / dy));
          for (let p = 0; p < pieces; p++) {
            const t0 = p / pieces;
            const t1 = (p + 1) / pieces;
            const tm = (t0 + t1) / 2;
            const at = (t: number) => g(px + (x - px) * t, py + rise * t);
            sum += ((rise / pieces) * (at(t0) + 4 * at(tm) + at(t1))) / 6;
          }
        }
        px = x;
        py = y;
      }
      return Math.abs(sum) * pixel;
    },
  };
}

/** How a CRS's areas are measured when the grid is not known: on the ellipsoid, or in its plane. */
export function areaMethod(crs: { geographic: boolean; proj4: string }): 'geodesic' | 'projected' {
  return graticular(crs) ? 'geodesic' : 'projected';
}

/**
 * The area (m²) of the pixel at (row, col) of a north-up raster; whether it changes along a row (a
 * projection whose scale departs from 1: tallies then weigh columns in blocks); and how the grid's
 * areas are measured: 'geodesic' (on the ground: lon/lat, Mercator, and projected grids whose area
 * scale departs from 1 by over 1 %, weighed pixel by pixel) or 'projected' (in the CRS's plane).
 * `col` may be fractional: the middle of a block of columns, whose pixels' mean area that is
 * (exact where the scale is linear over the block).
 */
export async function cellAreaFunction(gt: GeoTransform, size: { width: number; height: number }, crs: Crs): Promise<{ area: (row: number, col: number) => number; variesAlongRows: boolean; method: 'geodesic' | 'projected' }> {
  const scale = await projectedAreaScale(gt, size, crs);
  if (scale) return { area: (row, col) => scale.pixel * scale.at(col, row + 0.5), variesAlongRows: true, method: 'geodesic' };
  const rowArea = await rowPixelAreaFunction(gt, crs);
  // Tallies ask row by row, several times a row (once per block of columns): the last row is kept.
  let lastRow = Number.NaN;
  let lastArea = 0;
  return {
    area: (row) => {
      if (row !== lastRow) { lastRow = row; lastArea = rowArea(row); }
      return lastArea;
    },
    variesAlongRows: false,
    method: areaMethod(crs),
  };
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
    ellipsoid = crs.epsg === 3857 || (spherical && /\+nadgrids=@null\b/.test(crs.proj4)) ? WGS84_ELLIPSOID : (await crsMetrics({ ...crs, geographic: true })).ellipsoid;
  }
  const [a, es] = ellipsoid;
  const q = authalic(es);
  return { xPerColumn: a * lonPerColumn * toRad, yOfRow: (row) => (a * q(latOfRow(row) * toRad)) / 2 };
}

/**
 * The area (m²) of one pixel in each row of a north-up raster whose projection's scale is near 1
 * (constant) or that is lon/lat or Mercator (the exact ellipsoidal area of the row's cell). Others
 * are cellAreaFunction's.
 */
async function rowPixelAreaFunction(gt: GeoTransform, crs: Crs): Promise<(row: number) => number> {
  if (!graticular(crs)) {
    const { unit } = await crsMetrics(crs);
    const perPixel = Math.abs(gt[1] * gt[5]) * unit * unit;
    return () => perPixel;
  }
  const { xPerColumn, yOfRow } = await equalAreaGrid(gt, crs);
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
  const scale = await projectedAreaScale(gt, size, crs);
  if (scale) {
    return (ring) => scale.ringArea(ring);
  }
  if (!graticular(crs)) {
    const { unit } = await crsMetrics(crs);
    const perPixel = Math.abs(gt[1] * gt[5]) * unit * unit;
    return (ring) => (Math.abs(ringArea2(ring)) / 2) * perPixel;
  }
  const { xPerColumn, yOfRow } = await equalAreaGrid(gt, crs);
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
 * Ground width and height of a pixel in metres, at the scene's centre: a lon/lat pixel of square
 * degrees is about cos(latitude) as wide as it is tall, and a projected one is square on the ground
 * only where the projection is conformal and its scale near 1 (not an equirectangular or
 * sinusoidal grid far from the equator, nor Web Mercator, whose metres shrink to half at 60°), so
 * its sides are measured through the projection (groundSteps, as the area scale is).
 */
export function groundPixelMetres(gt: GeoTransform, size: { width: number; height: number }, crs: { geographic: boolean; proj4: string }): { x: number; y: number } {
  const centre = (steps: { across: number[]; down: number[] }) => ({ x: Math.hypot(...steps.across), y: Math.hypot(...steps.down) });
  if (crs.geographic) return centre(groundSteps((p) => p, gt, size.width / 2, size.height / 2));
  const unit = metresPerUnit(crs);
  const square = { x: Math.abs(gt[1]) * unit, y: Math.abs(gt[5]) * unit };
  try {
    const converter = proj4Library()(crs.proj4, '+proj=longlat +datum=WGS84 +no_defs') as unknown as { forward: (p: [number, number]) => [number, number] };
    const ground = centre(groundSteps((p) => converter.forward(p), gt, size.width / 2, size.height / 2));
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
