/**
 * TIFF LZW (TIFF 6.0 section 13: codes read MSB first, 9 to 12 bits wide, the width growing one
 * code early as libtiff writes it), decoded into a buffer of the block's known size.
 *
 * Why our own decoder: geotiff.js's pushes every byte onto a JavaScript array with no bound, so a
 * 439 KB stream that expands to gigabytes killed the whole process ("Fatal JavaScript invalid size
 * error") before any check could run. Here the output cannot outgrow the block: the first code
 * that would write past it stops the decode with a BlockOverrun. It is also several times faster
 * (typed arrays, each string written backwards once from its prefix chain).
 */
import { BlockOverrun } from './block-overrun.ts';

const CLEAR = 256;
const EOI = 257;
const FIRST_FREE = 258;
const TABLE_SIZE = 4096;
const MIN_WIDTH = 9;
const MAX_WIDTH = 12;

/** Decodes `input` into at most `maxBytes` bytes; fewer when the stream ends early (the caller checks). */
export function decodeLzw(input: Uint8Array, maxBytes: number): Uint8Array {
  const out = new Uint8Array(maxBytes);
  // Entry c is the string of entry prefix[c] followed by suffix[c]; length[] says where to write it
  // (the chain is walked from its last byte back, which also yields its first byte).
  const prefix = new Uint16Array(TABLE_SIZE);
  const suffix = new Uint8Array(TABLE_SIZE);
  const length = new Uint16Array(TABLE_SIZE);
  for (let i = 0; i < 256; i++) {
    suffix[i] = i;
    length[i] = 1;
  }
  let next = FIRST_FREE;
  let width = MIN_WIDTH;
  let old = -1;
  let bits = 0;
  let bitCount = 0;
  let ip = 0;
  let op = 0;
  const n = input.length;
  for (;;) {
    while (bitCount < width) {
      // A stream that ends without EOI ends here, as libtiff treats it (with a warning).
      if (ip >= n) return op === maxBytes ? out : out.slice(0, op);
      bits = ((bits << 8) | input[ip++]!) & 0xfffff;
      bitCount += 8;
    }
    bitCount -= width;
    const code = (bits >>> bitCount) & ((1 << width) - 1);
    if (code === EOI) break;
    if (code === CLEAR) {
      next = FIRST_FREE;
      width = MIN_WIDTH;
      old = -1;
      continue;
    }
    // A known string, or the code being defined by this very step (KwKwK): the previous string
    // plus its own first byte.
    const known = code < next;
    if (!known && !(code === next && old >= 0)) {
      throw new Error(`corrupt LZW stream: code ${code} is not in the table (${next} entries)`);
    }
    const stem = known ? code : old;
    const len = known ? length[code]! : length[old]! + 1;
    if (op + len > maxBytes) throw new BlockOverrun(maxBytes);
    // The stem's string, written backwards from its last byte along its prefix chain.
    let c = stem;
    for (let k = op + length[stem]! - 1; k > op; k--) {
      out[k] = suffix[c]!;
      c = prefix[c]!;
    }
    out[op] = c;
    if (!known) out[op + len - 1] = c;
    // The byte that, after the previous string, makes the next table entry: this string's first.
    const added = c;
    op += len;
    if (old >= 0 && next < TABLE_SIZE) {
      prefix[next] = old;
      suffix[next] = added;
      length[next] = length[old]! + 1;
      next++;
      if (next + 1 >= 1 << width && width < MAX_WIDTH) width++;
    }
    old = code;
  }
  return op === maxBytes ? out : out.slice(0, op);
}
