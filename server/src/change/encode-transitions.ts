/**
 * The inner loop of a comparison: a block of before pixels and the after pixels under them become
 * transition codes, counted row by row. Kept out of the async orchestration so the JIT sees one
 * plain function with its state in registers; it runs once per output pixel.
 */
import type { ChangeTally } from './change-statistics.ts';
import type { StripMap } from './grid-mapping.ts';
import { CHANGE_NODATA } from './transition-codes.ts';

/** A pair with an id beyond the class list (not nodata): counted, then written as nodata. */
const UNLISTED = 254;

/**
 * Code of each (before id << 8 | after id): the transition; nodata where either id is its mask's
 * nodata value; UNLISTED for other ids beyond the class list. One load per pixel decides it all.
 */
export function pairCodes(classCount: number, beforeNodata: number | null, afterNodata: number | null): Uint8Array {
  const table = new Uint8Array(1 << 16).fill(UNLISTED);
  for (let f = 0; f < classCount; f++) for (let t = 0; t < classCount; t++) table[(f << 8) | t] = f * classCount + t;
  for (let v = 0; v < 256; v++) {
    if (beforeNodata !== null) table[(beforeNodata << 8) | v] = CHANGE_NODATA;
    if (afterNodata !== null) table[(v << 8) | afterNodata] = CHANGE_NODATA;
  }
  return table;
}

export interface TransitionBlock {
  /** Where the block's pixels fall in the after window. */
  map: StripMap;
  /** First output row of the strip, and its row count. */
  y: number;
  rows: number;
  /** Strip width: the stride of `before*` and `codes`. */
  width: number;
  beforeIds: Uint8Array;
  afterIds: Uint8Array;
  /** Validity masks, only where nodata values alone do not tell (mask bands, alpha). */
  beforeOk: Uint8Array | null;
  afterOk: Uint8Array | null;
  /** 1 = inside the area, rows of `areaStride` starting at column -areaOffset of the strip; null = no area. */
  inArea: Uint8Array | null;
  areaStride: number;
  areaOffset: number;
  pairCode: Uint8Array;
  /** Output codes, strip-sized, pre-filled with nodata. */
  codes: Uint8Array;
  tally: ChangeTally;
}

/** Fill the block's codes and tally them; returns how many of its pixels fall inside the after mask. */
export function encodeTransitions(b: TransitionBlock, index: Int32Array, counts: Uint32Array): number {
  const { map, width, rows } = b;
  const masked = b.inArea !== null || b.beforeOk !== null || b.afterOk !== null;
  let outside = 0;
  for (let r = 0; r < rows; r++) {
    map.row(b.y + r, index);
    counts.fill(0);
    outside += masked ? encodeMaskedRow(b, r, index, counts) : encodeRow(b, r, index, counts);
    const unlisted = counts[UNLISTED]!;
    if (unlisted) {
      // Rare (a mask with ids beyond its class list): those pixels become nodata.
      const o0 = r * width;
      for (let i = map.x0; i < map.x1; i++) if (b.codes[o0 + i] === UNLISTED) b.codes[o0 + i] = CHANGE_NODATA;
      b.tally.unlisted += unlisted;
      counts[CHANGE_NODATA]! += unlisted;
      counts[UNLISTED] = 0;
    }
    b.tally.addRow(b.y + r, counts);
  }
  return rows * (map.x1 - map.x0) - outside;
}

/**
 * One row where validity is all in the ids (nodata values): a table load per pixel. Codes are
 * counted by runs: class masks are mostly long runs, and one add per run spares a
 * read-modify-write of the same counter on every pixel. Returns the pixels outside the after mask.
 */
function encodeRow(b: TransitionBlock, r: number, index: Int32Array, counts: Uint32Array): number {
  const { beforeIds, afterIds, pairCode, codes } = b;
  const { x0, x1 } = b.map;
  const o0 = r * b.width;
  let outside = 0;
  let prev = CHANGE_NODATA;
  let run = 0;
  for (let i = x0; i < x1; i++) {
    const k = index[i - x0]!;
    let code = CHANGE_NODATA;
    if (k >= 0) code = pairCode[(beforeIds[o0 + i]! << 8) | afterIds[k]!]!;
    else outside++;
    codes[o0 + i] = code;
    if (code === prev) run++;
    else { counts[prev]! += run; prev = code; run = 1; }
  }
  counts[prev]! += run;
  return outside;
}

/** The same with an area and validity masks to respect. */
function encodeMaskedRow(b: TransitionBlock, r: number, index: Int32Array, counts: Uint32Array): number {
  const { beforeIds, afterIds, beforeOk, afterOk, inArea, pairCode, codes } = b;
  const { x0, x1 } = b.map;
  const o0 = r * b.width;
  const areaRow = r * b.areaStride + b.areaOffset;
  let outside = 0;
  for (let i = x0; i < x1; i++) {
    const k = index[i - x0]!;
    let code = CHANGE_NODATA;
    if (k < 0) outside++;
    else if ((inArea === null || inArea[areaRow + i] === 1) && (beforeOk === null || beforeOk[o0 + i] === 1) && (afterOk === null || afterOk[k] === 1)) {
      code = pairCode[(beforeIds[o0 + i]! << 8) | afterIds[k]!]!;
    }
    codes[o0 + i] = code;
    counts[code]!++;
  }
  return outside;
}
