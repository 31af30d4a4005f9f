/**
 * Topology-preserving simplification of one band's arcs (Douglas-Peucker, checked like Saalfeld's
 * variant).
 *
 * Each arc is shared by the two regions it separates and is simplified once, so neighbours keep an
 * identical boundary: no gaps, no overlaps. Replacing a stretch of an arc by a shortcut sweeps the
 * area between them; the shortcut is taken only if that area holds no vertex of any other arc (nor
 * of this arc outside the stretch) and no other arc already runs along the same segment. Shortcuts
 * are accepted one at a time against the current state, so the final arcs neither cross each other
 * nor themselves, rings stay valid, and nothing ends up on the wrong side of a boundary. Closed loops
 * keep at least three corners.
 *
 * Why a band can be simplified alone: the swept area of a shortcut lies inside the convex hull of
 * the stretch it replaces, hence inside the band's rows [top, bottom]. Every boundary crossing a
 * band line has a node there, so other bands' arcs reach into those rows only along the band lines:
 * the band below touches our bottom line only at nodes that are vertices of our own arcs, and the
 * band above owns every edge lying on our top line. A shortcut with both ends on the top line is
 * therefore refused; any other shortcut meets the band above at most in its own end points.
 */

export interface BandArcs {
  /** Vertex coordinates of all arcs, arc after arc (pixel corners). */
  xs: Int32Array;
  ys: Int32Array;
  /** Arc k is vertices offsets[k] .. offsets[k + 1] - 1; a closed loop repeats its first vertex last. */
  offsets: Int32Array;
  /** The band's first and last scanline. */
  top: number;
  bottom: number;
}

const CELL = 8;

/** Which vertices survive simplification with `tolerance` pixels (end points always do). */
export function simplifyBand(band: BandArcs, tolerance: number): Uint8Array {
  const simplifier = new BandSimplifier(band, tolerance);
  simplifier.run();
  return simplifier.keep;
}

class BandSimplifier {
  readonly keep: Uint8Array;
  private readonly arcOf: Int32Array;
  private readonly cellStart: Int32Array;
  private readonly cellItems: Int32Array;
  private readonly cellsX: number;
  private readonly cellsY: number;
  private stack = new Int32Array(256);

  constructor(private readonly band: BandArcs, private readonly tolerance: number) {
    const { xs, ys, offsets, top } = band;
    const n = xs.length;
    const arcCount = offsets.length - 1;
    this.keep = new Uint8Array(n).fill(1);
    this.arcOf = new Int32Array(n);
    for (let k = 0; k < arcCount; k++) this.arcOf.fill(k, offsets[k]!, offsets[k + 1]!);
    let maxX = 0;
    for (let i = 0; i < n; i++) if (xs[i]! > maxX) maxX = xs[i]!;
    this.cellsX = Math.floor(maxX / CELL) + 1;
    this.cellsY = Math.floor((band.bottom - top) / CELL) + 1;
    const cells = this.cellsX * this.cellsY;
    const start = new Int32Array(cells + 1);
    const cellOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = Math.floor((ys[i]! - top) / CELL) * this.cellsX + Math.floor(xs[i]! / CELL);
      cellOf[i] = c;
      start[c + 1]!++;
    }
    for (let c = 0; c < cells; c++) start[c + 1]! += start[c]!;
    const fill = start.slice(0, cells);
    const items = new Int32Array(n);
    for (let i = 0; i < n; i++) items[fill[cellOf[i]!]!++] = i;
    this.cellStart = start;
    this.cellItems = items;
  }

  run(): void {
    const offsets = this.band.offsets;
    for (let k = 0; k < offsets.length - 1; k++) {
      if (offsets[k + 1]! - offsets[k]! > 2) this.simplifyArc(offsets[k]!, offsets[k + 1]! - 1);
    }
  }

  private push(i: number, j: number, sp: number): number {
    if (sp + 2 > this.stack.length) {
      const grown = new Int32Array(this.stack.length * 2);
      grown.set(this.stack);
      this.stack = grown;
    }
    this.stack[sp] = i;
    this.stack[sp + 1] = j;
    return sp + 2;
  }

  private simplifyArc(s: number, e: number): void {
    const { xs, ys } = this.band;
    const keep = this.keep;
    const loop = xs[s] === xs[e] && ys[s] === ys[e];
    let alive = e - s + 1;
    let sp = 0;
    if (loop) {
      // Anchor a closed ring at its first vertex and the vertex farthest from it.
      let f = s + 1;
      let best = -1;
      for (let t = s + 1; t < e; t++) {
        const dx = xs[t]! - xs[s]!;
        const dy = ys[t]! - ys[s]!;
        const d = dx * dx + dy * dy;
        if (d > best) { best = d; f = t; }
      }
      sp = this.push(f, e, sp);
      sp = this.push(s, f, sp);
    } else {
      sp = this.push(s, e, sp);
    }
    const tol2 = this.tolerance * this.tolerance;
    while (sp > 0) {
      sp -= 2;
      const i = this.stack[sp]!;
      const j = this.stack[sp + 1]!;
      if (j - i < 2) continue;
      const x0 = xs[i]!, y0 = ys[i]!, x1 = xs[j]!, y1 = ys[j]!;
      let f = i + 1;
      let dmax = -1;
      let minX = Math.min(x0, x1), maxX = Math.max(x0, x1), minY = Math.min(y0, y1), maxY = Math.max(y0, y1);
      for (let t = i + 1; t < j; t++) {
        const x = xs[t]!, y = ys[t]!;
        const d = segmentDistance2(x, y, x0, y0, x1, y1);
        if (d > dmax) { dmax = d; f = t; }
        if (x < minX) minX = x; else if (x > maxX) maxX = x;
        if (y < minY) minY = y; else if (y > maxY) maxY = y;
      }
      const removed = j - i - 1;
      if (dmax <= tol2 && (!loop || alive - removed >= 4) && this.shortcutIsSafe(i, j, dmax, minX, minY, maxX, maxY)) {
        keep.fill(0, i + 1, j);
        alive -= removed;
      } else {
        sp = this.push(f, j, sp);
        sp = this.push(i, f, sp);
      }
    }
  }

  /** Would replacing vertices i+1 .. j-1 of one arc by the segment i-j keep the band's topology? */
  private shortcutIsSafe(i: number, j: number, dmax2: number, minX: number, minY: number, maxX: number, maxY: number): boolean {
    const { xs, ys, top } = this.band;
    const x0 = xs[i]!, y0 = ys[i]!, x1 = xs[j]!, y1 = ys[j]!;
    if (x0 === x1 && y0 === y1) return false;
    if (top > 0 && y0 === top && y1 === top) return false;
    const keep = this.keep;
    const reach = dmax2 + 1e-9;
    const cx0 = Math.floor(minX / CELL), cx1 = Math.min(this.cellsX - 1, Math.floor(maxX / CELL));
    const cy0 = Math.floor((minY - top) / CELL), cy1 = Math.min(this.cellsY - 1, Math.floor((maxY - top) / CELL));
    for (let cy = cy0; cy <= cy1; cy++) {
      for (let cx = cx0; cx <= cx1; cx++) {
        const c = cy * this.cellsX + cx;
        for (let p = this.cellStart[c]!; p < this.cellStart[c + 1]!; p++) {
          const t = this.cellItems[p]!;
          if (t >= i && t <= j && this.arcOf[t] === this.arcOf[i]) continue;
          if (!keep[t]) continue;
          const qx = xs[t]!, qy = ys[t]!;
          if (qx < minX || qx > maxX || qy < minY || qy > maxY) continue;
          if (qx === x0 && qy === y0) { if (this.neighbourAt(t, x1, y1)) return false; continue; }
          if (qx === x1 && qy === y1) { if (this.neighbourAt(t, x0, y0)) return false; continue; }
          if (segmentDistance2(qx, qy, x0, y0, x1, y1) > reach) continue;
          if ((x1 - x0) * (qy - y0) - (y1 - y0) * (qx - x0) === 0) return false; // on the shortcut
          if (this.insideStretch(qx, qy, i, j)) return false;
        }
      }
    }
    return true;
  }

  /** Is a current neighbour of vertex t (along its arc) at (x, y)? Then a segment would be doubled. */
  private neighbourAt(t: number, x: number, y: number): boolean {
    const { xs, ys, offsets } = this.band;
    const k = this.arcOf[t]!;
    for (let u = t - 1; u >= offsets[k]!; u--) {
      if (!this.keep[u]) continue;
      if (xs[u] === x && ys[u] === y) return true;
      break;
    }
    for (let u = t + 1; u < offsets[k + 1]!; u++) {
      if (!this.keep[u]) continue;
      if (xs[u] === x && ys[u] === y) return true;
      break;
    }
    return false;
  }

  /** Point in the polygon formed by vertices i .. j and the closing shortcut (even-odd rule). */
  private insideStretch(qx: number, qy: number, i: number, j: number): boolean {
    const { xs, ys } = this.band;
    let inside = false;
    let px = xs[j]!, py = ys[j]!;
    for (let t = i; t <= j; t++) {
      const x = xs[t]!, y = ys[t]!;
      if ((y > qy) !== (py > qy) && qx < ((px - x) * (qy - y)) / (py - y) + x) inside = !inside;
      px = x;
      py = y;
    }
    return inside;
  }
}

function segmentDistance2(px: number, py: number, x0: number, y0: number, x1: number, y1: number): number {
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  let t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
  if (t < 0) t = 0; else if (t > 1) t = 1;
  const ex = x0 + t * dx - px;
  const ey = y0 + t * dy - py;
  return ex * ex + ey * ey;
}
