/**
 * Snappy block decompression (the raw format, not the framed stream), per
 * https://github.com/google/snappy/blob/main/format_description.txt.
 *
 * TensorFlow compresses the blocks of a checkpoint's `variables.index` SSTable with Snappy. We only
 * ever decompress a few kilobytes once, at build time, so a plain decoder beats a native dependency.
 */
export function snappyDecompress(src: Uint8Array): Uint8Array {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= src.length) throw new Error('snappy: truncated length');
      const b = src[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
    }
    throw new Error('snappy: length varint too long');
  };
  const littleEndian = (bytes: number): number => {
    if (pos + bytes > src.length) throw new Error('snappy: truncated element');
    let v = 0;
    for (let i = 0; i < bytes; i++) v += src[pos + i]! * 2 ** (8 * i);
    pos += bytes;
    return v;
  };
  const length = varint();
  // A 32-bit length bounds what a corrupt preamble can make us allocate.
  if (length > 0xffffffff) throw new Error('snappy: uncompressed length too large');
  const out = new Uint8Array(length);
  let o = 0;
  while (pos < src.length) {
    const tag = src[pos++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >> 2;
      len = len < 60 ? len + 1 : littleEndian(len - 59) + 1;
      if (pos + len > src.length || o + len > length) throw new Error('snappy: literal overruns its buffer');
      out.set(src.subarray(pos, pos + len), o);
      pos += len;
      o += len;
      continue;
    }
    let len: number;
    let offset: number;
    if (kind === 1) {
      len = 4 + ((tag >> 2) & 7);
      offset = ((tag >> 5) << 8) | littleEndian(1);
    } else {
      len = 1 + (tag >> 2);
      offset = littleEndian(kind === 2 ? 2 : 4);
    }
    if (offset === 0 || offset > o || o + len > length) throw new Error('snappy: copy outside the output');
    // Byte by byte: a copy may overlap the bytes it is producing (a run).
    for (let i = 0; i < len; i++, o++) out[o] = out[o - offset]!;
  }
  if (o !== length) throw new Error(`snappy: produced ${o} bytes, expected ${length}`);
  return out;
}
