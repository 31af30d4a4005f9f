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
  private readonly w1d: Float32Array;
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

  constructor(private readonly plan: TilePlan, private readonly classes: number, private readonly withConfidence: boolean) {
    this.w1d = blendWindow(plan.tile, plan.overlap);
    this.planes = classes + 1; // class sums + weight sum
    this.cap = plan.tile;
    this.acc = new Float32Array(this.planes * plan.tile * this.cap);
  }

  /** Start tile row r; `valid` must cover the rows this tile row finishes. */
  beginRow(r: number, valid: ValidRows): void {
    if (r !== this.row + 1) throw new Error(`tile rows must come in order (got ${r} after ${this.row})`);
    const { plan } = this;
    const y0 = plan.ys[r]!;
    const last = r === plan.ys.length - 1;
    this.row = r;
    this.rowTop = Math.max(0, y0);
    this.rowBottom = Math.min(plan.height, y0 + plan.tile);
    this.finalEnd = last ? plan.height : Math.min(plan.height, plan.ys[r + 1]!);
    if (valid.y > this.rowTop || valid.y + valid.rows < this.finalEnd) throw new Error('internal: validity rows do not cover the strip');
    this.valid = valid;
    this.finalX = 0;
    this.nextTile = 0;
    // Sums carried from the row above start at this row's top.
    this.carry = this.nextCarry;
    this.carryRows = this.nextCarryRows;
    this.carryTop = this.rowTop;
    this.nextCarryRows = last ? 0 : this.rowBottom - this.finalEnd;
    this.nextCarry = new Float32Array(this.planes * this.nextCarryRows * plan.width);
    const stripRows = this.finalEnd - this.rowTop;
    this.labels = new Uint8Array(stripRows * plan.width);
    this.confidence = this.withConfidence ? new Uint8Array(stripRows * plan.width) : null;
  }

  /** Add tile c of the current row: probabilities [classes, tile, tile], or null for a skipped tile. */
  addTile(c: number, probs: Float32Array | null): void {
    if (c !== this.nextTile) throw new Error(`tiles must come in order (got ${c}, expected ${this.nextTile})`);
    this.nextTile++;
    const { plan } = this;
    const x0 = plan.xs[c]!;
    this.finishColumns(Math.min(plan.width, Math.max(this.finalX, x0)));
    if (!probs) return;
    const t = plan.tile;
    const plane = t * t;
    const rows = this.rowBottom - this.rowTop;
    const ty0 = this.rowTop - plan.ys[this.row]!;
    const cx0 = Math.max(0, x0);
    const cx1 = Math.min(plan.width, x0 + t);
    const w1d = this.w1d;
    for (let ry = 0; ry < rows; ry++) {
      const ty = ty0 + ry;
      const wy = w1d[ty]!;
      for (let x = cx0; x < cx1; x++) {
        const tx = x - x0;
        const w = wy * w1d[tx]!;
        const src = ty * t + tx;
        const dst = ry * this.cap + (x % this.cap);
        for (let k = 0; k < this.classes; k++) this.acc[k * t * this.cap + dst] += w * probs[k * plane + src]!;
        this.acc[this.classes * t * this.cap + dst] += w;
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
    const { plan, classes, cap } = this;
    const W = plan.width;
    const t = plan.tile;
    const rows = this.rowBottom - this.rowTop;
    const weightPlane = classes * t * cap;
    const valid = this.valid!;
    for (let ry = 0; ry < rows; ry++) {
      const y = this.rowTop + ry;
      const carryRow = y - this.carryTop;
      const hasCarry = carryRow < this.carryRows;
      const final = y < this.finalEnd;
      for (let x = this.finalX; x < upTo; x++) {
        const a = ry * cap + (x % cap);
        const cIdx = carryRow * W + x;
        const carryPlane = this.carryRows * W;
        if (final) {
          let weight = this.acc[weightPlane + a]! + (hasCarry ? this.carry[classes * carryPlane + cIdx]! : 0);
          let best = 0;
          let bestScore = -Infinity;
          for (let k = 0; k < classes; k++) {
            const s = this.acc[k * t * cap + a]! + (hasCarry ? this.carry[k * carryPlane + cIdx]! : 0);
            if (s > bestScore) { bestScore = s; best = k; }
          }
          const out = ry * W + x;
          const isValid = valid.data[(y - valid.y) * W + x] === 1 && weight > 0;
          this.labels[out] = isValid ? best : NODATA_CLASS;
          if (this.confidence) this.confidence[out] = isValid ? Math.max(1, Math.min(255, Math.round((bestScore / weight) * 255))) : 0;
          weight = 0;
        } else {
          const nRow = y - this.finalEnd;
          const nPlane = this.nextCarryRows * W;
          const nIdx = nRow * W + x;
          for (let k = 0; k <= classes; k++) {
            this.nextCarry[k * nPlane + nIdx] = this.acc[k * t * cap + a]! + (hasCarry ? this.carry[k * carryPlane + cIdx]! : 0);
          }
        }
        for (let k = 0; k <= classes; k++) this.acc[k * t * cap + a] = 0;
      }
    }
    this.finalX = Math.max(this.finalX, upTo);
  }
}
