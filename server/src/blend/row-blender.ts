/**
 * Blends the class probabilities of overlapping tiles into labels, one tile row at a time.
 *
 * We blend probabilities, not labels: near a tile border a model is unsure, and averaging its
 * scores with the neighbour's lets the better-informed tile win smoothly; voting on labels would
 * leave a visible seam wherever the two disagree.
 *
 * Memory does not grow with the scene. Columns of the current tile row are finished as soon as
 * the next tile starts to their right, so only a tile-wide window of sums is live, plus the
 * overlap rows carried down to the next tile row.
 */
import type { TilePlan } from '../plan/plan-tiles.ts';
import { blendWindow } from './blend-window.ts';

export const NODATA_CLASS = 255;

export interface Strip {
  /** First scene row of the strip. */
  y: number;
  rows: number;
  labels: Uint8Array;
  /** Max probability x 255 (0 = nodata), when requested. */
  confidence: Uint8Array | null;
}

export interface ValidRows {
  y: number;
  rows: number;
  /** 1 = valid input pixel, full scene width. */
  data: Uint8Array;
}

export class RowBlender {
  /** Blend weights along a tile's columns and rows (each axis ramps over its own overlap). */
  private readonly wx: Float32Array;
  private readonly wy: Float32Array;
  private readonly planes: number;
  private readonly cap: number;
  private row = -1;
  private rowTop = 0;
  private rowBottom = 0;
  private finalEnd = 0;
  private finalX = 0;
  private nextTile = 0;
  private acc: Float32Array;
  private carry: Float32Array = new Float32Array(0);
  private carryTop = 0;
  private carryRows = 0;
  private nextCarry: Float32Array = new Float32Array(0);
  private nextCarryRows = 0;
  private valid: ValidRows | null = null;
  private labels: Uint8Array = new Uint8Array(0);
  private confidence: Uint8Array | null = null;
  /** Rows of the current tile row that only one tile covers, at full weight: [from, to). */
  private soleRows: [number, number] = [0, 0];
  /**
   * The last tile added, with the columns only it covers at full weight. Those pixels' scores are
   * its probabilities as they are, so they are decided straight from them when their columns are
   * finished, without going through the sums (over half of a tile with the usual overlap).
   */
  private sole: { probs: Float32Array; x0: number; from: number; to: number } | null = null;

  constructor(private readonly plan: TilePlan, private readonly classes: number, private readonly withConfidence: boolean) {
    this.wx = blendWindow(plan.tileWidth, plan.overlapX);
    this.wy = blendWindow(plan.tileHeight, plan.overlapY);
    this.planes = classes + 1; // class sums + weight sum
    this.cap = plan.tileWidth;
    this.acc = new Float32Array(this.planes * plan.tileHeight * this.cap);
  }

  /** Start tile row r; `valid` must cover the rows this tile row finishes. */
  beginRow(r: number, valid: ValidRows): void {
    if (r !== this.row + 1) throw new Error(`tile rows must come in order (got ${r} after ${this.row})`);
    const { plan } = this;
    const y0 = plan.ys[r]!;
    const last = r === plan.ys.length - 1;
    this.row = r;
    this.rowTop = Math.max(0, y0);
    this.rowBottom = Math.min(plan.height, y0 + plan.tileHeight);
    this.finalEnd = last ? plan.height : Math.min(plan.height, plan.ys[r + 1]!);
    if (valid.y > this.rowTop || valid.y + valid.rows < this.finalEnd) throw new Error('internal: validity rows do not cover the strip');
    this.valid = valid;
    this.finalX = 0;
    this.nextTile = 0;
    this.sole = null;
    this.soleRows = soleSpan(plan.ys, r, plan.tileHeight, plan.overlapY, this.rowTop, this.finalEnd);
    // Sums carried from the row above start at this row's top.
    const released = this.carry;
    this.carry = this.nextCarry;
    this.carryRows = this.nextCarryRows;
    this.carryTop = this.rowTop;
    this.nextCarryRows = last ? 0 : this.rowBottom - this.finalEnd;
    // The row above's carry is read no more: its buffer takes the next carry (finishColumns
    // overwrites every value of the carry rows), sparing a large allocation per tile row and the
    // full garbage collections those bring.
    const carryLength = this.planes * this.nextCarryRows * plan.width;
    this.nextCarry = released.buffer.byteLength >= carryLength * 4 ? new Float32Array(released.buffer, 0, carryLength) : new Float32Array(carryLength);
    const stripRows = this.finalEnd - this.rowTop;
    this.labels = new Uint8Array(stripRows * plan.width);
    this.confidence = this.withConfidence ? new Uint8Array(stripRows * plan.width) : null;
  }

  /** Add tile c of the current row: probabilities [classes, tileHeight, tileWidth], or null for a skipped tile. */
  addTile(c: number, probs: Float32Array | null): void {
    if (c !== this.nextTile) throw new Error(`tiles must come in order (got ${c}, expected ${this.nextTile})`);
    this.nextTile++;
    const { plan } = this;
    const x0 = plan.xs[c]!;
    this.finishColumns(Math.min(plan.width, Math.max(this.finalX, x0)));
    if (!probs) { this.sole = null; return; }
    const t = plan.tileWidth;
    const [soleFrom, soleTo] = soleSpan(plan.xs, c, t, plan.overlapX, 0, plan.width);
    const sole = soleTo > soleFrom ? { probs, x0, from: soleFrom, to: soleTo } : null;
    this.sole = sole;
    const [soleY0, soleY1] = this.soleRows;
    const cap = this.cap;
    const plane = t * plan.tileHeight;
    const accPlane = plan.tileHeight * cap;
    const rows = this.rowBottom - this.rowTop;
    const ty0 = this.rowTop - plan.ys[this.row]!;
    const cx0 = Math.max(0, x0);
    const cx1 = Math.min(plan.width, x0 + t);
    const { wx, wy: wRows } = this;
    const acc = this.acc;
    const classes = this.classes;
    // The accumulator is a ring of `cap` columns: a tile's columns are at most two runs in it.
    const start = cx0 % cap;
    const firstRun = Math.min(cx1 - cx0, cap - start);
    for (let ry = 0; ry < rows; ry++) {
      const ty = ty0 + ry;
      const wy = wRows[ty]!;
      const srcRow = ty * t + (cx0 - x0);
      const txRow = cx0 - x0;
      const dstRow = ry * cap;
      // Columns [from, to) of the tile (counted from cx0), at ring offset dstCol + from.
      const add = (from: number, to: number, dstCol: number) => {
        if (to <= from) return;
        for (let k = 0; k < classes; k++) {
          accumulate(acc, k * accPlane + dstRow + dstCol + from, probs, k * plane + srcRow + from, wx, txRow + from, wy, to - from);
        }
        accumulateWeights(acc, classes * accPlane + dstRow + dstCol + from, wx, txRow + from, wy, to - from);
      };
      // In the rows and columns this tile alone covers, nothing needs summing.
      const y = this.rowTop + ry;
      const skip = sole !== null && y >= soleY0 && y < soleY1 ? sole : null;
      for (let run = 0; run < 2; run++) {
        const runFrom = run === 0 ? 0 : firstRun;
        const runTo = run === 0 ? firstRun : cx1 - cx0;
        const dstCol = run === 0 ? start - runFrom : -runFrom;
        if (!skip) {
          add(runFrom, runTo, dstCol);
        } else {
          add(runFrom, Math.min(runTo, skip.from - cx0), dstCol);
          add(Math.max(runFrom, skip.to - cx0), runTo, dstCol);
        }
      }
    }
  }

  /** Finish the current tile row and return its strip of final rows. */
  endRow(): Strip {
    if (this.nextTile !== this.plan.xs.length) throw new Error(`row ${this.row} ended after ${this.nextTile} of ${this.plan.xs.length} tiles`);
    this.finishColumns(this.plan.width);
    return { y: this.rowTop, rows: this.finalEnd - this.rowTop, labels: this.labels, confidence: this.confidence };
  }

  private finishColumns(upTo: number): void {
    const x0 = this.finalX;
    if (upTo <= x0) return;
    const { plan, planes, cap, acc, carry, nextCarry } = this;
    const W = plan.width;
    const accPlane = plan.tileHeight * cap;
    const rows = this.rowBottom - this.rowTop;
    const carryPlane = this.carryRows * W;
    const nPlane = this.nextCarryRows * W;
    // The finished columns are at most two runs of the accumulator ring.
    const ringFrom = x0 % cap;
    const firstRun = Math.min(upTo - x0, cap - ringFrom);
    for (let ry = 0; ry < rows; ry++) {
      const y = this.rowTop + ry;
      const carryRow = y - this.carryTop;
      const hasCarry = carryRow < this.carryRows;
      const final = y < this.finalEnd;
      for (let run = 0; run < 2; run++) {
        const xs = run === 0 ? x0 : x0 + firstRun;
        const n = run === 0 ? firstRun : upTo - xs;
        if (n <= 0) continue;
        const a = ry * cap + (run === 0 ? ringFrom : 0);
        const c = carryRow * W + xs;
        const soleHere = this.sole && y >= this.soleRows[0] && y < this.soleRows[1] ? this.sole : null;
        if (final && soleHere && soleHere.from < xs + n && soleHere.to > xs) {
          const d0 = Math.max(xs, soleHere.from);
          const d1 = Math.min(xs + n, soleHere.to);
          if (d0 > xs) this.decideFromSums(ry, y, xs, d0 - xs, a, hasCarry, c);
          this.decideFromTile(soleHere, ry, y, d0, d1);
          if (xs + n > d1) this.decideFromSums(ry, y, d1, xs + n - d1, a + (d1 - xs), hasCarry, c + (d1 - xs));
          // addTile summed nothing into [d0, d1) of this row (the sole tile skips it, and no other
          // tile reaches it), so only the columns around it need clearing.
          for (let k = 0; k < planes; k++) {
            acc.fill(0, k * accPlane + a, k * accPlane + a + (d0 - xs));
            acc.fill(0, k * accPlane + a + (d1 - xs), k * accPlane + a + n);
          }
          continue;
        } else if (final) {
          this.decideFromSums(ry, y, xs, n, a, hasCarry, c);
        } else {
          // Rows the next tile row overlaps: their sums are carried down, not decided yet.
          if (hasCarry) for (let k = 0; k < planes; k++) addInto(acc, k * accPlane + a, carry, k * carryPlane + c, n);
          const nIdx = (y - this.finalEnd) * W + xs;
          for (let k = 0; k < planes; k++) nextCarry.set(acc.subarray(k * accPlane + a, k * accPlane + a + n), k * nPlane + nIdx);
        }
        // Clear the finished columns of the ring for the tiles to come.
        for (let k = 0; k < planes; k++) acc.fill(0, k * accPlane + a, k * accPlane + a + n);
      }
    }
    this.finalX = upTo;
  }

  /**
   * Decide n final pixels of row y from the sums at ring offset a, plus the carry from the tile
   * row above at carry offset c. Each pixel's argmax is taken over its class planes in one go.
   * The two float32 sums add up in double precision, as the row above's carry and this row's do:
   * rounding them to float32 first would turn near-ties into exact ties.
   */
  private decideFromSums(ry: number, y: number, xs: number, n: number, a: number, hasCarry: boolean, c: number): void {
    const { plan, classes, cap, acc, carry, labels, confidence } = this;
    const accPlane = plan.tileHeight * cap;
    const W = plan.width;
    const out = ry * W + xs;
    const valid = this.valid!;
    const v = (y - valid.y) * W + xs;
    if (hasCarry) {
      const carryPlane = this.carryRows * W;
      argmaxOfPairs(acc, a, accPlane, carry, c, carryPlane, classes, n, valid.data, v, labels, confidence, out);
    } else {
      argmaxOfPlanes(acc, a, accPlane, classes, n, valid.data, v, labels, confidence, out);
    }
  }

  /**
   * Decide final pixels [x0, x1) of row y from one tile's probabilities, at full weight: the
   * argmax straight over the tile's planes (float32 to float64 is exact, so this picks what the
   * sums would). Over half of every pixel goes here.
   */
  private decideFromTile(tile: { probs: Float32Array; x0: number }, ry: number, y: number, x0: number, x1: number): void {
    const { plan, classes, labels, confidence } = this;
    const t = plan.tileWidth;
    const W = plan.width;
    const valid = this.valid!;
    const src = (y - plan.ys[this.row]!) * t + (x0 - tile.x0);
    argmaxOfTile(tile.probs, src, t * plan.tileHeight, classes, x1 - x0, valid.data, (y - valid.y) * W + x0, labels, confidence, ry * W + x0);
  }
}

/**
 * Along one axis, where tile i (of the origins `starts`) alone covers pixels at full weight: past
 * its own blending ramp and the previous tile's end, before its closing ramp and the next tile's
 * start; clipped to [lo, hi). Empty when to <= from.
 */
function soleSpan(starts: number[], i: number, tile: number, overlap: number, lo: number, hi: number): [number, number] {
  const s = starts[i]!;
  return [
    Math.max(lo, s + overlap, i > 0 ? starts[i - 1]! + tile : -Infinity),
    Math.min(hi, s + tile - overlap, i < starts.length - 1 ? starts[i + 1]! : Infinity),
  ];
}

function addInto(dst: Float32Array, d: number, src: Float32Array, s: number, n: number): void {
  for (let i = 0; i < n; i++) dst[d + i]! += src[s + i]!;
}

// The hot loops, kept as small monomorphic functions so V8 compiles them tightly. The argmax
// loops take the first class of a tie, and a pixel with no weight or no valid input is nodata;
// confidence is the winning share of the weight, x 255 (1..255; 0 = nodata).
function argmaxOfTile(probs: Float32Array, src: number, plane: number, classes: number, n: number, valid: Uint8Array, v: number, labels: Uint8Array, confidence: Uint8Array | null, out: number): void {
  for (let i = 0; i < n; i++) {
    let best = probs[src + i]!;
    let cls = 0;
    for (let k = 1, p = src + plane + i; k < classes; k++, p += plane) {
      const s = probs[p]!;
      if (s > best) { best = s; cls = k; }
    }
    const ok = valid[v + i] === 1;
    labels[out + i] = ok ? cls : NODATA_CLASS;
    if (confidence) confidence[out + i] = ok ? Math.max(1, Math.min(255, Math.round(best * 255))) : 0;
  }
}

/** Over the ring's class planes and, after them, its weight plane. */
function argmaxOfPlanes(acc: Float32Array, a: number, plane: number, classes: number, n: number, valid: Uint8Array, v: number, labels: Uint8Array, confidence: Uint8Array | null, out: number): void {
  for (let i = 0; i < n; i++) {
    let best = acc[a + i]!;
    let cls = 0;
    for (let k = 1, p = a + plane + i; k < classes; k++, p += plane) {
      const s = acc[p]!;
      if (s > best) { best = s; cls = k; }
    }
    const weight = acc[a + classes * plane + i]!;
    const ok = valid[v + i] === 1 && weight > 0;
    labels[out + i] = ok ? cls : NODATA_CLASS;
    if (confidence) confidence[out + i] = ok ? Math.max(1, Math.min(255, Math.round((best / weight) * 255))) : 0;
  }
}

/** argmaxOfPlanes over the sums of the ring and the carry, plane by plane. */
function argmaxOfPairs(acc: Float32Array, a: number, plane: number, carry: Float32Array, c: number, carryPlane: number, classes: number, n: number, valid: Uint8Array, v: number, labels: Uint8Array, confidence: Uint8Array | null, out: number): void {
  for (let i = 0; i < n; i++) {
    let best = acc[a + i]! + carry[c + i]!;
    let cls = 0;
    for (let k = 1, p = a + plane + i, q = c + carryPlane + i; k < classes; k++, p += plane, q += carryPlane) {
      const s = acc[p]! + carry[q]!;
      if (s > best) { best = s; cls = k; }
    }
    const weight = acc[a + classes * plane + i]! + carry[c + classes * carryPlane + i]!;
    const ok = valid[v + i] === 1 && weight > 0;
    labels[out + i] = ok ? cls : NODATA_CLASS;
    if (confidence) confidence[out + i] = ok ? Math.max(1, Math.min(255, Math.round((best / weight) * 255))) : 0;
  }
}
function accumulate(acc: Float32Array, dst: number, probs: Float32Array, src: number, w1d: Float32Array, w: number, wy: number, n: number): void {
  for (let i = 0; i < n; i++) acc[dst + i]! += wy * w1d[w + i]! * probs[src + i]!;
}

function accumulateWeights(acc: Float32Array, dst: number, w1d: Float32Array, w: number, wy: number, n: number): void {
  for (let i = 0; i < n; i++) acc[dst + i]! += wy * w1d[w + i]!;
}
