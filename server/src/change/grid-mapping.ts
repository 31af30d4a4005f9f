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
import { windowTransform, type Crs, type GeoTransform, type RasterInfo, type Window } from '../read/raster.ts';
import { converter, transformableProj4, transformPoint } from '../read/crs-transform.ts';
import { longitudeWrap } from '../read/georef.ts';

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

/** The grid of a window of a raster (the whole raster without one). */
export function windowGrid(info: Pick<RasterInfo, 'geoTransform' | 'width' | 'height' | 'crs'>, win?: Window): GridSpec {
  const w = win ?? { x: 0, y: 0, width: info.width, height: info.height };
  return { geoTransform: windowTransform(info.geoTransform, w), width: w.width, height: w.height, crs: info.crs };
}

/**
 * Whether any pixel of `grid` falls in `target` (GridMapping.coverage): how two scenes that miss
 * each other are refused before either is segmented.
 */
export function gridsOverlap(grid: GridSpec, target: GridSpec): boolean {
  return new GridMapping(grid, target).coverage() !== null;
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

/**
 * Where a block of the output grid (rows of a strip, columns [x0, x1)) falls in the target: a
 * window of target pixels it can reach, and, row by row, the index into that window of each
 * output pixel's target pixel.
 */
export interface StripMap {
  readonly x0: number;
  readonly x1: number;
  /** Target pixels the block can fall in (a bound), or null when none falls in the target. */
  readonly window: Window | null;
  /** For output row `j`: out[i - x0] = row-major index into `window` of pixel i's target pixel, or -1 outside the target. */
  row(j: number, out: Int32Array): void;
}

/** The rows of one strip, cut into column blocks that each read their own target window. */
export interface StripParts {
  part(x0: number, x1: number): StripMap;
}

/** floor(p) when 0 <= p < size, else -1. */
function pixelIndex(p: number, size: number): number {
  return p >= 0 && p < size ? Math.floor(p) : -1;
}

export class GridMapping {
  private readonly affine: { cols: Int32Array; rows: Int32Array } | null;
  private readonly toTarget: ((x: number, y: number) => [number, number] | null) | null;

  private readonly wrap: (lon: number) => number;

  constructor(readonly grid: GridSpec, readonly target: GridSpec) {
    const same = transformableProj4(grid.crs) === transformableProj4(target.crs);
    // A lon/lat target written past ±180: without this a pixel at -179.995 missed the target that
    // holds it as 180.005, and half of such an overlap was not compared. A control cell straddling
    // the seam fails the error check and is transformed pixel by pixel.
    this.wrap = longitudeWrap(target);
    if (same) {
      this.toTarget = null;
      this.affine = {
        cols: Int32Array.from({ length: grid.width }, (_, i) => pixelIndex(this.affineU(i), target.width)),
        rows: Int32Array.from({ length: grid.height }, (_, j) => pixelIndex(this.affineV(j), target.height)),
      };
    } else {
      const conv = converter(transformableProj4(grid.crs), transformableProj4(target.crs));
      const wrap = this.wrap;
      this.toTarget = (x, y) => { const p = transformPoint(conv, x, y); return p && [wrap(p[0]), p[1]]; };
      this.affine = null;
    }
  }

  private affineU(i: number): number {
    const g = this.grid.geoTransform;
    const t = this.target.geoTransform;
    const x = g[0] + (i + 0.5) * g[1];
    return (this.wrap(x) - t[0]) / t[1];
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
    const p = this.toTarget ? this.toTarget(x, y) : [this.wrap(x), y];
    if (!p) return [Number.NaN, Number.NaN];
    return [(p[0]! - t[0]) / t[1], (p[1]! - t[3]) / t[5]];
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
    const wrapBack = longitudeWrap(this.grid);
    const g = this.grid.geoTransform;
    const t = this.target.geoTransform;
    const n = COVERAGE_SAMPLES;
    for (let k = 0; k <= n; k++) {
      for (const [c, r] of [[(k / n) * tw, 0], [(k / n) * tw, th], [0, (k / n) * th], [tw, (k / n) * th]] as const) {
        const p = transformPoint(back, t[0] + c * t[1], t[3] + r * t[5]);
        if (!p) continue;
        outline.addX((wrapBack(p[0]) - g[0]) / g[1]);
        outline.addY((p[1] - g[3]) / g[5]);
      }
    }
    return Box.union(box.window(step, width, height), outline.window(1, width, height));
  }

  /**
   * The rows [y0, y0 + count), to be cut into column blocks. Column blocks keep the target windows
   * tight where the grids are rotated against each other (lon/lat against UTM), and bound them
   * whatever the width.
   */
  strip(y0: number, count: number): StripParts {
    const tw = this.target.width;
    const th = this.target.height;
    if (this.affine) {
      const { cols, rows } = this.affine;
      return {
        part(x0, x1) {
          const box = new Box();
          for (let i = x0; i < x1; i++) if (cols[i]! >= 0) box.addX(cols[i]!);
          for (let j = y0; j < y0 + count; j++) if (rows[j]! >= 0) box.addY(rows[j]!);
          const window = box.window(0, tw, th);
          return {
            x0, x1, window,
            row(j, out) {
              const r = rows[j]!;
              if (r < 0 || !window) { out.fill(-1, 0, x1 - x0); return; }
              const base = (r - window.y) * window.width - window.x;
              for (let i = x0; i < x1; i++) { const c = cols[i]!; out[i - x0] = c >= 0 ? base + c : -1; }
            },
          };
        },
      };
    }
    const nodes = this.controlNodes(y0, count);
    return {
      part(x0, x1) {
        const window = nodes.reach(y0, count, x0, x1);
        return {
          x0, x1, window,
          row(j, out) {
            if (window) nodes.indexRow(j, x0, x1, window, tw, th, out);
            else out.fill(-1, 0, x1 - x0);
          },
        };
      },
    };
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
    // Nodes up to (and past) the last pixel's right edge, so every column is in a cell: with
    // ceil((width - 1) / step), a width of step * k + 1 left its last column in none (at step 1,
    // always), and that column kept whatever index the row buffer held before.
    this.across = Math.ceil(width / step) + 1;
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

  /**
   * The target pixels rows [y0, y0 + count), columns [x0, x1) can fall in. Within a cell, the
   * interpolation is bilinear, so the positions of any sub-rectangle of its pixels lie in the box
   * of the positions at that sub-rectangle's four corners; cells transformed pixel by pixel are
   * walked. One pixel of margin absorbs rounding at the box's edges.
   */
  reach(y0: number, count: number, x0: number, x1: number): Window | null {
    const { u, v, across, step } = this;
    const box = new Box();
    const y1 = y0 + count;
    for (let cellTop = Math.floor(y0 / step) * step; cellTop < y1; cellTop += step) {
      const r = cellTop / step - this.firstRow;
      const rowA = Math.max(y0, cellTop);
      const rowB = Math.min(y1, cellTop + step) - 1;
      for (let cellLeft = Math.floor(x0 / step) * step; cellLeft < x1; cellLeft += step) {
        const a = r * across + cellLeft / step;
        const colA = Math.max(x0, cellLeft);
        const colB = Math.min(x1, cellLeft + step) - 1;
        if (!this.finiteCell(a)) {
          for (let j = rowA; j <= rowB; j++) {
            for (let i = colA; i <= colB; i++) {
              const [x, y] = this.mapping.exact(i, j);
              if (Number.isFinite(x) && Number.isFinite(y)) { box.addX(x); box.addY(y); }
            }
          }
          continue;
        }
        const b = a + across;
        for (const t of [(rowA - cellTop) / step, (rowB - cellTop) / step]) {
          const leftU = u[a]! + (u[b]! - u[a]!) * t;
          const leftV = v[a]! + (v[b]! - v[a]!) * t;
          const rightU = u[a + 1]! + (u[b + 1]! - u[a + 1]!) * t;
          const rightV = v[a + 1]! + (v[b + 1]! - v[a + 1]!) * t;
          for (const sx of [(colA - cellLeft) / step, (colB - cellLeft) / step]) {
            box.addX(leftU + (rightU - leftU) * sx);
            box.addY(leftV + (rightV - leftV) * sx);
          }
        }
      }
    }
    return box.window(1, this.mapping.target.width, this.mapping.target.height);
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

  /**
   * Row j, columns [x0, x1): out[i - x0] = index into `window` of the target pixel under pixel i,
   * or -1 outside the target (tw x th). Interpolated along each cell, exact in cells at the edge
   * of the projection's domain.
   */
  indexRow(j: number, x0: number, x1: number, window: Window, tw: number, th: number, out: Int32Array): void {
    const { u, v, across, step } = this;
    const { x: wx, y: wy, width: ww } = window;
    const cr = Math.floor(j / step) - this.firstRow;
    const t = (j - (cr + this.firstRow) * step) / step;
    for (let k = Math.floor(x0 / step); k + 1 < across; k++) {
      const cellStart = k * step;
      if (cellStart >= x1) break;
      const start = Math.max(x0, cellStart);
      const end = Math.min(x1, cellStart + step);
      const a = cr * across + k;
      if (!this.finiteCell(a)) {
        for (let i = start; i < end; i++) {
          const [x, y] = this.mapping.exact(i, j);
          out[i - x0] = x >= 0 && y >= 0 && x < tw && y < th ? (Math.floor(y) - wy) * ww + (Math.floor(x) - wx) : -1;
        }
        continue;
      }
      const b = a + across;
      const leftU = u[a]! + (u[b]! - u[a]!) * t;
      const leftV = v[a]! + (v[b]! - v[a]!) * t;
      const stepU = (u[a + 1]! + (u[b + 1]! - u[a + 1]!) * t - leftU) / step;
      const stepV = (v[a + 1]! + (v[b + 1]! - v[a + 1]!) * t - leftV) / step;
      for (let i = start; i < end; i++) {
        const x = leftU + stepU * (i - cellStart);
        const y = leftV + stepV * (i - cellStart);
        // Positions are >= 0 here, so truncation is floor.
        out[i - x0] = x >= 0 && y >= 0 && x < tw && y < th ? ((y | 0) - wy) * ww + ((x | 0) - wx) : -1;
      }
    }
  }
}
