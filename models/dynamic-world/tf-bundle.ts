/**
 * Reads a TensorFlow tensor bundle (a SavedModel's `variables/`): the float tensors by checkpoint
 * key, and the object graph that names them.
 *
 * Written here because no maintained npm package reads TF checkpoints, and pulling in TensorFlow
 * (Python or tfjs-node) to read 1 MB of weights once would be a far heavier dependency than the
 * three small formats involved:
 * - `variables.index` is a LevelDB-style SSTable whose values are BundleEntryProto {dtype, shape,
 *   shard, offset, size, crc32c}; its blocks may be Snappy-compressed (they are for Dynamic World);
 * - `variables.data-00000-of-00001` holds the raw little-endian tensors at those offsets;
 * - the `_CHECKPOINTABLE_OBJECT_GRAPH` entry is a string tensor holding a TrackableObjectGraph
 *   proto, which maps checkpoint keys (`variables/N/.ATTRIBUTES/VARIABLE_VALUE`) to variable names
 *   (`conv2d/kernel`).
 * Formats: tensorflow/core/lib/io/table_format.txt, tensorflow/core/protobuf/tensor_bundle.proto,
 * tensorflow/core/protobuf/trackable_object_graph.proto.
 */
import fs from 'node:fs';
import path from 'node:path';
import { forEachField, ProtoReader } from '../../server/src/infer/onnx-proto.ts';
import { snappyDecompress } from './snappy.ts';

const TABLE_MAGIC = 0xdb4775248b80fb57n;
const FOOTER_BYTES = 48;
const BLOCK_TRAILER_BYTES = 5;
const DT_FLOAT = 1;
const DT_STRING = 7;
/** A bundle we read is a few megabytes; a corrupt size field must not make us allocate gigabytes. */
const MAX_TENSOR_BYTES = 256 << 20;

export interface BundleEntry {
  dtype: number;
  shape: number[];
  shardId: number;
  offset: number;
  size: number;
  crc32c: number | null;
}

/** One node of a TrackableObjectGraph. */
export interface TrackableObject {
  /** Local name (`layer-3`, `kernel`) → node index. */
  children: Map<string, number>;
  /** Set on variables: where their value is stored. */
  checkpointKey: string | null;
}

export interface FloatTensor {
  shape: number[];
  data: Float32Array;
}

// ---------- CRC32C (Castagnoli), to check what we read ----------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** LevelDB stores masked CRCs, so that a CRC of data holding CRCs is not degenerate. */
function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

// ---------- SSTable ----------

function blockHandle(r: ProtoReader): { offset: number; size: number } {
  return { offset: r.varint(), size: r.varint() };
}

function readBlock(file: Uint8Array, handle: { offset: number; size: number }): Uint8Array {
  const end = handle.offset + handle.size;
  if (end + BLOCK_TRAILER_BYTES > file.length) throw new Error('SSTable block runs past the end of the index file');
  const raw = file.subarray(handle.offset, end);
  const type = file[end]!;
  const stored = new DataView(file.buffer, file.byteOffset + end + 1, 4).getUint32(0, true);
  // The CRC covers the block contents and the compression-type byte.
  if (maskCrc(crc32c(file.subarray(handle.offset, end + 1))) !== stored) throw new Error(`SSTable block at ${handle.offset}: CRC mismatch`);
  if (type === 0) return raw;
  if (type === 1) return snappyDecompress(raw);
  throw new Error(`SSTable block at ${handle.offset}: unknown compression type ${type}`);
}

/** Key/value pairs of one block (keys are prefix-compressed against the previous key). */
function blockEntries(block: Uint8Array): Array<[string, Uint8Array]> {
  if (block.length < 4) throw new Error('SSTable block too short');
  const view = new DataView(block.buffer, block.byteOffset, block.length);
  const restarts = view.getUint32(block.length - 4, true);
  const end = block.length - 4 * (restarts + 1);
  if (end < 0) throw new Error('SSTable block: bad restart count');
  const r = new ProtoReader(block, end);
  const out: Array<[string, Uint8Array]> = [];
  let key = new Uint8Array(0);
  while (r.pos < end) {
    const shared = r.varint();
    const unshared = r.varint();
    const valueLength = r.varint();
    if (shared > key.length || r.pos + unshared + valueLength > end) throw new Error('SSTable block: entry overruns the block');
    const next = new Uint8Array(shared + unshared);
    next.set(key.subarray(0, shared));
    next.set(block.subarray(r.pos, r.pos + unshared), shared);
    r.pos += unshared;
    key = next;
    out.push([new TextDecoder().decode(key), block.subarray(r.pos, r.pos + valueLength)]);
    r.pos += valueLength;
  }
  return out;
}

/** Every key/value pair of an SSTable, in key order. */
export function readSsTable(file: Uint8Array): Array<[string, Uint8Array]> {
  if (file.length < FOOTER_BYTES) throw new Error('not an SSTable: too short');
  const footer = file.subarray(file.length - FOOTER_BYTES);
  const magic = new DataView(footer.buffer, footer.byteOffset + 40, 8).getBigUint64(0, true);
  if (magic !== TABLE_MAGIC) throw new Error('not an SSTable: bad magic number');
  const fr = new ProtoReader(footer);
  blockHandle(fr); // metaindex: unused by tensor bundles
  const index = blockEntries(readBlock(file, blockHandle(fr)));
  return index.flatMap(([, handle]) => blockEntries(readBlock(file, blockHandle(new ProtoReader(handle)))));
}

// ---------- BundleEntryProto ----------

function parseEntry(bytes: Uint8Array): BundleEntry {
  const e: BundleEntry = { dtype: 0, shape: [], shardId: 0, offset: 0, size: 0, crc32c: null };
  forEachField(bytes, (f, w, r) => {
    if (f === 1 && w === 0) e.dtype = r.varint();
    else if (f === 2 && w === 2) {
      forEachField(r.bytes(), (sf, sw, sr) => {
        if (sf !== 2 || sw !== 2) return;
        forEachField(sr.bytes(), (df, dw, dr) => {
          if (df === 1 && dw === 0) e.shape.push(dr.varint());
        });
      });
    } else if (f === 3 && w === 0) e.shardId = r.varint();
    else if (f === 4 && w === 0) e.offset = r.varint();
    else if (f === 5 && w === 0) e.size = r.varint();
    else if (f === 6 && w === 5) {
      e.crc32c = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 4).getUint32(0, true);
      r.pos += 4;
    }
  });
  return e;
}

export class TensorBundle {
  private constructor(readonly entries: Map<string, BundleEntry>, private readonly data: Uint8Array) {}

  /** Open `<dir>/variables.index` and its single data shard. */
  static open(dir: string, prefix = 'variables'): TensorBundle {
    const index = new Uint8Array(fs.readFileSync(path.join(dir, `${prefix}.index`)));
    const entries = new Map<string, BundleEntry>();
    let shards = 1;
    for (const [key, value] of readSsTable(index)) {
      if (key === '') {
        // BundleHeaderProto: num_shards = 1, endianness = 2 (0 little), version = 3.
        forEachField(value, (f, w, r) => {
          if (f === 1 && w === 0) shards = r.varint();
          else if (f === 2 && w === 0 && r.varint() !== 0) throw new Error('big-endian tensor bundles are not supported');
        });
        continue;
      }
      entries.set(key, parseEntry(value));
    }
    if (shards !== 1) throw new Error(`tensor bundle has ${shards} shards; only single-shard bundles are supported`);
    const data = new Uint8Array(fs.readFileSync(path.join(dir, `${prefix}.data-00000-of-00001`)));
    return new TensorBundle(entries, data);
  }

  private bytes(key: string, dtype: number, checksummed: (bytes: Uint8Array) => Uint8Array = (b) => b): Uint8Array {
    const e = this.entries.get(key);
    if (!e) throw new Error(`tensor bundle has no entry "${key}"`);
    if (e.dtype !== dtype) throw new Error(`tensor "${key}" has dtype ${e.dtype}, expected ${dtype}`);
    if (e.size > MAX_TENSOR_BYTES || e.offset + e.size > this.data.length) throw new Error(`tensor "${key}" lies outside the data file`);
    const bytes = this.data.subarray(e.offset, e.offset + e.size);
    if (e.crc32c !== null && maskCrc(crc32c(checksummed(bytes))) !== e.crc32c) throw new Error(`tensor "${key}": CRC mismatch`);
    return bytes;
  }

  float(key: string): FloatTensor {
    const e = this.entries.get(key);
    const bytes = this.bytes(key, DT_FLOAT);
    const count = e!.shape.reduce((a, b) => a * b, 1);
    if (count * 4 !== bytes.length) throw new Error(`tensor "${key}": ${bytes.length} bytes for shape [${e!.shape.join(', ')}]`);
    // Copy: the data file's buffer need not be 4-byte aligned at the offset.
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes);
    return { shape: e!.shape, data };
  }

  /**
   * A scalar string tensor, stored as a varint length, a 4-byte checksum of the lengths, then the
   * bytes. The entry's CRC covers the length as a little-endian uint32, that checksum and the bytes.
   */
  string(key: string): Uint8Array {
    const contents = (bytes: Uint8Array): Uint8Array => {
      const r = new ProtoReader(bytes);
      const len = r.varint();
      const start = r.pos + 4;
      if (start + len > bytes.length) throw new Error(`string tensor "${key}" is truncated`);
      return bytes.subarray(start, start + len);
    };
    const lengthThenBytes = (bytes: Uint8Array): Uint8Array => {
      const s = contents(bytes);
      const out = new Uint8Array(8 + s.length);
      new DataView(out.buffer).setUint32(0, s.length, true);
      out.set(bytes.subarray(s.byteOffset - bytes.byteOffset - 4), 4);
      return out;
    };
    return contents(this.bytes(key, DT_STRING, lengthThenBytes));
  }

  /**
   * The object graph: which object owns which (`layer-3`, `kernel`, ...), and which checkpoint key
   * holds each variable's value. Keras saves no variable names here, so this graph is what ties a
   * tensor to a layer.
   */
  objectGraph(): TrackableObject[] {
    const nodes: TrackableObject[] = [];
    forEachField(this.string('_CHECKPOINTABLE_OBJECT_GRAPH'), (f, w, r) => {
      if (f !== 1 || w !== 2) return;
      const node: TrackableObject = { children: new Map(), checkpointKey: null };
      forEachField(r.bytes(), (nf, nw, nr) => {
        if (nf === 1 && nw === 2) {
          let id = -1;
          let name = '';
          forEachField(nr.bytes(), (cf, cw, cr) => {
            if (cf === 1 && cw === 0) id = cr.varint();
            else if (cf === 2 && cw === 2) name = cr.string();
          });
          node.children.set(name, id);
        } else if (nf === 2 && nw === 2) {
          let name = '';
          let key = '';
          forEachField(nr.bytes(), (af, aw, ar) => {
            if (af === 1 && aw === 2) name = ar.string();
            else if (af === 3 && aw === 2) key = ar.string();
          });
          if (name === 'VARIABLE_VALUE') node.checkpointKey = key;
        }
      });
      nodes.push(node);
    });
    return nodes;
  }
}
