/**
 * Pixel corners → the mask's CRS → the output CRS, and RFC 7946 winding.
 *
 * GeoJSON output is WGS 84 lon/lat (RFC 7946); FlatGeobuf keeps the mask's CRS. The transform comes
 * from the proj4 definition the reader built for the mask (from its EPSG code or from its GeoKeys),
 * so masks without an EPSG code reproject too. Bodies other than Earth go to their own lon/lat:
 * WGS 84 makes no sense for Mars.
 */
import type { Crs, GeoTransform } from '../read/raster.ts';
import { transformableProj4 } from '../read/datum-shift.ts';
import { converter } from '../read/crs-transform.ts';
import { shoelace } from '../read/geodesy.ts';

/** Transforms a flat [x0, y0, ...] ring in place. */
export type RingTransform = (ring: Float64Array) => void;

export function pixelRingToCrs(ring: Int32Array, gt: GeoTransform): Float64Array {
  const out = new Float64Array(ring.length);
  for (let i = 0; i < ring.length; i += 2) {
    out[i] = gt[0] + ring[i]! * gt[1];
    out[i + 1] = gt[3] + ring[i + 1]! * gt[5];
  }
  return out;
}

function isWgs84LonLat(crs: Crs): boolean {
  if (crs.epsg === 4326) return true;
  const def = crs.proj4.replace(/\s+/g, ' ').trim();
  return /^\+proj=longlat (\+datum=WGS84|\+ellps=WGS84( \+towgs84=0,0,0(,0,0,0,0)?)?)( \+no_defs)?$/.test(def);
}

/** The lon/lat CRS GeoJSON output uses for this mask: WGS 84, or the body's own for other planets. */
export function geographicTarget(crs: Crs): string {
  if (!crs.nonEarth) return '+proj=longlat +datum=WGS84 +no_defs';
  const shape = crs.proj4.split(/\s+/).filter((t) => /^\+(a|b|rf|R|ellps)=/.test(t));
  return `+proj=longlat ${shape.join(' ')} +no_defs`;
}

/** The transform from the mask's CRS to GeoJSON lon/lat, or null when they are the same. */
export async function toGeographic(crs: Crs): Promise<RingTransform | null> {
  if (!crs.nonEarth && isWgs84LonLat(crs)) return null;
  const target = geographicTarget(crs);
  if (crs.geographic && crs.proj4.trim() === target) return null;
  // Through crs-transform's converter: a definition proj4 refuses is a typed error there.
  const conv = converter(transformableProj4(crs), target);
  return (ring) => {
    const p: [number, number] = [0, 0];
    for (let i = 0; i < ring.length; i += 2) {
      p[0] = ring[i]!;
      p[1] = ring[i + 1]!;
      const [x, y] = conv.forward(p);
      ring[i] = x!;
      ring[i + 1] = y!;
    }
  };
}

function reverseRing(ring: Float64Array): void {
  for (let i = 0, j = ring.length - 2; i < j; i += 2, j -= 2) {
    const x = ring[i]!;
    const y = ring[i + 1]!;
    ring[i] = ring[j]!;
    ring[i + 1] = ring[j + 1]!;
    ring[j] = x;
    ring[j + 1] = y;
  }
}

/** The right-hand rule of RFC 7946: shell counter-clockwise, holes clockwise (x east, y north). */
export function orientRings(rings: Float64Array[]): void {
  rings.forEach((ring, i) => {
    const area = shoelace(ring);
    if (i === 0 ? area < 0 : area > 0) reverseRing(ring);
  });
}
