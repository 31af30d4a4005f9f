/**
 * Which pixel of the after mask each pixel centre of the output grid (the before mask's grid) falls
 * in: the nearest-neighbour lookup of a resampling, a strip of rows at a time.
 *
 * Same CRS: the map is affine and separable (the column depends only on the output column, the
 * row only on the output row), so it is computed exactly, once per column and once per row.
 * Otherwise, as gdalwarp's approximate transformer does, proj4 runs exactly at a grid of control
 * points and positions in between are interpolated bilinearly; the grid is refined, strip by
 * strip, until interpolating at the centre of every cell lands within MAX_ERROR after-pixels of the
 * exact transform. Cells with a corner outside the projection's domain are transformed pixel by
 * pixel. Picking a class id is nearest neighbour only: ids are never interpolated.
 */
import type { Crs, GeoTransform, Window } from '../read/raster.ts';
import { converter, transformableProj4, transformPoint } from '../read/crs-transform.ts';

/** Largest position error allowed from interpolation, in after pixels (gdalwarp's default is 0.125). */
export const MAX_ERROR = 0.05;
/** Control-point spacing tried first, in output pixels. */
const START_STEP = 64;
/** Samples along the longer side of the grid (and along each edge of the target) when looking for the overlap. */
const COVERAGE_SAMPLES = 128;

export interface GridSpec {
  /** Transform of the grid's top-left pixel corner. */
  geoTransform: GeoTransform;
  width: number;
  height: number;
  crs: Crs;
}

/** A growing bounding box of pixel positions, turned into a window clamped to a grid. */
class Box {
  minX = Infinity;
  minY = Infinity;
  maxX = -Infinity;
  maxY = -Infinity;

  addX(x: number): void {
    if (x < this.minX) this.minX = x;
    if (x > this.maxX) this.maxX = x;
  }

  addY(y: number): void {
    if (y < this.minY) this.minY = y;
    if (y > this.maxY) this.maxY = y;
  }

  /** Pixels from minX - margin to maxX + margin (inclusive), clamped to width x height. */
  window(margin: number, width: number, height: number): Window | null {
    const x0 = Math.max(0, Math.floor(this.minX - margin));
    const y0 = Math.max(0, Math.floor(this.minY - margin));
    const x1 = Math.min(width, Math.floor(this.maxX + margin) + 1);
    const y1 = Math.min(height, Math.floor(this.maxY + margin) + 1);
    return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
  }

  static union(a: Window | null, b: Window | null): Window | null {
    if (!a || !b) return a ?? b;
    const x = Math.min(a.x, b.x);
    const y = Math.min(a.y, b.y);
    return { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y };
  }
}

/** After pixels for a strip: column and row per output pixel, column -1 where outside the after raster. */
export interface StripLookup {
  cols: Int32Array;
  rows: Int32Array;
  /** Bounding window of the after pixels used, or null when none is. */
  window: Window | null;
}

/** floor(p) when 0 <= p < size, else -1. */
function pixelIndex(p: number, size: number): number {
  return p >= 0 && p < size ? Math.floor(p) : -1;
}

export class GridMapping {
  private readonly affine: { cols: Int32Array; rows: Int32Array } | null;
  private readonly toTarget: ((x: number, y: number) => [number, number] | null) | null;

  constructor(readonly grid: GridSpec, readonly target: GridSpec) {
    const same = transformableProj4(grid.crs) === transformableProj4(target.crs);
    if (same) {
      this.toTarget = null;
      this.affine = {
        cols: Int32Array.from({ length: grid.width }, (_, i) => pixelIndex(this.affineU(i), target.width)),
        rows: Int32Array.from({ length: grid.height }, (_, j) => pixelIndex(this.affineV(j), target.height)),
      };
    } else {
      const conv = converter(transformableProj4(grid.crs), transformableProj4(target.crs));
      this.toTarget = (x, y) => transformPoint(conv, x, y);
      this.affine = null;
    }
  }

  private affineU(i: number): number {
    const g = this.grid.geoTransform;
    const t = this.target.geoTransform;
    return (g[0] + (i + 0.5) * g[1] - t[0]) / t[1];
  }

  private affineV(j: number): number {
    const g = this.grid.geoTransform;
    const t = this.target.geoTransform;
    return (g[3] + (j + 0.5) * g[5] - t[3]) / t[5];
  }

  /** After pixel coordinates (continuous) of output pixel (i, j)'s centre; NaN outside the projection. */
  exact(i: number, j: number): [number, number] {
    const g = this.grid.geoTransform;
    const t = this.target.geoTransform;
    const x = g[0] + (i + 0.5) * g[1];
    const y = g[3] + (j + 0.5) * g[5];
    const p = this.toTarget ? this.toTarget(x, y) : [x, y];
    if (!p) return [Number.NaN, Number.NaN];
    return [(p[0] - t[0]) / t[1], (p[1] - t[3]) / t[5]];
  }

  /**
   * A window of the output grid holding every pixel whose centre falls in the target, or null when
   * none does. Same CRS: exact. Otherwise a lattice of exact samples decides it (the target's edge
   * lies within one lattice step of an inside sample), joined with the target's outline projected
   * back, which catches a target too small for the lattice to hit.
   */
  coverage(): Window | null {
    const { width, height } = this.grid;
    const box = new Box();
    if (this.affine) {
      this.affine.cols.forEach((c, i) => { if (c >= 0) box.addX(i); });
      this.affine.rows.forEach((r, j) => { if (r >= 0) box.addY(j); });
      return box.window(0, width, height);
    }
    const tw = this.target.width;
    const th = this.target.height;
    const step = Math.max(1, Math.ceil(Math.max(width, height) / COVERAGE_SAMPLES));
    const lattice = (n: number) => [...Array.from({ length: Math.ceil(n / step) }, (_, k) => k * step), n - 1];
    for (const j of lattice(height)) {
      for (const i of lattice(width)) {
        const [u, v] = this.exact(i, j);
        if (u >= 0 && v >= 0 && u < tw && v < th) { box.addX(i); box.addY(j); }
      }
    }
    const outline = new Box();
    const back = converter(transformableProj4(this.target.crs), transformableProj4(this.grid.crs));
    const g = this.grid.geoTransform;
    const t = this.target.geoTransform;
    const n = COVERAGE_SAMPLES;
    for (let k = 0; k <= n; k++) {
      for (const [c, r] of [[(k / n) * tw, 0], [(k / n) * tw, th], [0, (k / n) * th], [tw, (k / n) * th]] as const) {
        const p = transformPoint(back, t[0] + c * t[1], t[3] + r * t[5]);
        if (!p) continue;
        outline.addX((p[0] - g[0]) / g[1]);
        outline.addY((p[1] - g[3]) / g[5]);
      }
    }
    return Box.union(box.window(step, width, height), outline.window(1, width, height));
  }

  /** The lookup for output rows [y0, y0 + count), written into `out` (reused between strips). */
  strip(y0: number, count: number, out: StripLookup): void {
    const { width } = this.grid;
    const tw = this.target.width;
    const th = this.target.height;
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    const { cols, rows } = out;
    if (this.affine) {
      const ac = this.affine.cols;
      for (let i = 0; i < width; i++) { const c = ac[i]!; if (c >= 0) { if (c < minX) minX = c; if (c > maxX) maxX = c; } }
      for (let r = 0; r < count; r++) {
        const row = this.affine.rows[y0 + r]!;
        const o = r * width;
        if (row < 0) { cols.fill(-1, o, o + width); continue; }
        cols.set(ac, o);
        rows.fill(row, o, o + width);
        if (row < minY) minY = row;
        if (row > maxY) maxY = row;
      }
    } else {
      const nodes = this.controlNodes(y0, count);
      const u = new Float64Array(width);
      const v = new Float64Array(width);
      for (let r = 0; r < count; r++) {
        nodes.row(y0 + r, u, v);
        const o = r * width;
        for (let i = 0; i < width; i++) {
          const x = u[i]!;
          const y = v[i]!;
          if (!(x >= 0 && y >= 0 && x < tw && y < th)) { cols[o + i] = -1; continue; }
          const c = Math.floor(x);
          const rr = Math.floor(y);
          cols[o + i] = c;
          rows[o + i] = rr;
          if (c < minX) minX = c;
          if (c > maxX) maxX = c;
          if (rr < minY) minY = rr;
          if (rr > maxY) maxY = rr;
        }
      }
    }
    out.window = maxX >= minX && maxY >= minY ? { x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1 } : null;
  }

  /** Control points for a strip, refined until interpolation is within MAX_ERROR. */
  private controlNodes(y0: number, count: number): ControlNodes {
    for (let step = START_STEP; ; step >>= 1) {
      const nodes = new ControlNodes(this, step, y0, count);
      if (step === 1 || nodes.maxError() <= MAX_ERROR) return nodes;
    }
  }
}

/** Exact positions at every `step`-th pixel centre of the rows a strip needs. */
class ControlNodes {
  private readonly across: number;
  private readonly firstRow: number;
  private readonly down: number;
  private readonly u: Float64Array;
  private readonly v: Float64Array;

  constructor(private readonly mapping: GridMapping, readonly step: number, y0: number, count: number) {
    const width = mapping.grid.width;
    this.across = Math.max(1, Math.ceil((width - 1) / step)) + 1;
    this.firstRow = Math.floor(y0 / step);
    this.down = Math.floor((y0 + count - 1) / step) + 2 - this.firstRow;
    this.u = new Float64Array(this.across * this.down);
    this.v = new Float64Array(this.across * this.down);
    for (let r = 0; r < this.down; r++) {
      for (let k = 0; k < this.across; k++) {
        const [x, y] = mapping.exact(k * step, (this.firstRow + r) * step);
        this.u[r * this.across + k] = x;
        this.v[r * this.across + k] = y;
      }
    }
  }

  private finiteCell(a: number): boolean {
    const { u, across } = this;
    return Number.isFinite(u[a]!) && Number.isFinite(u[a + 1]!) && Number.isFinite(u[a + across]!) && Number.isFinite(u[a + across + 1]!);
  }

  /** Largest distance, in after pixels, between the interpolated and exact cell centres. */
  maxError(): number {
    const { u, v, across, step } = this;
    let worst = 0;
    for (let r = 0; r + 1 < this.down; r++) {
      for (let k = 0; k + 1 < across; k++) {
        const a = r * across + k;
        if (!this.finiteCell(a)) continue;
        const [ex, ey] = this.mapping.exact((k + 0.5) * step, (this.firstRow + r + 0.5) * step);
        if (!Number.isFinite(ex)) continue;
        const ix = (u[a]! + u[a + 1]! + u[a + across]! + u[a + across + 1]!) / 4;
        const iy = (v[a]! + v[a + 1]! + v[a + across]! + v[a + across + 1]!) / 4;
        worst = Math.max(worst, Math.abs(ix - ex), Math.abs(iy - ey));
      }
    }
    return worst;
  }

  /** Positions of output row j into u, v. */
  row(j: number, outU: Float64Array, outV: Float64Array): void {
    const { u, v, across, step } = this;
    const width = outU.length;
    const cr = Math.floor(j / step) - this.firstRow;
    const t = (j - (cr + this.firstRow) * step) / step;
    for (let k = 0; k + 1 < across; k++) {
      const start = k * step;
      if (start >= width) break;
      const end = Math.min(width, start + step);
      const a = cr * across + k;
      if (!this.finiteCell(a)) {
        for (let i = start; i < end; i++) [outU[i], outV[i]] = this.mapping.exact(i, j);
        continue;
      }
      const b = a + across;
      const leftU = u[a]! + (u[b]! - u[a]!) * t;
      const leftV = v[a]! + (v[b]! - v[a]!) * t;
      const stepU = (u[a + 1]! + (u[b + 1]! - u[a + 1]!) * t - leftU) / step;
      const stepV = (v[a + 1]! + (v[b + 1]! - v[a + 1]!) * t - leftV) / step;
      for (let i = start; i < end; i++) {
        outU[i] = leftU + stepU * (i - start);
        outV[i] = leftV + stepV * (i - start);
      }
    }
  }
}
