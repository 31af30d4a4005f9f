/**
 * Lon/lat polygons across the antimeridian, as RFC 7946 (§3.1.9) asks: cut in two at ±180, so
 * that neither part's coordinates cross it, each part within -180..180.
 *
 * proj4 answers longitudes in -180..180, so a polygon of a UTM zone 1 or 60 mask that crosses the
 * line came out with edges jumping from 179.9 to -179.9: a polygon the long way round the world,
 * and a lon/lat mask written past 180 gave longitudes beyond it. Rings are first made continuous
 * (no edge longer than half a turn), moved by whole turns to sit around -180..180, and only a
 * polygon still reaching past ±180 is cut (turf's polygon clipping, on that polygon alone).
 */
import * as turf from '@turf/turf';
import type { Polygon, Position } from 'geojson';

/** Whether every longitude is in -180..180 and no edge jumps half a turn: nothing to do (nearly always). */
function plain(rings: Float64Array[]): boolean {
  for (const ring of rings) {
    let prev = ring[0]!;
    for (let i = 0; i < ring.length; i += 2) {
      const x = ring[i]!;
      if (x < -180 || x > 180 || Math.abs(x - prev) > 180) return false;
      prev = x;
    }
    if (Math.abs(ring[0]! - prev) > 180) return false;
  }
  return true;
}

/** Moves vertices by whole turns so that no edge spans more than half a turn; false when the ring winds round a pole. */
function unwrap(ring: Float64Array): boolean {
  let prev = ring[0]!;
  for (let i = 2; i < ring.length; i += 2) {
    const x = ring[i]! - 360 * Math.round((ring[i]! - prev) / 360);
    ring[i] = x;
    prev = x;
  }
  return Math.abs(prev - ring[0]!) <= 180;
}

function shift(ring: Float64Array, dx: number): void {
  if (dx) for (let i = 0; i < ring.length; i += 2) ring[i]! += dx;
}

function lonRange(ring: Float64Array): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < ring.length; i += 2) { min = Math.min(min, ring[i]!); max = Math.max(max, ring[i]!); }
  return [min, max];
}

function closedRing(ring: Float64Array): Position[] {
  const out: Position[] = [];
  for (let i = 0; i < ring.length; i += 2) out.push([ring[i]!, ring[i + 1]!]);
  out.push([ring[0]!, ring[1]!]);
  return out;
}

function flatRing(ring: Position[], dx: number): Float64Array {
  // GeoJSON rings repeat their first position; ours do not.
  const out = new Float64Array((ring.length - 1) * 2);
  for (let i = 0; i + 1 < ring.length; i++) { out[2 * i] = ring[i]![0]! + dx; out[2 * i + 1] = ring[i]![1]!; }
  return out;
}

/** The polygons of `rings` clipped to longitudes [west, east], moved by `dx`. */
function clipped(polygon: Polygon, west: number, east: number, dx: number): Float64Array[][] {
  const part = turf.intersect(turf.featureCollection([turf.feature(polygon), turf.bboxPolygon([west, -90, east, 90])]));
  if (!part) return [];
  const g = part.geometry;
  const polygons = g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
  return polygons.map((rings) => rings.map((r) => flatRing(r, dx)));
}

/**
 * One lon/lat polygon (flat unclosed rings, shell first; changed in place) as the polygons to
 * write: itself, moved into -180..180 where it lay past ±180, or its two sides of the antimeridian.
 * A shell winding round a pole (its longitudes span a whole turn) is left as it is.
 */
export function splitAtAntimeridian(rings: Float64Array[]): Float64Array[][] {
  if (plain(rings)) return [rings];
  if (!rings.every(unwrap)) return [rings];
  const [min, max] = lonRange(rings[0]!);
  if (max - min >= 360) return [rings];
  const centre = (min + max) / 2;
  // Holes next to their shell, then the whole polygon about -180..180.
  for (const hole of rings.slice(1)) shift(hole, -360 * Math.round((hole[0]! - centre) / 360));
  const dx = -360 * Math.round(centre / 360);
  for (const ring of rings) shift(ring, dx);
  if (min + dx >= -180 && max + dx <= 180) return [rings];
  const polygon: Polygon = { type: 'Polygon', coordinates: rings.map(closedRing) };
  // The polygon spans less than a turn, so it reaches past one side only.
  return max + dx > 180
    ? [...clipped(polygon, min + dx, 180, 0), ...clipped(polygon, 180, max + dx, -360)]
    : [...clipped(polygon, min + dx, -180, 360), ...clipped(polygon, -180, max + dx, 0)];
}
