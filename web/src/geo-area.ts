/**
 * The area of a drawn polygon on the sphere, to tell the user how large a job will be before
 * sending it (the server checks the limit itself).
 */
import type { Polygon, Position } from 'geojson';

const EARTH_RADIUS_M = 6_378_137;

/** Signed ring area by the spherical excess formula (the one turf uses). */
function ringArea(ring: Position[]): number {
  let total = 0;
  const n = ring.length;
  if (n < 3) return 0;
  const rad = Math.PI / 180;
  for (let i = 0; i < n; i++) {
    const lower = ring[i]!;
    const middle = ring[(i + 1) % n]!;
    const upper = ring[(i + 2) % n]!;
    total += (upper[0]! * rad - lower[0]! * rad) * Math.sin(middle[1]! * rad);
  }
  return (total * EARTH_RADIUS_M * EARTH_RADIUS_M) / 2;
}

export function polygonAreaM2(polygon: Polygon): number {
  const [outer, ...holes] = polygon.coordinates;
  if (!outer) return 0;
  return Math.abs(ringArea(outer)) - holes.reduce((sum, h) => sum + Math.abs(ringArea(h)), 0);
}
