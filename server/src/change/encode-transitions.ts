/**
 * The inner loop of a comparison: a block of before pixels and the after pixels under them become
 * transition codes, counted row by row. Kept out of the async orchestration so the JIT sees one
 * plain function with its state in registers; it runs once per output pixel.
 */
import os from 'node:os';
import type { ChangeTally } from './change-statistics.ts';
import { addByteCounts } from '../byte-histogram.ts';
import type { StripMap } from './grid-mapping.ts';
import { CHANGE_NODATA } from './transition-codes.ts';

/** The quad path reads byte 0 of a 32-bit word as the first pixel: little-endian machines only. */
const LITTLE_ENDIAN = os.endianness() === 'LE';

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

/** The codes encodeTransitions can write for `classCount` classes. */
export function transitionCodesPresent(classCount: number): Uint8Array {
  return Uint8Array.from([...Array.from({ length: classCount * classCount }, (_, c) => c), UNLISTED, CHANGE_NODATA]);
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
  /** Every code a row can hold: the transitions 0..N²-1, UNLISTED and nodata (transitionCodesPresent). */
  codesPresent: Uint8Array;
  /** Output codes, strip-sized, pre-filled with nodata. */
  codes: Uint8Array;
  tally: ChangeTally;
}

/**
 * Fill the block's codes and tally them row by row (addByteCounts: four histograms, as class
 * masks are long runs of one code); returns how many of its pixels fall inside the after mask.
 */
export function encodeTransitions(b: TransitionBlock, index: Int32Array, counts: Uint32Array): number {
  const { map, width, rows } = b;
  const masked = b.inArea !== null || b.beforeOk !== null || b.afterOk !== null;
  let outside = 0;
  for (let r = 0; r < rows; r++) {
    map.row(b.y + r, index);
    outside += masked ? encodeMaskedRow(b, r, index) : encodeRow(b, r, index);
    const o0 = r * width;
    counts.fill(0);
    addByteCounts(b.codes.subarray(o0 + map.x0, o0 + map.x1), counts, b.codesPresent);
    const unlisted = counts[UNLISTED]!;
    if (unlisted) {
      // Rare (a mask with ids beyond its class list): those pixels become nodata.
      for (let i = map.x0; i < map.x1; i++) if (b.codes[o0 + i] === UNLISTED) b.codes[o0 + i] = CHANGE_NODATA;
      b.tally.unlisted += unlisted;
      counts[CHANGE_NODATA]! += unlisted;
      counts[UNLISTED] = 0;
    }
    b.tally.addRow(b.y + r, counts, (map.x0 + map.x1) / 2);
  }
  return rows * (map.x1 - map.x0) - outside;
}

/**
 * One row where validity is all in the ids (nodata values): a table load per pixel. Four pixels at
 * a time where the rows allow (one 32-bit load of before ids, one store of codes: about a third
 * less time per pixel than byte by byte in V8). Returns the pixels outside the after mask.
 */
function encodeRow(b: TransitionBlock, r: number, index: Int32Array): number {
  const { beforeIds, afterIds, pairCode } = b;
  const { x0, x1 } = b.map;
  const o0 = r * b.width;
  const n = x1 - x0;
  const codes = b.codes.subarray(o0 + x0, o0 + x1);
  const before = beforeIds.subarray(o0 + x0, o0 + x1);
  let outside = 0;
  let done = 0;
  if (LITTLE_ENDIAN && (before.byteOffset & 3) === 0 && (codes.byteOffset & 3) === 0) {
    const before4 = new Uint32Array(before.buffer, before.byteOffset, n >> 2);
    const codes4 = new Uint32Array(codes.buffer, codes.byteOffset, n >> 2);
    for (let q = 0; q < codes4.length; q++) {
      const j = q << 2;
      const k0 = index[j]!, k1 = index[j + 1]!, k2 = index[j + 2]!, k3 = index[j + 3]!;
      if ((k0 | k1 | k2 | k3) < 0) {
        // One of them outside the after mask: byte by byte.
        for (let t = j; t < j + 4; t++) outside += codePixel(before, afterIds, pairCode, codes, index, t);
        continue;
      }
      const w = before4[q]!;
      // Little-endian: byte 0 of the word is the first pixel. Each table index is before << 8 | after.
      codes4[q] = pairCode[((w & 0xff) << 8) | afterIds[k0]!]!
        | (pairCode[(w & 0xff00) | afterIds[k1]!]! << 8)
        | (pairCode[((w >>> 8) & 0xff00) | afterIds[k2]!]! << 16)
        | (pairCode[((w >>> 16) & 0xff00) | afterIds[k3]!]! << 24);
    }
    done = n & ~3;
  }
  for (let j = done; j < n; j++) outside += codePixel(before, afterIds, pairCode, codes, index, j);
  return outside;
}

/** Pixel j of a row (its index entry, before id and code): its code; 1 when it falls outside the after mask. */
function codePixel(before: Uint8Array, afterIds: Uint8Array, pairCode: Uint8Array, codes: Uint8Array, index: Int32Array, j: number): number {
  const k = index[j]!;
  if (k < 0) { codes[j] = CHANGE_NODATA; return 1; }
  codes[j] = pairCode[(before[j]! << 8) | afterIds[k]!]!;
  return 0;
}

/** The same with an area and validity masks to respect. */
function encodeMaskedRow(b: TransitionBlock, r: number, index: Int32Array): number {
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
  }
  return outside;
}
