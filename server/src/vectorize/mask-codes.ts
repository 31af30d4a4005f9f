/**
 * From mask pixels to the class codes the polygonizer compares: the class id, or INVALID for nodata,
 * masked pixels and classes the user did not ask for. Unselected classes become "no polygon" rather
 * than polygons we throw away, so the boundary between two wanted classes is all that gets traced,
 * nodes between unwanted classes do not pin the simplification, and it is faster.
 */
import type { PixelBlock, RasterInfo } from '../read/raster.ts';
import { INVALID, type RowRuns } from './row-runs.ts';
import { VectorizeError } from '../errors.ts';

const INTEGER_TYPES = new Set(['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32']);

/** Throws unless the raster can be a class mask: one band of integers. */
export function checkIsMask(info: RasterInfo, path: string): void {
  if (info.bandCount !== 1) {
    throw new VectorizeError('not-a-mask', `not a class mask: ${path} has ${info.bandCount} bands; vectorize needs a single-band integer raster of class ids (like satseg segment output)`);
  }
  if (!INTEGER_TYPES.has(info.dtype)) {
    throw new VectorizeError('not-a-mask', `not a class mask: ${path} holds ${info.dtype} values; vectorize needs integer class ids (like satseg segment output)`);
  }
}

/** The class id a code stands for (uint32 ids above 2^31 travel as negative codes). */
export function classIdOf(code: number, info: RasterInfo): number {
  return info.dtype === 'uint32' ? code >>> 0 : code;
}

/** Encodes row `row` of a block into the polygonizer's runs. */
export type RowEncoder = (block: PixelBlock, row: number, runs: RowRuns) => void;

/** A row encoder for this mask; `selected` = the class ids to keep (all when null). */
export function maskRowEncoder(info: RasterInfo, selected: ReadonlySet<number> | null): RowEncoder {
  const small = info.dtype === 'uint8' || info.dtype === 'int8' || info.dtype === 'uint16' || info.dtype === 'int16';
  if (small) {
    // A lookup table folds "selected?" into the read: one load per pixel whatever the selection.
    const signed = info.dtype === 'int8' || info.dtype === 'int16';
    const size = info.dtype.endsWith('8') ? 256 : 65536;
    const offset = signed ? size / 2 : 0;
    const table = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const id = i - offset;
      table[i] = (selected && !selected.has(id)) || id === info.nodata ? INVALID : id;
    }
    // With no mask band or alpha, validity is just "not nodata", which the table already says;
    // blocks are read inside the raster, so the validity mask adds nothing but a load per pixel.
    const tableSaysAll = info.maskKind === 'nodata' || info.maskKind === 'none';
    return (block, row, runs) => runs.encodePixels(block.bands[0]!, tableSaysAll ? null : block.valid, row * block.width, table, offset);
  }
  const unsigned = info.dtype === 'uint32';
  let codes = new Int32Array(0);
  return (block, row, runs) => {
    if (codes.length !== block.width) codes = new Int32Array(block.width);
    const data = block.bands[0]!;
    const valid = block.valid;
    const o = row * block.width;
    for (let x = 0; x < block.width; x++) {
      const v = data[o + x]!;
      codes[x] = valid[o + x] && (!selected || selected.has(v)) ? (unsigned ? v | 0 : v) : INVALID;
    }
    runs.encode(codes, 0);
  };
}
