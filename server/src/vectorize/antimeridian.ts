/**
 * Lon/lat polygons across the antimeridian, as RFC 7946 (§3.1.9) asks: cut in two at ±180, so
 * that neither part's coordinates cross it, each part within -180..180.
 *
 * proj4 answers longitudes in -180..180, so a polygon of a UTM zone 1 or 60 mask that crosses the
 * line came out with edges jumping from 179.9 to -179.9: a polygon the long way round the world,
 * and a lon/lat mask written past 180 gave longitudes beyond it. Rings are first made continuous
 * (no edge longer than half a turn), moved by whole turns to sit around -180..180, and only a
 * polygon still reaching past ±180 is cut in two (cutSide).
 */
import * as turf from '@turf/turf';
import { shoelace } from '../read/geodesy.ts';
import { orientRings } from './reproject.ts';
import { closedRing } from './class-polygon.ts';

/**
 * Most vertices of a polygon given to turf's clipping (the rare cuts the linear one cannot build):
 * it takes about 2 s for 50,000.
 */
const CLIP_MAX_VERTICES = 20_000;

function vertexCount(rings: Float64Array[]): number {
  return rings.reduce((n, r) => n + r.length / 2, 0);
}

/** The polygon's parts on either side of meridian `m` by turf's clipping, the far side moved a turn back. */
function clipped(rings: Float64Array[], m: number): Float64Array[][] {
  const polygon = turf.polygon(rings.map(closedRing));
  const [min, , max] = turf.bbox(polygon);
  const side = (west: number, east: number, dx: number): Float64Array[][] => {
    const part = turf.intersect(turf.featureCollection([polygon, turf.bboxPolygon([west, -90, east, 90])]));
    if (!part) return [];
    const g = part.geometry;
    return (g.type === 'Polygon' ? [g.coordinates] : g.coordinates).map((p) => p.map((ring) => {
      // GeoJSON rings repeat their first position; ours do not.
      const out = new Float64Array((ring.length - 1) * 2);
      for (let i = 0; i + 1 < ring.length; i++) { out[2 * i] = ring[i]![0]! + dx; out[2 * i + 1] = ring[i]![1]!; }
      return out;
    }));
  };
  const parts = [...side(min, m, m < 0 ? 360 : 0), ...side(m, max, m > 0 ? -360 : 0)];
  parts.forEach(orientRings);
  return parts;
}

/** Longitudes this close to ±180 are taken to be on it: far below the output's 7 decimals (1e-7°). */
const SNAP_DEGREES = 1e-9;

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

/** A point where a ring crosses the meridian, and the chain that leaves from it. */
interface Crossing {
  y: number;
  /** The chain (on the side being built) that starts here; -1 for none. */
  starts: number;
  /** The crossing at the other end of this point's stretch of meridian inside the polygon. */
  partner: number;
}

/** Even-odd test of a point against a flat ring. */
function inside(x: number, y: number, ring: Float64Array): boolean {
  let c = false;
  for (let i = 0, j = ring.length - 2; i < ring.length; j = i, i += 2) {
    const yi = ring[i + 1]!;
    const yj = ring[j + 1]!;
    if (yi > y !== yj > y && x < ((ring[j]! - ring[i]!) * (y - yi)) / (yj - yi) + ring[i]!) c = !c;
  }
  return c;
}

/**
 * The side of meridian `m` an edge from (xa, ya) to (xb, yb) lies on, crossings already split: 1
 * east, 0 west. An edge ending on the meridian is on its other end's side; an edge along it (pixel
 * edges of a lon/lat mask fall on 180 itself) is on the side of the polygon's inside, which is on
 * the left of every edge (shells counter-clockwise, holes clockwise): west going north.
 */
function edgeSide(m: number, xa: number, ya: number, xb: number, yb: number): number {
  if (xa !== m) return xa > m ? 1 : 0;
  if (xb !== m) return xb > m ? 1 : 0;
  return yb > ya ? 0 : 1;
}

/** Whether a ring has a vertex on meridian `m` whose two edges lie on one side of it. */
function touchesLine(rings: Float64Array[], m: number): boolean {
  for (const ring of rings) {
    const n = ring.length / 2;
    for (let i = 0; i < n; i++) {
      if (ring[2 * i] !== m) continue;
      const p = (i + n - 1) % n;
      const q = (i + 1) % n;
      const before = edgeSide(m, ring[2 * p]!, ring[2 * p + 1]!, ring[2 * i]!, ring[2 * i + 1]!);
      const after = edgeSide(m, ring[2 * i]!, ring[2 * i + 1]!, ring[2 * q]!, ring[2 * q + 1]!);
      if (before === after && ring[2 * p] !== m && ring[2 * q] !== m) return true;
    }
  }
  return false;
}

/**
 * The parts of a valid polygon (shell counter-clockwise and holes clockwise, continuous
 * longitudes) on one side of meridian `m`: east when `east`, else west.
 *
 * Why not turf's clipping: it is general (any two polygons) and took 2 s for a 50,000-vertex
 * ring and 49 s and 1.6 GB for 800,000, while a scene's coast or forest crossing the line has that
 * many. A meridian cut of a valid polygon is linear: each ring's edges fall on one side or the
 * other (edgeSide), so the ring splits into chains at the points where the side changes, all on
 * the meridian; along the meridian, the polygon's inside is every other stretch between those
 * points sorted by latitude; chains and stretches then join into closed rings (each point ends one
 * chain and one stretch). Rings that do not cross stay whole, holes in the part that holds them.
 * Null when the points do not pair up (rings touching on the meridian, or not a valid polygon):
 * the caller keeps the polygon uncut.
 */
function cutSide(rings: Float64Array[], m: number, east: boolean): Float64Array[][] | null {
  const want = east ? 1 : 0;
  const chains: number[][] = [];
  /** The crossing each chain ends at. */
  const chainEnd: number[] = [];
  const crossings: Crossing[] = [];
  /** Rings that do not cross, on this side. */
  const whole: Float64Array[] = [];
  for (let r = 0; r < rings.length; r++) {
    const ring = rings[r]!;
    // Half-edges: edges, those crossing the meridian split where they cross it.
    const pts: number[] = [];
    const sides: number[] = [];
    const n = ring.length / 2;
    for (let i = 0; i < n; i++) {
      const xa = ring[2 * i]!;
      const ya = ring[2 * i + 1]!;
      const j = (i + 1) % n;
      const xb = ring[2 * j]!;
      const yb = ring[2 * j + 1]!;
      if (xa === xb && ya === yb) continue;
      if ((xa < m && xb > m) || (xa > m && xb < m)) {
        const y = ya + ((m - xa) / (xb - xa)) * (yb - ya);
        pts.push(xa, ya, m, y);
        sides.push(xa > m ? 1 : 0, xb > m ? 1 : 0);
      } else {
        pts.push(xa, ya);
        sides.push(edgeSide(m, xa, ya, xb, yb));
      }
    }
    const h = sides.length;
    // pts[2k..] is where half-edge k starts; it ends where k + 1 starts.
    let first = -1;
    for (let k = 0; k < h && first < 0; k++) if (sides[k] !== sides[(k + h - 1) % h]) first = k;
    if (first < 0) {
      if (sides[0] === want) whole.push(ring);
      // A shell wholly on the other side leaves nothing here (its holes are inside it).
      else if (r === 0) return [];
      continue;
    }
    let chain: number[] | null = null;
    const firstCrossing = crossings.length;
    for (let step = 0; step < h; step++) {
      const k = (first + step) % h;
      if (sides[k] !== sides[(k + h - 1) % h]) {
        // The side changes where half-edge k starts, on the meridian.
        const id = crossings.length;
        crossings.push({ y: pts[2 * k + 1]!, starts: -1, partner: -1 });
        if (chain) { chainEnd.push(id); chains.push(chain); chain = null; }
        if (sides[k] === want) { chain = [m, pts[2 * k + 1]!]; crossings[id]!.starts = chains.length; }
      }
      if (chain) { const e = ((k + 1) % h) * 2; chain.push(pts[e]!, pts[e + 1]!); }
    }
    // The chain open at the end runs into the first crossing, where its last point already is.
    if (chain) { chainEnd.push(firstCrossing); chains.push(chain); }
  }
  if (crossings.length % 2) return null;
  const order = crossings.map((_, i) => i).sort((a, b) => crossings[a]!.y - crossings[b]!.y);
  for (let k = 0; k + 1 < order.length; k += 2) {
    crossings[order[k]!]!.partner = order[k + 1]!;
    crossings[order[k + 1]!]!.partner = order[k]!;
  }
  // Join: a chain, then along the meridian from where it ends to its partner, then the chain
  // that starts there, until back at the first chain.
  const used = new Uint8Array(chains.length);
  const shells: Float64Array[] = [];
  for (let c = 0; c < chains.length; c++) {
    if (used[c]) continue;
    const out: number[] = [];
    let at = c;
    for (let guard = 0; guard <= chains.length; guard++) {
      if (used[at]) break;
      used[at] = 1;
      const coords = chains[at]!;
      for (let i = 0; i < coords.length; i++) out.push(coords[i]!);
      const next = crossings[crossings[chainEnd[at]!]!.partner]?.starts ?? -1;
      if (next < 0) return null;
      at = next;
    }
    if (at !== c) return null;
    shells.push(Float64Array.from(out));
  }
  // Joined rings can pinch where the polygon's rings touched at a point (a hole touching its
  // shell, 4-connected pixels meeting at a corner): split there, counter-clockwise loops are
  // outer rings and clockwise ones holes. Holes go to the outer ring that holds them.
  const outers: Float64Array[] = whole.includes(rings[0]!) ? [rings[0]!] : [];
  const holes = whole.filter((r) => r !== rings[0]);
  for (const ring of shells) {
    for (const loop of splitPinches(ring)) {
      const a = shoelace(loop);
      if (a > 0) outers.push(loop);
      else if (a < 0) holes.push(loop);
    }
  }
  const parts = outers.map((shell) => [shell]);
  for (const hole of holes) {
    // A point inside the hole near its first edge: its vertices may touch an outer ring.
    const x = (hole[0]! + hole[2]!) / 2;
    const y = (hole[1]! + hole[3]!) / 2;
    const home = parts.length === 1 ? parts[0] : parts.find(([shell]) => inside(x, y, shell!));
    home?.push(hole);
  }
  return parts;
}

/**
 * Vertices of rings, looked up by their exact coordinates: a table of the coordinates' bit
 * patterns (no string keys: rings have 10⁵-10⁶ vertices). `visit` is called for each vertex found
 * already in the table, with the ring that put it there; true from it stops the walk.
 */
function repeatedVertices(rings: Float64Array[], visit: (ring: number, earlier: number) => boolean): boolean {
  const total = vertexCount(rings);
  let size = 16;
  while (size < total * 2) size *= 2;
  const slotRing = new Int32Array(size).fill(-1);
  const slotVertex = new Int32Array(size);
  for (let r = 0; r < rings.length; r++) {
    const ring = rings[r]!;
    const bits = new Uint32Array(ring.buffer, ring.byteOffset, ring.length * 2);
    for (let i = 0; i < ring.length / 2; i++) {
      let h = Math.imul(bits[4 * i]! ^ Math.imul(bits[4 * i + 1]!, 0x9e3779b1) ^ Math.imul(bits[4 * i + 2]!, 0x85ebca6b) ^ bits[4 * i + 3]!, 0xc2b2ae35);
      let found = false;
      for (h = (h ^ (h >>> 15)) & (size - 1); slotRing[h] !== -1; h = (h + 1) & (size - 1)) {
        const other = rings[slotRing[h]!]!;
        const j = slotVertex[h]!;
        if (other[2 * j] === ring[2 * i] && other[2 * j + 1] === ring[2 * i + 1]) { found = true; break; }
      }
      if (found) {
        if (visit(r, slotRing[h]!)) return true;
        continue;
      }
      slotRing[h] = r;
      slotVertex[h] = i;
    }
  }
  return false;
}

/**
 * Whether the rings of a part touch each other in a cycle (a hole touching its outer ring at two
 * points, or holes touching each other and the outer ring round a loop): then the part's inside
 * falls apart into pieces and the rings do not describe it validly. Holes that touched only each
 * other or the shell once in the uncut polygon can close such a cycle once the cut joins one of
 * them into the outer ring.
 */
function touchesInCycle(part: Float64Array[], m: number): boolean {
  const parent = part.map((_, i) => i);
  const root = (i: number): number => { while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!; return i; };
  // Each touching pair is joined once: a second point shared by the same two rings is a cycle too.
  const joined = new Set<number>();
  const join = (r: number, earlier: number): boolean => {
    if (r === earlier) return false;
    const pair = r * part.length + earlier;
    if (joined.has(pair)) return true;
    joined.add(pair);
    const a = root(r);
    const b = root(earlier);
    if (a === b) return true;
    parent[a] = b;
    return false;
  };
  // A hole with a vertex on the meridian touches the outer ring there, on one of its stretches
  // along the meridian (a point of an edge, not a vertex of it).
  for (let h = 1; h < part.length; h++) {
    const ring = part[h]!;
    for (let i = 0; i < ring.length; i += 2) if (ring[i] === m && join(h, 0)) return true;
  }
  return repeatedVertices(part, join);
}

/** A ring that passes a point more than once, as the simple loops it is made of. */
function splitPinches(ring: Float64Array): Float64Array[] {
  if (!repeatedVertices([ring], () => true)) return [ring];
  const loops: Float64Array[] = [];
  const stack: number[] = [];
  const at = new Map<string, number>();
  for (let i = 0; i < ring.length; i += 2) {
    const key = `${ring[i]},${ring[i + 1]}`;
    const seen = at.get(key);
    if (seen === undefined) {
      at.set(key, stack.length);
      stack.push(ring[i]!, ring[i + 1]!);
      continue;
    }
    // Back at a point already passed: the loop since then is one ring.
    const loop = stack.splice(seen + 2);
    for (let k = 0; k < loop.length; k += 2) at.delete(`${loop[k]},${loop[k + 1]}`);
    if (loop.length >= 4) loops.push(Float64Array.from([stack[seen]!, stack[seen + 1]!, ...loop]));
  }
  if (stack.length >= 6) loops.push(Float64Array.from(stack));
  return loops;
}

/**
 * Whether the edge of ring `r` from vertex `a` (longitude `lonA`) to vertex `b` (`lonB`), more than
 * half a turn apart, is a genuinely long edge rather than a crossing of the seam. For a lon/lat
 * mask every edge is genuine (its coordinates are its own, continuous); for a projected one, the
 * edge's middle tells: between the two longitudes for a long edge, beyond them for the seam.
 */
export type LongEdgeTest = (r: number, a: number, b: number, lonA: number, lonB: number) => boolean;

/**
 * One lon/lat polygon (flat unclosed rings, shell first; changed in place) as the polygons to
 * write: itself, moved into -180..180 where it lay past ±180, or its two sides of the antimeridian.
 * A shell winding round a pole (its longitudes span a whole turn) is left as it is.
 */
export function splitAtAntimeridian(rings: Float64Array[], longEdge: LongEdgeTest = () => true): Float64Array[][] {
  if (plain(rings)) return [rings];
  // An edge longer than half a turn is either the seam (proj4 answering -179.9 after 179.9) or a
  // genuinely long edge: a global mask's straight top row runs from -180 to 180, and was taken for
  // the seam and folded to nothing (review). Where any is genuine, the polygon is left as it is.
  for (let r = 0; r < rings.length; r++) {
    const ring = rings[r]!;
    const n = ring.length / 2;
    for (let i = 0; i < n; i++) {
      const j = (i + 1) % n;
      if (Math.abs(ring[2 * j]! - ring[2 * i]!) > 180 && longEdge(r, i, j, ring[2 * i]!, ring[2 * j]!)) return [rings];
    }
  }
  if (!rings.every(unwrap)) return [rings];
  const [min, max] = lonRange(rings[0]!);
  if (max - min >= 360) return [rings];
  const centre = (min + max) / 2;
  // Holes next to their shell, then the whole polygon about -180..180.
  for (const hole of rings.slice(1)) shift(hole, -360 * Math.round((hole[0]! - centre) / 360));
  const dx = -360 * Math.round(centre / 360);
  for (const ring of rings) shift(ring, dx);
  if (min + dx >= -180 && max + dx <= 180) return [rings];
  // The cut reads the polygon's inside as the left of every edge.
  orientRings(rings);
  // The polygon spans less than a turn, so it reaches past one side only.
  const m = max + dx > 180 ? 180 : -180;
  // Pixel edges meant to lie on the line come out of the geotransform a few ulps off it
  // (179.92 + 40 x 0.002 = 180.00000000000003): on it, they are edges along it, not slivers
  // 3e-14° wide that the output's 7 decimals then fold onto the line's other edges.
  for (const ring of rings) for (let i = 0; i < ring.length; i += 2) if (Math.abs(ring[i]! - m) < SNAP_DEGREES) ring[i] = m;
  // A vertex on the line with both its edges on one side touches it: the joined ring's stretch
  // would run through it, a ring touching itself (review; JTS calls it invalid, turf does not).
  const touching = touchesLine(rings, m);
  const west = touching ? null : cutSide(rings, m, false);
  const east = touching ? null : cutSide(rings, m, true);
  if (!west || !east || [...west, ...east].some((part) => touchesInCycle(part, m))) {
    // The cut left a part whose rings touch round a loop (its inside falls apart into pieces that
    // touch at points): turf's general clipping builds those pieces, on polygons small enough for
    // it; larger ones stay uncut (valid, continuous, but reaching past ±180).
    return vertexCount(rings) <= CLIP_MAX_VERTICES ? clipped(rings, m) : [rings];
  }
  // The side beyond ±180 moves a turn back.
  for (const part of m > 0 ? east : west) for (const ring of part) shift(ring, m > 0 ? -360 : 360);
  return [...west, ...east];
}
