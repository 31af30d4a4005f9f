/**
 * The area an analyst asks to segment: parsed, repaired, bounded and placed on the dataset's
 * pixel grid, where it becomes a window to read and a mask of the pixels inside.
 */
import * as turf from '@turf/turf';
import type { Feature, MultiPolygon, Polygon, Position } from 'geojson';
import type { Crs, GeoTransform, Window } from '../read/raster.ts';
import { converter, transformableProj4, transformPoint, WGS84 } from '../read/crs-transform.ts';
import { crsToPixel, longitudeWrap, pixelToCrs } from '../read/georef.ts';
import { AreaError } from '../errors.ts';

export type Area = Polygon | MultiPolygon;

function checkRing(ring: Position[], where: string): void {
  if (!Array.isArray(ring) || ring.length < 4) throw new AreaError(`${where}: a ring needs at least 4 positions (first = last)`);
  for (const p of ring) {
    if (!Array.isArray(p) || p.length < 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) throw new AreaError(`${where}: positions must be [lon, lat] numbers`);
    if (Math.abs(p[0]!) > 180 || Math.abs(p[1]!) > 90) throw new AreaError(`${where}: [${p[0]}, ${p[1]}] is not a lon/lat position in EPSG:4326`);
  }
  const a = ring[0]!;
  const b = ring[ring.length - 1]!;
  if (a[0] !== b[0] || a[1] !== b[1]) throw new AreaError(`${where}: the ring is not closed (first and last positions differ)`);
  // An edge from 170° to -170° is read the long way round (a band over the whole globe but 20°),
  // which segmented whole scenes for an area meant to cross the antimeridian.
  for (let i = 1; i < ring.length; i++) {
    if (Math.abs(ring[i]![0]! - ring[i - 1]![0]!) > 180) {
      throw new AreaError(`${where}: the edge from [${ring[i - 1]![0]}, ${ring[i - 1]![1]}] to [${ring[i]![0]}, ${ring[i]![1]}] spans more than 180° of longitude; split an area that crosses the antimeridian there, as RFC 7946 asks (a MultiPolygon of the two sides)`);
    }
  }
}

/**
 * A ring without a position repeated right after itself: exports often have them, and the
 * self-intersection check took each for a crossing it could not repair (the area was refused).
 */
function withoutRepeats(ring: Position[], where: string): Position[] {
  const out = ring.filter((p, i) => i === 0 || p[0] !== ring[i - 1]![0] || p[1] !== ring[i - 1]![1]);
  if (out.length < 4) throw new AreaError(`${where}: a ring needs at least 3 different positions`);
  return out;
}

/** Vertices of an area, all rings counted. */
export function vertexCount(area: Area): number {
  const rings = area.type === 'Polygon' ? area.coordinates : area.coordinates.flat();
  return rings.reduce((n, r) => n + r.length, 0);
}

/**
 * Accept a Polygon, MultiPolygon, a Feature or FeatureCollection of them, or a bbox [w, s, e, n]; at most `maxVertices`
 * vertices (SATSEG_MAX_AREA_VERTICES), counted before anything else looks at the rings.
 */
export function parseArea(area: unknown, bbox: unknown, maxVertices = Infinity): Area | null {
  if (area === undefined && bbox === undefined) return null;
  if (bbox !== undefined) {
    if (!Array.isArray(bbox) || bbox.length !== 4 || !bbox.every((v) => typeof v === 'number' && Number.isFinite(v))) throw new AreaError('bbox must be [west, south, east, north] in degrees');
    const [w, s, e, n] = bbox as number[];
    if (!(w! < e! && s! < n!) || Math.abs(w!) > 180 || Math.abs(e!) > 180 || Math.abs(s!) > 90 || Math.abs(n!) > 90) throw new AreaError('bbox must be [west, south, east, north] with west < east and south < north, in degrees');
    return turf.bboxPolygon([w!, s!, e!, n!]).geometry;
  }
  let g = area as { type?: string; geometry?: unknown; coordinates?: unknown; features?: unknown };
  if (g && g.type === 'Feature') g = g.geometry as typeof g;
  // A FeatureCollection (what most tools export) counts as the polygons of its features, joined
  // (repairArea dissolves the overlaps between them).
  if (g && g.type === 'FeatureCollection') g = collectionPolygons(g.features);
  if (!g || (g.type !== 'Polygon' && g.type !== 'MultiPolygon')) throw new AreaError('area must be a GeoJSON Polygon or MultiPolygon (or a Feature or FeatureCollection of them) in EPSG:4326');
  const rings = (g.type === 'Polygon' ? [g.coordinates] : g.coordinates) as unknown[];
  let vertices = 0;
  for (const poly of Array.isArray(rings) ? rings : []) for (const ring of Array.isArray(poly) ? poly : []) vertices += Array.isArray(ring) ? ring.length : 0;
  if (vertices > maxVertices) throw new AreaError(`the area has ${vertices} vertices, over the ${maxVertices} limit (SATSEG_MAX_AREA_VERTICES); simplify it`, 'too-complex');
  if (g.type === 'Polygon') {
    const rings = g.coordinates as Position[][];
    if (!Array.isArray(rings) || !rings.length) throw new AreaError('area: a Polygon needs at least one ring');
    rings.forEach((r, i) => checkRing(r, `area ring ${i}`));
    return { type: 'Polygon', coordinates: rings.map((r, i) => withoutRepeats(r, `area ring ${i}`)) };
  }
  const polys = g.coordinates as Position[][][];
  if (!Array.isArray(polys) || !polys.length) throw new AreaError('area: a MultiPolygon needs at least one polygon');
  polys.forEach((p, i) => { if (!Array.isArray(p) || !p.length) throw new AreaError(`area polygon ${i} has no ring`); p.forEach((r, j) => checkRing(r, `area polygon ${i} ring ${j}`)); });
  return { type: 'MultiPolygon', coordinates: polys.map((p, i) => p.map((r, j) => withoutRepeats(r, `area polygon ${i} ring ${j}`))) };
}

/** The area, unless it encloses no ground (all its points on one spot or one line): nothing to segment. Checked once repaired: a bow-tie's lobes cancel until it is split. */
function withExtent(area: Area): Area {
  if (!(turf.area(area) > 0)) throw new AreaError('area: the polygon encloses no ground (its points lie on one spot or one line)');
  return area;
}

/** The features of a FeatureCollection as one MultiPolygon; anything but (Multi)Polygons is refused. */
function collectionPolygons(features: unknown): { type: 'MultiPolygon'; coordinates: unknown[] } {
  if (!Array.isArray(features) || !features.length) throw new AreaError('area: the FeatureCollection has no features');
  const coordinates: unknown[] = [];
  features.forEach((f: { type?: string; geometry?: { type?: string; coordinates?: unknown } | null }, i) => {
    const geometry = f?.type === 'Feature' ? f.geometry : null;
    if (geometry?.type === 'Polygon') coordinates.push(geometry.coordinates);
    // One by one: push(...parts) overflowed the stack on a MultiPolygon of 200,000 (empty) parts.
    else if (geometry?.type === 'MultiPolygon' && Array.isArray(geometry.coordinates)) for (const part of geometry.coordinates as unknown[]) coordinates.push(part);
    else throw new AreaError(`area: feature ${i} of the FeatureCollection is ${geometry?.type ? `a ${geometry.type}` : 'not a Feature with a geometry'}; only Polygon and MultiPolygon features make an area`);
  });
  return { type: 'MultiPolygon', coordinates };
}

/**
 * Repair an area: self-intersecting rings are split at the crossings (turf), and the parts of a
 * MultiPolygon that overlap are dissolved into one (inside-tests count crossings, so an overlap
 * would read as outside); or explain why it cannot be repaired.
 */
export function repairArea(area: Area): { area: Area; repaired: boolean } {
  // Splitting already joins all the pieces into one union; otherwise overlapping parts are joined here.
  const repaired = splitCrossings(area) ?? dissolveOverlaps(area);
  withExtent(repaired.area);
  return repaired;
}

/** A ring, split at its own crossings, as the union of its pieces. */
function ringArea(ring: Polygon['coordinates'][number]): Feature<Polygon | MultiPolygon> {
  const pieces = turf.unkinkPolygon(turf.polygon([ring])).features;
  const merged = pieces.length === 1 ? pieces[0]! : turf.union(turf.featureCollection(pieces));
  if (!merged) throw new Error('nothing left after splitting');
  return merged;
}

/**
 * A polygon as its outer ring less its holes, each split at its own crossings first. Splitting a
 * polygon with holes whole joined a hole that crossed or touched the outer ring into the area
 * (the area then covered the hole), where the hole is ground to leave out.
 */
function shellLessHoles(coords: Polygon['coordinates']): Feature<Polygon | MultiPolygon> {
  const shell = ringArea(coords[0]!);
  if (coords.length === 1) return shell;
  const holes = coords.slice(1).map(ringArea);
  const left = turf.difference(turf.featureCollection([shell, ...holes] as Feature<Polygon | MultiPolygon>[]));
  if (!left) throw new Error('its holes cover its outer ring');
  return left;
}

/** Whether a hole of a polygon has a vertex outside its outer ring (which even-odd filling would add to the area). */
function holeOutsideShell(area: Area): boolean {
  const polygons = area.type === 'Polygon' ? [area.coordinates] : area.coordinates;
  return polygons.some((coords) => {
    if (coords.length === 1) return false;
    const shell = turf.polygon([coords[0]!]);
    return coords.slice(1).some((hole) => hole.some((p) => !turf.booleanPointInPolygon(p as [number, number], shell)));
  });
}

/** The area split at its rings' crossings and joined again; null when no ring crosses and no hole lies outside its ring. */
function splitCrossings(area: Area): { area: Area; repaired: boolean } | null {
  const feature = turf.feature(area) as Feature<Area>;
  if (turf.kinks(feature as never).features.length === 0 && !holeOutsideShell(area)) return null;
  try {
    const polygons = area.type === 'Polygon' ? [area.coordinates] : area.coordinates;
    const pieces: Feature<Polygon | MultiPolygon>[] = [];
    for (const coords of polygons) pieces.push(shellLessHoles(coords));
    const merged = pieces.length === 1 ? pieces[0]! : turf.union(turf.featureCollection(pieces));
    if (!merged) throw new Error('nothing left after splitting');
    // Pieces may touch at the former crossing point; only a ring crossing itself is a problem.
    const geometry = merged.geometry as Area;
    const parts = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.coordinates;
    if (parts.some((p) => turf.kinks(turf.polygon(p)).features.length)) throw new Error('still self-intersecting');
    return { area: geometry, repaired: true };
  } catch (err) {
    throw new AreaError(`the area has a self-intersecting ring that cannot be repaired (${(err as Error).message}); draw it again without crossing edges`);
  }
}

/** A MultiPolygon whose parts overlap, as their union; any other area as it is. */
function dissolveOverlaps(area: Area): { area: Area; repaired: boolean } {
  if (area.type !== 'MultiPolygon' || area.coordinates.length < 2) return { area, repaired: false };
  const parts = area.coordinates.map((p) => turf.polygon(p));
  const separate = parts.reduce((sum, p) => sum + turf.area(p), 0);
  const union = turf.union(turf.featureCollection(parts));
  if (!union || turf.area(union) >= separate * (1 - 1e-9)) return { area, repaired: false };
  return { area: union.geometry as Area, repaired: true };
}

export function areaKm2(area: Area): number {
  return turf.area(area) / 1e6;
}

/** The dataset's footprint in EPSG:4326, its edges densified. */
export function footprintWgs84(gt: GeoTransform, width: number, height: number, crs: Crs): Polygon | null {
  if (crs.nonEarth) return null;
  const conv = converter(transformableProj4(crs), WGS84);
  const ring: Position[] = [];
  const steps = 16;
  const edge = (c0: number, r0: number, c1: number, r1: number) => {
    for (let i = 0; i < steps; i++) {
      const [x, y] = pixelToCrs(gt, c0 + ((c1 - c0) * i) / steps, r0 + ((r1 - r0) * i) / steps);
      const p = transformPoint(conv, x, y);
      if (p) ring.push(p);
    }
  };
  edge(0, 0, width, 0);
  edge(width, 0, width, height);
  edge(width, height, 0, height);
  edge(0, height, 0, 0);
  if (ring.length < 3) return null;
  ring.push(ring[0]!);
  return (turf.rewind(turf.polygon([ring])) as Feature<Polygon>).geometry;
}

interface Edge { x0: number; y0: number; x1: number; y1: number }

/**
 * The area in the dataset's pixel grid: the window covering it (clamped to the raster) and a
 * function giving, for rows of that window, which pixels have their centre inside (GDAL's
 * rasterize rule). Edges are densified before projecting, so a straight lon/lat edge follows its
 * curve in the dataset's CRS. The window's origin is a multiple of `alignment`.
 */
export function areaOnGrid(area: Area, gt: GeoTransform, width: number, height: number, crs: Crs, alignment = 1): AreaOnGrid | null {
  const near = nearDataset(area, gt, width, height, crs);
  return near ? placeOnGrid(near, gt, width, height, crs, alignment) : null;
}

export interface AreaOnGrid {
  window: Window;
  mask: (y: number, rows: number, w: number) => Uint8Array;
}

/**
 * The dataset's footprint in lon/lat where an area may be cut around it: null for a dataset across
 * the antimeridian or holding a pole, whose lon/lat outline and box would miss part of it.
 * `footprint`: the dataset's footprintWgs84, where the caller has it already.
 */
export function cuttableFootprint(gt: GeoTransform, width: number, height: number, crs: Crs, footprint = footprintWgs84(gt, width, height, crs)): Polygon | null {
  if (!footprint) return null;
  const [fw, , fe] = turf.bbox(footprint);
  // A lon/lat raster written past ±180 (0..360, or 179.9..180.1) is placed ring by ring in placeOnGrid.
  return fe - fw > 180 || fw < -180 || fe > 180 || holdsPole(gt, width, height, crs) ? null : footprint;
}

/**
 * The part of the area near the dataset: an area reaching beyond the dataset is cut to the lon/lat
 * box of its footprint, widened by a fifth on each side. Far from its zone a CRS like UTM gives
 * positions that mean nothing (a world box over a UTM scene placed no pixel inside), or none; and
 * in any CRS the edges far away would be densified and carried through the whole job for nothing
 * (a 5,000 km circle over a lon/lat scene: 1 s and 350 MB before the first tile). A box, not the
 * footprint's own outline: edges between vertices run straight in lon/lat here, as they do when
 * the area is placed, so cutting leaves every pixel inside as it was. Null when nothing is near.
 */
export function nearDataset(area: Area, gt: GeoTransform, width: number, height: number, crs: Crs): Area | null {
  const footprint = cuttableFootprint(gt, width, height, crs);
  if (!footprint) return area;
  const [fw, fs, fe, fn] = turf.bbox(footprint);
  const mx = (fe - fw) / 5 + 0.01;
  const my = (fn - fs) / 5 + 0.01;
  // Short of the poles themselves, which Mercator cannot place.
  const box: [number, number, number, number] = [Math.max(-180, fw - mx), Math.max(-89.99, fs - my), Math.min(180, fe + mx), Math.min(89.99, fn + my)];
  const [aw, as, ae, an] = turf.bbox(area);
  if (aw >= box[0] && as >= box[1] && ae <= box[2] && an <= box[3]) return area;
  const near = turf.intersect(turf.featureCollection([turf.feature(area), turf.bboxPolygon(box)]));
  return near ? (near.geometry as Area) : null;
}

/** Whether either pole falls on the raster's pixels (a polar projection). */
function holdsPole(gt: GeoTransform, width: number, height: number, crs: Crs): boolean {
  const conv = converter(WGS84, transformableProj4(crs));
  return [90, -90].some((lat) => {
    const q = transformPoint(conv, 0, lat);
    if (!q) return false;
    const [x, y] = crsToPixel(gt, q[0], q[1]);
    return x >= 0 && y >= 0 && x <= width && y <= height;
  });
}

/**
 * How far to move a ring, in whole turns of longitude, to lie nearest a lon/lat raster's middle (0
 * for a projected one). A lon/lat raster may be written past ±180 (0..360, or 179.9..180.1 across
 * the antimeridian), while an area's longitudes are within ±180 (RFC 7946): an area over America
 * on a 0..360 raster was "not overlapping". Rings move whole, never vertex by vertex, so no ring is
 * torn apart at the seam half a turn away.
 */
function ringShift(ring: Position[], gt: GeoTransform, width: number, crs: Crs): number {
  const wrap = longitudeWrap({ geoTransform: gt, width, crs });
  let min = Infinity;
  let max = -Infinity;
  for (const p of ring) { min = Math.min(min, p[0]!); max = Math.max(max, p[0]!); }
  const middle = (min + max) / 2;
  return wrap(middle) - middle;
}

function placeOnGrid(area: Area, gt: GeoTransform, width: number, height: number, crs: Crs, alignment: number): AreaOnGrid | null {
  const conv = converter(WGS84, transformableProj4(crs));
  let dx = 0;
  const toPixel = (p: Position): [number, number] => {
    const q = transformPoint(conv, p[0]!, p[1]!);
    if (!q) throw new AreaError(`[${p[0]}, ${p[1]}] cannot be placed in the dataset's CRS`);
    return crsToPixel(gt, q[0] + dx, q[1]);
  };
  const edges: Edge[] = [];
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  const rings = area.type === 'Polygon' ? area.coordinates : area.coordinates.flat();
  for (const ring of rings) {
    dx = ringShift(ring, gt, width, crs);
    for (let i = 0; i + 1 < ring.length; i++) {
      const a = ring[i]!;
      const b = ring[i + 1]!;
      const pa = toPixel(a);
      const pb = toPixel(b);
      const n = Math.max(1, Math.min(256, Math.ceil(Math.hypot(pb[0] - pa[0], pb[1] - pa[1]) / 8)));
      let prev = pa;
      for (let k = 1; k <= n; k++) {
        const next = k === n ? pb : toPixel([a[0]! + ((b[0]! - a[0]!) * k) / n, a[1]! + ((b[1]! - a[1]!) * k) / n]);
        edges.push({ x0: prev[0], y0: prev[1], x1: next[0], y1: next[1] });
        prev = next;
      }
      minX = Math.min(minX, pa[0]); maxX = Math.max(maxX, pa[0]); minY = Math.min(minY, pa[1]); maxY = Math.max(maxY, pa[1]);
    }
  }
  for (const e of edges) {
    minX = Math.min(minX, e.x1); maxX = Math.max(maxX, e.x1); minY = Math.min(minY, e.y1); maxY = Math.max(maxY, e.y1);
  }
  // The window starts on a multiple of the model's input alignment (see plan-tiles.ts).
  const x0 = Math.floor(Math.max(0, Math.floor(minX)) / alignment) * alignment;
  const y0 = Math.floor(Math.max(0, Math.floor(minY)) / alignment) * alignment;
  const x1 = Math.min(width, Math.ceil(maxX));
  const y1 = Math.min(height, Math.ceil(maxY));
  if (x1 <= x0 || y1 <= y0) return null;
  const window: Window = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  // Edges sorted by their top; each call walks the rows downwards keeping only the edges that
  // span the current row (an active list), so a row costs its crossings, not every edge above it.
  for (const e of edges) if (e.y0 > e.y1) { const [x, y] = [e.x0, e.y0]; e.x0 = e.x1; e.y0 = e.y1; e.x1 = x; e.y1 = y; }
  edges.sort((a, b) => a.y0 - b.y0);
  const mask = (y: number, rows: number, w: number): Uint8Array => {
    const out = new Uint8Array(rows * w);
    const xs: number[] = [];
    let active: Edge[] = [];
    let next = 0;
    for (let r = 0; r < rows; r++) {
      const cy = window.y + y + r + 0.5;
      while (next < edges.length && edges[next]!.y0 <= cy) active.push(edges[next++]!);
      // Half-open rule (y0 <= cy < y1) so a vertex on the scanline counts once.
      active = active.filter((e) => e.y1 > cy);
      xs.length = 0;
      for (const e of active) xs.push(e.x0 + ((cy - e.y0) * (e.x1 - e.x0)) / (e.y1 - e.y0));
      xs.sort((a, b) => a - b);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        // Pixel x is inside when its centre x + 0.5 lies in [xs[k], xs[k+1]).
        const from = Math.max(0, Math.ceil(xs[k]! - 0.5 - window.x));
        const to = Math.min(w, Math.ceil(xs[k + 1]! - 0.5 - window.x));
        if (to > from) out.fill(1, r * w + from, r * w + to);
      }
    }
    return out;
  };
  return { window, mask };
}
