/**
 * Encoding TIFF/BigTIFF image file directories. Only the tag types a single-band, tiled raster
 * needs; values that do not fit in an entry go to a data area right after the IFD.
 */

export const TagType = { BYTE: 1, ASCII: 2, SHORT: 3, LONG: 4, DOUBLE: 12, LONG8: 16 } as const;
type TagTypeCode = (typeof TagType)[keyof typeof TagType];

export interface TiffTag {
  tag: number;
  type: TagTypeCode;
  values: ArrayLike<number> | string;
}

const typeSize: Record<TagTypeCode, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 12: 8, 16: 8 };

/**
 * ASCII tags are written as UTF-8, as GDAL writes and reads them (and geotiff.js reads them): in
 * Latin-1 a class name like "bâtiments" read back garbled, and an emoji's surrogates became bytes
 * GDAL's XML parser refused, losing every metadata item.
 */
function valueCount(t: TiffTag): number {
  return typeof t.values === 'string' ? Buffer.byteLength(t.values, 'utf8') + 1 : t.values.length;
}

function encodeValues(t: TiffTag): Buffer {
  const n = valueCount(t);
  const buf = Buffer.alloc(n * typeSize[t.type]);
  if (typeof t.values === 'string') {
    buf.write(t.values, 0, 'utf8');
    return buf; // trailing NUL already zero
  }
  const v = t.values;
  for (let i = 0; i < n; i++) {
    switch (t.type) {
      case TagType.BYTE: buf.writeUInt8(v[i]!, i); break;
      case TagType.SHORT: buf.writeUInt16LE(v[i]!, i * 2); break;
      case TagType.LONG: buf.writeUInt32LE(v[i]!, i * 4); break;
      case TagType.DOUBLE: buf.writeDoubleLE(v[i]!, i * 8); break;
      case TagType.LONG8: buf.writeBigUInt64LE(BigInt(v[i]!), i * 8); break;
      default: throw new Error(`unsupported tag type ${t.type}`);
    }
  }
  return buf;
}

/** Size in bytes of an IFD and its out-of-line data, so offsets can be planned before writing. */
export function ifdSize(tags: TiffTag[], bigTiff: boolean): number {
  const entrySize = bigTiff ? 20 : 12;
  const inline = bigTiff ? 8 : 4;
  let size = (bigTiff ? 8 : 2) + tags.length * entrySize + (bigTiff ? 8 : 4);
  for (const t of tags) {
    const bytes = valueCount(t) * typeSize[t.type];
    if (bytes > inline) size += bytes + (bytes & 1);
  }
  return size;
}

/** Encode one IFD placed at `offset`, pointing to the next IFD at `nextOffset` (0 = last). */
export function encodeIfd(tags: TiffTag[], offset: number, nextOffset: number, bigTiff: boolean): Buffer {
  const sorted = [...tags].sort((a, b) => a.tag - b.tag);
  const entrySize = bigTiff ? 20 : 12;
  const inline = bigTiff ? 8 : 4;
  const headSize = (bigTiff ? 8 : 2) + sorted.length * entrySize + (bigTiff ? 8 : 4);
  const out = Buffer.alloc(ifdSize(sorted, bigTiff));
  let p = 0;
  if (bigTiff) { out.writeBigUInt64LE(BigInt(sorted.length), 0); p = 8; } else { out.writeUInt16LE(sorted.length, 0); p = 2; }
  let dataPos = headSize;
  for (const t of sorted) {
    const data = encodeValues(t);
    const count = valueCount(t);
    out.writeUInt16LE(t.tag, p);
    out.writeUInt16LE(t.type, p + 2);
    if (bigTiff) out.writeBigUInt64LE(BigInt(count), p + 4); else out.writeUInt32LE(count, p + 4);
    const valuePos = p + (bigTiff ? 12 : 8);
    if (data.length <= inline) {
      data.copy(out, valuePos);
    } else {
      if (bigTiff) out.writeBigUInt64LE(BigInt(offset + dataPos), valuePos); else out.writeUInt32LE(offset + dataPos, valuePos);
      data.copy(out, dataPos);
      dataPos += data.length + (data.length & 1);
    }
    p += entrySize;
  }
  if (bigTiff) out.writeBigUInt64LE(BigInt(nextOffset), p); else out.writeUInt32LE(nextOffset, p);
  return out;
}

export function tiffHeader(firstIfd: number, bigTiff: boolean): Buffer {
  if (bigTiff) {
    const b = Buffer.alloc(16);
    b.write('II', 0, 'latin1');
    b.writeUInt16LE(43, 2);
    b.writeUInt16LE(8, 4);
    b.writeUInt16LE(0, 6);
    b.writeBigUInt64LE(BigInt(firstIfd), 8);
    return b;
  }
  const b = Buffer.alloc(8);
  b.write('II', 0, 'latin1');
  b.writeUInt16LE(42, 2);
  b.writeUInt32LE(firstIfd, 4);
  return b;
}
