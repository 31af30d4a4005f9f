/**
 * PackBits (TIFF 6.0 section 9), decoded into a buffer of the block's known size. geotiff.js's
 * decoder grows a JavaScript array without bound (and repeats 129 times on the no-op header -128);
 * this one stops with a BlockOverrun at the first run that would pass the block.
 */
import { BlockOverrun } from './block-overrun.ts';

/** Decodes `input` into at most `maxBytes` bytes; fewer when the data ends early (the caller checks). */
export function decodePackBits(input: Uint8Array, maxBytes: number): Uint8Array {
  const out = new Uint8Array(maxBytes);
  const n = input.length;
  let ip = 0;
  let op = 0;
  while (ip < n) {
    const header = (input[ip++]! << 24) >> 24;
    if (header >= 0) {
      const count = Math.min(header + 1, n - ip);
      if (op + count > maxBytes) throw new BlockOverrun(maxBytes);
      out.set(input.subarray(ip, ip + count), op);
      ip += count;
      op += count;
    } else if (header !== -128 && ip < n) {
      const count = 1 - header;
      if (op + count > maxBytes) throw new BlockOverrun(maxBytes);
      out.fill(input[ip++]!, op, op + count);
      op += count;
    }
  }
  return op === maxBytes ? out : out.slice(0, op);
}
