/**
 * One mask row as runs of equal class code. The polygonizer only ever looks at run boundaries, so a
 * row of 36000 pixels with 300 class changes costs 300 steps, not 36000.
 */

import type { TypedArray } from '../read/raster.ts';

/** The code of pixels that belong to no polygon (nodata, outside the raster, unselected classes). */
export const INVALID = -2147483648;

export class RowRuns {
  /** start[k] = first column of run k; start[n] = width; start[n + 1] = width + 1 (sweep sentinel). */
  start: Int32Array;
  value: Int32Array;
  /** Region label of each valid run. */
  label: Int32Array;
  /** The arc on the vertical boundary at start[k] (the left edge of run k), if any. */
  arm: Int32Array;
  n = 0;

  constructor(readonly width: number) {
    this.start = new Int32Array(width + 2);
    this.value = new Int32Array(width + 1);
    this.label = new Int32Array(width + 1);
    this.arm = new Int32Array(width + 2);
    this.fillInvalid();
  }

  /** A row with no valid pixel (above the first row and below the last). */
  fillInvalid(): void {
    this.start[0] = 0;
    this.value[0] = INVALID;
    this.n = 1;
    this.start[1] = this.width;
    this.start[2] = this.width + 1;
  }

  /** Run-length encode `width` codes starting at codes[offset]. */
  encode(codes: Int32Array, offset: number): void {
    const { start, value, width } = this;
    let n = 0;
    let prev = codes[offset]!;
    start[0] = 0;
    value[0] = prev;
    for (let x = 1; x < width; x++) {
      const c = codes[offset + x]!;
      if (c !== prev) {
        n++;
        start[n] = x;
        value[n] = c;
        prev = c;
      }
    }
    n++;
    start[n] = width;
    start[n + 1] = width + 1;
    this.n = n;
  }

  /**
   * Run-length encode one row of 8- or 16-bit pixels straight from the raster block: the code of a
   * pixel is table[value + tableOffset], or INVALID where valid[] is 0 (pass null when the table
   * already makes nodata INVALID). Most pixels equal their left neighbour, so the loop compares raw
   * values and looks the code up only where the value changes.
   */
  encodePixels(data: TypedArray, valid: Uint8Array | null, offset: number, table: Int32Array, tableOffset: number): void {
    const { start, value, width } = this;
    let n = 0;
    let prev = valid && !valid[offset] ? INVALID : table[data[offset]! + tableOffset]!;
    start[0] = 0;
    value[0] = prev;
    if (valid) {
      for (let x = 1; x < width; x++) {
        const i = offset + x;
        const c = valid[i] ? table[data[i]! + tableOffset]! : INVALID;
        if (c !== prev) {
          n++;
          start[n] = x;
          value[n] = c;
          prev = c;
        }
      }
    } else {
      let raw = data[offset]!;
      for (let x = 1; x < width; x++) {
        const v = data[offset + x]!;
        if (v === raw) continue;
        raw = v;
        const c = table[v + tableOffset]!;
        if (c !== prev) {
          n++;
          start[n] = x;
          value[n] = c;
          prev = c;
        }
      }
    }
    n++;
    start[n] = width;
    start[n + 1] = width + 1;
    this.n = n;
  }
}
