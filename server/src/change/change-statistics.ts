/**
 * What changed, in pixels and square metres: the transition matrix and, per class, the area it
 * gained (pixels that became it), lost (pixels that stopped being it) and the net of the two.
 *
 * Areas come from the vectorize stage's pixel-area function (planar for projected CRSs, exact
 * ellipsoidal per row for lon/lat), so the change polygons of a mask add up to these figures.
 * gained - lost of a class is its after count minus its before count on the compared pixels, as
 * both are sums over the same matrix (column minus row).
 */
import type { Crs, GeoTransform } from '../read/raster.ts';
import { cellAreaFunction } from '../read/geodesy.ts';
import type { ChangeClasses } from './change-classes.ts';
import { allTransitions, CHANGE_NODATA, codingDescription, transitionName, type Transition } from './transition-codes.ts';

export interface ClassChange {
  id: number;
  name: string;
  before_pixels: number;
  after_pixels: number;
  before_m2: number;
  after_m2: number;
  /** Pixels of another class before that are this class after. */
  gained_pixels: number;
  lost_pixels: number;
  gained_m2: number;
  lost_m2: number;
  /** gained_m2 - lost_m2 = after_m2 - before_m2. */
  net_m2: number;
}

export interface TransitionCount extends Transition {
  name: string;
  pixels: number;
  area_m2: number;
}

export interface ChangeStatistics {
  classes: string[];
  model: string | null;
  /** How the change mask codes its pixels. */
  coding: string;
  area_method: 'projected' | 'geodesic';
  /** Pixels with data in both masks (and inside the area): the compared pixels. */
  valid_pixels: number;
  valid_area_m2: number;
  changed_pixels: number;
  changed_area_m2: number;
  /** Share of the valid area that changed, 0..1. */
  changed_share: number;
  /** Output pixels without a comparison: nodata in either mask, outside either scene or the area. */
  nodata_pixels: number;
  /** Of those, pixels where a mask holds an id beyond its class list. */
  unlisted_pixels: number;
  /** [from][to], pixels and m². */
  matrix: { pixels: number[][]; area_m2: number[][] };
  /** The transitions that occur (changed ones only), largest area first. */
  transitions: TransitionCount[];
  per_class: ClassChange[];
}

/** Counts codes row by row and weighs each row by its pixel area. */
export class ChangeTally {
  readonly pixels: Float64Array;
  readonly area: Float64Array;
  private nodata = 0;
  unlisted = 0;

  private constructor(
    private readonly classes: ChangeClasses,
    private readonly cellArea: (row: number, col: number) => number,
    private readonly areaMethod: 'geodesic' | 'projected',
    /** Whether a pixel's area changes along a row: addRow's counts then come in blocks of columns. */
    readonly variesAlongRows: boolean,
    private readonly middle: number,
  ) {
    const n = classes.names.length;
    this.pixels = new Float64Array(n * n);
    this.area = new Float64Array(n * n);
  }

  /** A tally for a grid with this transform (of its top-left pixel), size and CRS. */
  static async create(classes: ChangeClasses, gt: GeoTransform, size: { width: number; height: number }, crs: Crs): Promise<ChangeTally> {
    const { area, variesAlongRows, method } = await cellAreaFunction(gt, size, crs);
    return new ChangeTally(classes, area, method, variesAlongRows, size.width / 2);
  }

  /**
   * Add one output row's code counts (indexed by code, 256 long), or those of its columns around
   * `col` (the middle of a block of columns, where pixel areas change along rows).
   */
  addRow(row: number, counts: Uint32Array, col = this.middle): void {
    const a = this.cellArea(row, col);
    for (let code = 0; code < this.pixels.length; code++) {
      const c = counts[code]!;
      if (!c) continue;
      this.pixels[code]! += c;
      this.area[code]! += c * a;
    }
    this.nodata += counts[CHANGE_NODATA]!;
  }

  get validPixels(): number {
    return this.pixels.reduce((s, v) => s + v, 0);
  }

  result(): ChangeStatistics {
    const { classes } = this;
    const n = classes.names.length;
    const matrix = (values: Float64Array) => Array.from({ length: n }, (_, f) => Array.from(values.subarray(f * n, (f + 1) * n)));
    const transitions = allTransitions(classes);
    let valid = 0, validArea = 0, changed = 0, changedArea = 0;
    const perClass: ClassChange[] = classes.names.map((name, id) => ({
      id, name, before_pixels: 0, after_pixels: 0, before_m2: 0, after_m2: 0, gained_pixels: 0, lost_pixels: 0, gained_m2: 0, lost_m2: 0, net_m2: 0,
    }));
    for (const t of transitions) {
      const px = this.pixels[t.code]!;
      const m2 = this.area[t.code]!;
      valid += px;
      validArea += m2;
      const from = perClass[t.from_id]!;
      const to = perClass[t.to_id]!;
      from.before_pixels += px;
      from.before_m2 += m2;
      to.after_pixels += px;
      to.after_m2 += m2;
      if (t.from_id === t.to_id) continue;
      changed += px;
      changedArea += m2;
      to.gained_pixels += px;
      to.gained_m2 += m2;
      from.lost_pixels += px;
      from.lost_m2 += m2;
    }
    for (const c of perClass) c.net_m2 = c.gained_m2 - c.lost_m2;
    return {
      classes: classes.names,
      model: classes.model,
      coding: codingDescription(n),
      area_method: this.areaMethod,
      valid_pixels: valid,
      valid_area_m2: validArea,
      changed_pixels: changed,
      changed_area_m2: changedArea,
      changed_share: validArea > 0 ? changedArea / validArea : 0,
      nodata_pixels: this.nodata,
      unlisted_pixels: this.unlisted,
      matrix: { pixels: matrix(this.pixels), area_m2: matrix(this.area) },
      transitions: transitions
        .filter((t) => t.from_id !== t.to_id && this.pixels[t.code]! > 0)
        .map((t) => ({ ...t, name: transitionName(t), pixels: this.pixels[t.code]!, area_m2: this.area[t.code]! }))
        .sort((a, b) => b.area_m2 - a.area_m2),
      per_class: perClass,
    };
  }
}
