/**
 * A streaming polygonizer for class masks: pixel-edge polygons with holes, one per 4-connected
 * region, like `gdal_polygonize.py` with its default 4-connectivity.
 *
 * Rows arrive top to bottom. Between two rows (a "scanline") we visit only the corners where either
 * row changes class, and at each corner decide, from its four pixels, how the boundary arcs that
 * come down from above continue: straight on, round a corner, joining another open arc, or ending
 * at a node where three or more regions meet. Union-find over row runs merges regions that meet
 * further down, so an object spanning any number of strips is one feature. A region is emitted as
 * soon as a row no longer continues it, and its storage is recycled: memory follows the open
 * boundary (about one row of regions), not the raster.
 *
 * With simplification on, the mask is cut into bands of `bandHeight` rows: every boundary that
 * crosses a band line gets a node there. A band's arcs then lie inside the band (touching its lines
 * only at nodes), so each band can be simplified on its own, topologically, as soon as it is
 * complete, and regions closed in it are emitted right after. See simplify.ts for why that is exact.
 */
import { ArcStore, NONE } from './arc-store.ts';
import { RegionLabels } from './region-labels.ts';
import { RingAssembler, type RegionPolygon } from './region-rings.ts';
import { INVALID, RowRuns } from './row-runs.ts';
import { simplifyBand, type BandArcs } from './simplify.ts';

export type { RegionPolygon } from './region-rings.ts';
export { INVALID, RowRuns } from './row-runs.ts';

export interface PolygonizeOptions {
  /** Simplification tolerance in pixels; 0 keeps the exact pixel edges. */
  tolerance?: number;
  /** Rows per simplification band. */
  bandHeight?: number;
}

/** Rows per band: tall enough that the forced nodes on band lines are rare, short enough to stay small. */
export const DEFAULT_BAND_HEIGHT = 256;

// Arms of a corner, for the connection table.
const UP = 0, LEFT = 1, RIGHT = 2, DOWN = 3;

/**
 * For the pixels of one region around a corner (bit 1 NW, 2 NE, 4 SW, 8 SE), which of the corner's
 * arms its boundary arrives on and leaves by, walking with the region on the left. Diagonal pairs
 * (9, 6) are two separate passages here; see RegionLabels for how saddles are re-paired.
 */
const PASSAGES: ReadonlyArray<ReadonlyArray<readonly [number, number]>> = [
  [], [[UP, LEFT]], [[RIGHT, UP]], [[RIGHT, LEFT]], [[LEFT, DOWN]], [[UP, DOWN]], [[RIGHT, UP], [LEFT, DOWN]],
  [[RIGHT, DOWN]], [[DOWN, RIGHT]], [[UP, LEFT], [DOWN, RIGHT]], [[DOWN, UP]], [[DOWN, LEFT]], [[LEFT, RIGHT]],
  [[UP, RIGHT]], [[LEFT, UP]], [],
];

export class StripPolygonizer {
  private readonly arcs = new ArcStore();
  private readonly labels = new RegionLabels(this.arcs);
  private readonly rings = new RingAssembler(this.arcs, this.labels);
  private above: RowRuns;
  private below: RowRuns;
  private rowsDone = 0;
  private readonly tolerance: number;
  private readonly bandHeight: number;
  private closed: number[] = [];
  private bandArcs: number[] = [];
  private nextBandArcs: number[] = [];
  private bandTop = 0;

  // The corner being processed (fields, so the node handler needs no arguments or allocations).
  private cx = 0;
  private cy = 0;
  private qa = 0; private qb = 0; private qc = 0; private qd = 0;
  private la = -1; private lb = -1; private lc = -1; private ld = -1;
  private armUp = NONE; private armLeft = NONE; private armRight = NONE; private armDown = NONE;

  constructor(
    readonly width: number,
    readonly height: number,
    options: PolygonizeOptions,
    private readonly emit: (polygon: RegionPolygon) => void,
  ) {
    this.tolerance = Math.max(0, options.tolerance ?? 0);
    this.bandHeight = this.tolerance > 0 ? Math.max(2, options.bandHeight ?? DEFAULT_BAND_HEIGHT) : Infinity;
    this.above = new RowRuns(width);
    this.below = new RowRuns(width);
  }

  /** Feed the next row: `width` codes from codes[offset], INVALID where there is no class. */
  pushRow(codes: Int32Array, offset = 0): void {
    this.pushRuns((runs) => runs.encode(codes, offset));
  }

  /** Feed the next row by letting `encode` fill its runs (e.g. RowRuns.encodePixels). */
  pushRuns(encode: (runs: RowRuns) => void): void {
    if (this.rowsDone >= this.height) throw new Error(`polygonize: more than ${this.height} rows`);
    encode(this.below);
    this.scanline(this.rowsDone);
    this.rowsDone++;
  }

  /** Close everything below the last row. */
  finish(): void {
    if (this.rowsDone !== this.height) throw new Error(`polygonize: got ${this.rowsDone} of ${this.height} rows`);
    this.below.fillInvalid();
    this.scanline(this.height);
    this.rowsDone++;
  }

  /** Live storage, for memory tests and the benchmark. */
  get openSize(): { arcs: number; vertices: number; labels: number } {
    return { arcs: this.arcs.liveArcs, vertices: this.arcs.liveVertices, labels: this.labels.liveLabels };
  }

  private scanline(y: number): void {
    this.labelRuns();
    const cut = this.tolerance > 0 && y > 0 && y < this.height && y % this.bandHeight === 0;
    this.sweep(y, cut);
    this.findClosed(y);
    if (this.tolerance > 0) {
      if (cut || y === this.height) {
        this.simplifyBand(y);
        this.emitClosed();
      }
    } else {
      this.emitClosed();
    }
    const t = this.above;
    this.above = this.below;
    this.below = t;
  }

  /** Give each run of the new row a region: its same-class 4-neighbours' above, or a new one. */
  private labelRuns(): void {
    const A = this.above;
    const B = this.below;
    const labels = this.labels;
    const aStart = A.start, aVal = A.value, aLab = A.label, aN = A.n;
    const bStart = B.start, bVal = B.value, bLab = B.label, bN = B.n;
    let i = 0;
    for (let j = 0; j < bN; j++) {
      const v = bVal[j]!;
      if (v === INVALID) { bLab[j] = NONE; continue; }
      const bs = bStart[j]!;
      const be = bStart[j + 1]!;
      while (aStart[i + 1]! <= bs) i++;
      let lab = NONE;
      for (let k = i; k < aN && aStart[k]! < be; k++) {
        if (aVal[k] === v) lab = lab === NONE ? labels.find(aLab[k]!) : labels.union(lab, aLab[k]!);
      }
      bLab[j] = lab === NONE ? labels.newLabel(v) : lab;
    }
  }

  private sweep(y: number, cut: boolean): void {
    const arcs = this.arcs;
    const A = this.above;
    const B = this.below;
    const aStart = A.start, aVal = A.value, aArm = A.arm, aLab = A.label, aN = A.n;
    const bStart = B.start, bVal = B.value, bArm = B.arm, bLab = B.label, bN = B.n;
    const W = this.width;
    const track = this.tolerance > 0;
    let ia = 0;
    let ib = 0;
    let pending = NONE; // the arc on the horizontal edge that ends at this corner
    for (;;) {
      const xa = aStart[ia]!;
      const xb = bStart[ib]!;
      const x = xa < xb ? xa : xb;
      if (x > W) break;
      const atA = xa === x;
      const atB = xb === x;
      const nwRun = ia - 1;
      const neRun = atA ? ia : ia - 1;
      const swRun = ib - 1;
      const seRun = atB ? ib : ib - 1;
      const a = nwRun >= 0 ? aVal[nwRun]! : INVALID;
      const b = neRun < aN ? aVal[neRun]! : INVALID;
      const c = swRun >= 0 ? bVal[swRun]! : INVALID;
      const d = seRun < bN ? bVal[seRun]! : INVALID;
      const armIndexA = ia;
      const armIndexB = ib;
      if (atA) ia++;
      if (atB) ib++;

      const up = a !== b;
      const left = a !== c;
      const right = b !== d;
      const down = c !== d;
      const edges = (up ? 1 : 0) + (left ? 1 : 0) + (right ? 1 : 0) + (down ? 1 : 0);
      if (edges === 0) continue;
      const upArc = up ? arcs.resolve(aArm[armIndexA]!) : NONE;
      const leftArc = left ? arcs.resolve(pending) : NONE;
      let rightArc = NONE;
      let downArc = NONE;

      // Nodes: 3+ edges; on a band line, any downward edge; and the raster's corners, so that
      // simplifying the outer boundary never cuts the frame.
      const frameCorner = (x === 0 || x === W) && (y === 0 || y === this.height);
      if (edges === 2 && !(cut && down) && !frameCorner) {
        if (up && down) {
          downArc = upArc;
        } else if (left && right) {
          rightArc = leftArc;
        } else if (up && left) {
          // NW differs from the other three: two open arcs meet; up arrives iff NW is the lower code.
          if (a < b) { arcs.append(upArc, x, y); arcs.join(upArc, leftArc); } else { arcs.append(leftArc, x, y); arcs.join(leftArc, upArc); }
        } else if (up && right) {
          if (a < b) arcs.append(upArc, x, y); else arcs.prepend(upArc, x, y);
          rightArc = upArc;
        } else if (left && down) {
          if (a > c) arcs.append(leftArc, x, y); else arcs.prepend(leftArc, x, y);
          downArc = leftArc;
        } else {
          // right && down: SE starts a new boundary.
          const arc = arcs.newArc(x, y);
          const lSE = bLab[seRun]!;
          const lNE = neRun < aN ? aLab[neRun]! : NONE;
          this.claim(arc, b, lNE, d, lSE);
          if (track) this.bandArcs.push(arc);
          rightArc = arc;
          downArc = arc;
        }
      } else {
        this.cx = x; this.cy = y;
        this.qa = a; this.qb = b; this.qc = c; this.qd = d;
        this.la = nwRun >= 0 ? aLab[nwRun]! : NONE;
        this.lb = neRun < aN ? aLab[neRun]! : NONE;
        this.lc = swRun >= 0 ? bLab[swRun]! : NONE;
        this.ld = seRun < bN ? bLab[seRun]! : NONE;
        this.armUp = upArc; this.armLeft = leftArc;
        this.node(cut);
        rightArc = this.armRight;
        downArc = this.armDown;
      }
      if (down) bArm[armIndexB] = downArc;
      pending = right ? rightArc : NONE;
    }
  }

  /** A corner where arcs end and start: 3 or 4 boundary edges, or any downward edge on a band line. */
  private node(cut: boolean): void {
    const arcs = this.arcs;
    const x = this.cx, y = this.cy;
    const a = this.qa, b = this.qb, c = this.qc, d = this.qd;
    const upArc = this.armUp, leftArc = this.armLeft;
    // A corner with two edges is a node only because it sits on a band line.
    const onlyCut = ((a !== b ? 1 : 0) + (a !== c ? 1 : 0) + (b !== d ? 1 : 0) + (c !== d ? 1 : 0)) === 2 ? 1 : 0;
    if (upArc !== NONE) { if (a < b) arcs.append(upArc, x, y, onlyCut); else arcs.prepend(upArc, x, y, onlyCut); }
    if (leftArc !== NONE) { if (a > c) arcs.append(leftArc, x, y, onlyCut); else arcs.prepend(leftArc, x, y, onlyCut); }
    let rightArc = NONE;
    let downArc = NONE;
    if (b !== d) {
      rightArc = arcs.newArc(x, y, onlyCut);
      this.claim(rightArc, b, this.lb, d, this.ld);
      if (this.tolerance > 0) this.bandArcs.push(rightArc);
    }
    if (c !== d) {
      downArc = arcs.newArc(x, y, onlyCut);
      this.claim(downArc, c, this.lc, d, this.ld);
      if (this.tolerance > 0) (cut ? this.nextBandArcs : this.bandArcs).push(downArc);
    }
    this.armRight = rightArc;
    this.armDown = downArc;

    if (a !== INVALID) this.connect(a, 1 | (b === a ? 2 : 0) | (c === a ? 4 : 0) | (d === a ? 8 : 0));
    if (b !== INVALID && b !== a) this.connect(b, 2 | (c === b ? 4 : 0) | (d === b ? 8 : 0));
    if (c !== INVALID && c !== a && c !== b) this.connect(c, 4 | (d === c ? 8 : 0));
    if (d !== INVALID && d !== a && d !== b && d !== c) this.connect(d, 8);
  }

  /** Link the half-arcs of one region's boundary passages through the current corner. */
  private connect(v: number, mask: number): void {
    const passages = PASSAGES[mask]!;
    for (const [arrive, leave] of passages) this.arcs.link(this.halfArc(arrive, v), this.halfArc(leave, v));
    if (mask === 9) {
      const [p1, p2] = passages as [readonly [number, number], readonly [number, number]];
      this.labels.addSaddle(this.la, this.ld, this.halfArc(p1[0], v), this.halfArc(p1[1], v), this.halfArc(p2[0], v), this.halfArc(p2[1], v));
    } else if (mask === 6) {
      const [p1, p2] = passages as [readonly [number, number], readonly [number, number]];
      this.labels.addSaddle(this.lb, this.lc, this.halfArc(p1[0], v), this.halfArc(p1[1], v), this.halfArc(p2[0], v), this.halfArc(p2[1], v));
    }
  }

  /** The half-arc of region code v on one arm of the current corner (side 0 = lower code). */
  private halfArc(arm: number, v: number): number {
    let arc: number, p: number, q: number;
    switch (arm) {
      case UP: arc = this.armUp; p = this.qa; q = this.qb; break;
      case LEFT: arc = this.armLeft; p = this.qa; q = this.qc; break;
      case RIGHT: arc = this.armRight; p = this.qb; q = this.qd; break;
      default: arc = this.armDown; p = this.qc; q = this.qd; break;
    }
    const low = p < q ? p : q;
    return arc * 2 + (v === low ? 0 : 1);
  }

  /** List a new arc's two sides under their regions (codes p and q, labels lp and lq). */
  private claim(arc: number, p: number, lp: number, q: number, lq: number): void {
    const labels = this.labels;
    if (p < q) {
      if (p !== INVALID) labels.addHalfArc(lp, arc * 2);
      labels.addHalfArc(lq, arc * 2 + 1);
    } else {
      if (q !== INVALID) labels.addHalfArc(lq, arc * 2);
      labels.addHalfArc(lp, arc * 2 + 1);
    }
  }

  /** Regions with a run in the row above but none in the row below are complete. */
  private findClosed(y: number): void {
    const labels = this.labels;
    const A = this.above;
    const B = this.below;
    for (let j = 0; j < B.n; j++) {
      if (B.value[j] === INVALID) continue;
      const r = labels.find(B.label[j]!);
      B.label[j] = r;
      labels.present[r] = y;
    }
    for (let i = 0; i < A.n; i++) {
      if (A.value[i] === INVALID) continue;
      const r = labels.find(A.label[i]!);
      if (labels.present[r] !== y && labels.closedAt[r] !== y) {
        labels.closedAt[r] = y;
        this.closed.push(r);
      }
    }
    labels.releaseAbsorbed();
  }

  private emitClosed(): void {
    const closed = this.closed;
    this.closed = [];
    for (const r of closed) this.emit(this.rings.assemble(r));
  }

  /** Simplify every arc of the band that ends at scanline `y`; they are all complete now. */
  private simplifyBand(y: number): void {
    const arcs = this.arcs;
    const list = this.bandArcs;
    this.bandArcs = this.nextBandArcs;
    this.nextBandArcs = [];
    const top = this.bandTop;
    this.bandTop = y;
    const live = list.filter((arc) => !arcs.isDead(arc));
    let total = 0;
    for (const arc of live) {
      for (let v = arcs.head[arc]!; ; v = arcs.vnext[v]!) { total++; if (v === arcs.tail[arc]) break; }
      if (arcs.isLoop(arc)) total++;
    }
    const band: BandArcs = {
      xs: new Int32Array(total),
      ys: new Int32Array(total),
      offsets: new Int32Array(live.length + 1),
      top,
      bottom: y,
    };
    const ids = new Int32Array(total);
    let n = 0;
    live.forEach((arc, k) => {
      band.offsets[k] = n;
      for (let v = arcs.head[arc]!; ; v = arcs.vnext[v]!) {
        band.xs[n] = arcs.vx[v]!; band.ys[n] = arcs.vy[v]!; ids[n] = v; n++;
        if (v === arcs.tail[arc]) break;
      }
      if (arcs.isLoop(arc)) {
        // Close the loop explicitly so the simplifier sees a polyline from its anchor back to it.
        const h = arcs.head[arc]!;
        band.xs[n] = arcs.vx[h]!; band.ys[n] = arcs.vy[h]!; ids[n] = NONE; n++;
      }
    });
    band.offsets[live.length] = n;
    const keep = simplifyBand(band, this.tolerance);
    live.forEach((arc, k) => {
      const from = band.offsets[k]!;
      const count = band.offsets[k + 1]! - from - (arcs.isLoop(arc) ? 1 : 0);
      arcs.keepVertices(arc, ids, keep, from, count);
    });
  }
}
