/**
 * One output polygon: a connected region of one class, in the output CRS, with its properties.
 * Writers and tile builders take these; rings stay flat typed arrays until the last moment because
 * building nested coordinate arrays for millions of vertices costs more than the polygonizing.
 */
import type { Feature, MultiPolygon, Polygon, Position } from 'geojson';

export interface ClassProperties {
  class: string;
  class_id: number;
  area_m2: number;
}

export interface ClassPolygon {
  classId: number;
  className: string;
  /** Area in m² (native projected CRS units converted to metres, or ellipsoidal for lon/lat). */
  areaM2: number;
  /** Flat [x0, y0, x1, y1, ...] rings, not closed; shell first (counter-clockwise), then holes (clockwise). */
  rings: Float64Array[];
  /**
   * Set when the polygon was cut at the antimeridian (lon/lat output, RFC 7946): every part, each
   * rings as above, the first being `rings`. The feature is then a MultiPolygon.
   */
  parts?: Float64Array[][];
}

/** Areas to 0.0001 m²: fine enough that sub-metre pixels sum up correctly, short enough to read. */
export function roundArea(m2: number): number {
  return Math.round(m2 * 1e4) / 1e4;
}

export function polygonProperties(p: ClassPolygon): ClassProperties {
  return { class: p.className, class_id: p.classId, area_m2: roundArea(p.areaM2) };
}

/** A flat unclosed ring as GeoJSON positions, closed (its first position repeated), as GeoJSON wants. */
export function closedRing(ring: Float64Array): Position[] {
  const out: Position[] = [];
  for (let i = 0; i < ring.length; i += 2) out.push([ring[i]!, ring[i + 1]!]);
  out.push([ring[0]!, ring[1]!]);
  return out;
}

/** A GeoJSON Feature (rings closed, as GeoJSON wants): a Polygon, or a MultiPolygon of a polygon cut at the antimeridian. */
export function toFeature(p: ClassPolygon): Feature<Polygon | MultiPolygon, ClassProperties> {
  const closed = (rings: Float64Array[]) => rings.map(closedRing);
  const geometry: Polygon | MultiPolygon = p.parts ? { type: 'MultiPolygon', coordinates: p.parts.map(closed) } : { type: 'Polygon', coordinates: closed(p.rings) };
  return { type: 'Feature', properties: polygonProperties(p), geometry };
}

/** Where vectorize sends its polygons, batch by batch (a file writer, a response, a tile index). */
export interface PolygonSink {
  write(batch: ClassPolygon[]): Promise<void>;
  /** Complete the output (a file appears only now). */
  finish(): Promise<void>;
  /** Give up; a file output leaves nothing behind. */
  abort(): Promise<void>;
}
