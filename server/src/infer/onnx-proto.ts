/**
 * Just enough of ONNX's protobuf encoding to read a model's metadata and input/output shapes, and to
 * write small graphs (the deterministic test model, spectral-water).
 *
 * onnxruntime-node exposes neither `metadata_props` nor a graph builder, and the full onnx.proto
 * toolchain is heavy for the dozen fields we touch. Large fields (weights) are skipped, not decoded.
 */

// ---------- reading ----------

/** A cursor over protobuf wire format (also used to read TensorFlow's protos in models/dynamic-world). */
export class ProtoReader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      // Numbers above 2^53 do not occur in the fields we read (dims, enums, versions).
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
  }

  /** Returns [fieldNumber, wireType] or null at the end. */
  tag(): [number, number] | null {
    if (this.pos >= this.end) return null;
    const t = this.varint();
    return [Math.floor(t / 8), t & 7];
  }

  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.end) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  string(): string {
    return new TextDecoder().decode(this.bytes());
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); break;
      case 1: this.pos += 8; break;
      case 2: { const len = this.varint(); this.pos += len; break; }
      case 5: this.pos += 4; break;
      default: throw new Error(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new Error('truncated field');
  }
}

/** Visit each field of a message; a field the visitor leaves unread is skipped. */
export function forEachField(buf: Uint8Array, visit: (field: number, wire: number, r: ProtoReader) => boolean | void): void {
  const r = new ProtoReader(buf);
  for (let t = r.tag(); t; t = r.tag()) {
    const [field, wire] = t;
    const before = r.pos;
    if (visit(field, wire, r) !== true && r.pos === before) r.skip(wire);
  }
}

/** A tensor dimension: a fixed size, or a symbolic name (dynamic). */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  elemType: number;
  shape: Dim[] | null;
}

export interface OnnxSummary {
  irVersion: number;
  opsetVersion: number;
  producer: string;
  metadata: Record<string, string>;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

function readValueInfo(buf: Uint8Array): ValueInfo {
  const info: ValueInfo = { name: '', elemType: 0, shape: null };
  forEachField(buf, (f, w, r) => {
    if (f === 1 && w === 2) info.name = r.string();
    else if (f === 2 && w === 2) {
      forEachField(r.bytes(), (tf, tw, tr) => {
        if (tf !== 1 || tw !== 2) return;
        forEachField(tr.bytes(), (ttf, ttw, ttr) => {
          if (ttf === 1 && ttw === 0) info.elemType = ttr.varint();
          else if (ttf === 2 && ttw === 2) {
            const shape: Dim[] = [];
            forEachField(ttr.bytes(), (sf, sw, sr) => {
              if (sf !== 1 || sw !== 2) return;
              let dim: Dim = '?';
              forEachField(sr.bytes(), (df, dw, dr) => {
                if (df === 1 && dw === 0) dim = dr.varint();
                else if (df === 2 && dw === 2) dim = dr.string();
              });
              shape.push(dim);
            });
            info.shape = shape;
          }
        });
      });
    }
  });
  return info;
}

/** Read the parts of an ONNX ModelProto we need, without decoding weights. */
export function readOnnxSummary(buf: Uint8Array): OnnxSummary {
  const summary: OnnxSummary = { irVersion: 0, opsetVersion: 0, producer: '', metadata: {}, inputs: [], outputs: [] };
  const initializers = new Set<string>();
  const inputs: ValueInfo[] = [];
  let sawGraph = false;
  forEachField(buf, (f, w, r) => {
    if (f === 1 && w === 0) summary.irVersion = r.varint();
    else if (f === 2 && w === 2) summary.producer = r.string();
    else if (f === 8 && w === 2) {
      let domain = '';
      let version = 0;
      forEachField(r.bytes(), (of, ow, or) => {
        if (of === 1 && ow === 2) domain = or.string();
        else if (of === 2 && ow === 0) version = or.varint();
      });
      if (domain === '' || domain === 'ai.onnx') summary.opsetVersion = version;
    } else if (f === 14 && w === 2) {
      let key = '';
      let value = '';
      forEachField(r.bytes(), (mf, mw, mr) => {
        if (mf === 1 && mw === 2) key = mr.string();
        else if (mf === 2 && mw === 2) value = mr.string();
      });
      summary.metadata[key] = value;
    } else if (f === 7 && w === 2) {
      sawGraph = true;
      forEachField(r.bytes(), (gf, gw, gr) => {
        if (gf === 11 && gw === 2) inputs.push(readValueInfo(gr.bytes()));
        else if (gf === 12 && gw === 2) summary.outputs.push(readValueInfo(gr.bytes()));
        else if (gf === 5 && gw === 2) {
          // Initializers may be listed as inputs in old IR versions; only their names matter here.
          forEachField(gr.bytes(), (tf, tw, tr) => {
            if (tf === 8 && tw === 2) initializers.add(tr.string());
          });
        }
      });
    }
  });
  if (!sawGraph) throw new Error('not an ONNX model (no graph)');
  summary.inputs = inputs.filter((i) => !initializers.has(i.name));
  return summary;
}

// ---------- writing ----------

class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  rawVarint(v: number): void {
    const out: number[] = [];
    let n = BigInt.asUintN(64, BigInt(Math.trunc(v)));
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) b |= 0x80;
      out.push(b);
    } while (n > 0n);
    this.push(Uint8Array.from(out));
  }

  varint(field: number, v: number): this {
    this.rawVarint(field * 8);
    this.rawVarint(v);
    return this;
  }

  bytes(field: number, bytes: Uint8Array): this {
    this.rawVarint(field * 8 + 2);
    this.rawVarint(bytes.length);
    this.push(bytes);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, w: ProtoWriter): this {
    return this.bytes(field, w.finish());
  }

  float(field: number, v: number): this {
    this.rawVarint(field * 8 + 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
}

export const TensorType = { FLOAT: 1, INT64: 7 } as const;

export type AttributeValue = number | number[] | string | { floats: number[] } | { tensor: Tensor };

export interface Tensor {
  name: string;
  dims: number[];
  dataType: number;
  /** float32 values for FLOAT, integers for INT64. */
  values: ArrayLike<number>;
}

export interface GraphNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: Record<string, AttributeValue>;
}

export interface GraphSpec {
  name: string;
  nodes: GraphNode[];
  initializers: Tensor[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  metadata?: Record<string, string>;
  opset?: number;
  producer?: string;
  docString?: string;
}

function tensorProto(t: Tensor): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.varint(1, d);
  w.varint(2, t.dataType);
  w.string(8, t.name);
  let raw: Uint8Array;
  if (t.dataType === TensorType.FLOAT) {
    raw = new Uint8Array(Float32Array.from(t.values).buffer);
  } else if (t.dataType === TensorType.INT64) {
    raw = new Uint8Array(BigInt64Array.from(Array.from(t.values, (v) => BigInt(v))).buffer);
  } else {
    throw new Error(`tensor type ${t.dataType} not supported by the writer`);
  }
  w.bytes(9, raw);
  return w;
}

function attributeProto(name: string, value: AttributeValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if (typeof value === 'number') {
    if (Number.isInteger(value)) w.varint(20, 2).varint(3, value);
    else w.varint(20, 1).float(2, value);
  } else if (typeof value === 'string') {
    w.varint(20, 3).bytes(4, new TextEncoder().encode(value));
  } else if (Array.isArray(value)) {
    w.varint(20, 7);
    for (const v of value) w.varint(8, v);
  } else if ('floats' in value) {
    w.varint(20, 6);
    for (const v of value.floats) w.float(7, v);
  } else {
    w.varint(20, 4).message(5, tensorProto(value.tensor));
  }
  return w;
}

function valueInfoProto(v: ValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape ?? []) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensor = new ProtoWriter().varint(1, v.elemType).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensor));
}

/** Serialise a graph as an ONNX ModelProto (IR 8). */
export function writeOnnxModel(spec: GraphSpec): Uint8Array {
  const graph = new ProtoWriter();
  spec.nodes.forEach((n, i) => {
    const node = new ProtoWriter();
    for (const input of n.inputs) node.string(1, input);
    for (const output of n.outputs) node.string(2, output);
    node.string(3, n.name ?? `${n.op}_${i}`).string(4, n.op);
    for (const [k, v] of Object.entries(n.attributes ?? {})) node.message(5, attributeProto(k, v));
    graph.message(1, node);
  });
  graph.string(2, spec.name);
  for (const t of spec.initializers) graph.message(5, tensorProto(t));
  if (spec.docString) graph.string(10, spec.docString);
  for (const v of spec.inputs) graph.message(11, valueInfoProto(v));
  for (const v of spec.outputs) graph.message(12, valueInfoProto(v));

  const model = new ProtoWriter()
    .varint(1, 8)
    .string(2, spec.producer ?? 'satseg')
    .message(8, new ProtoWriter().string(1, '').varint(2, spec.opset ?? 17))
    .message(7, graph);
  for (const [k, v] of Object.entries(spec.metadata ?? {})) model.message(14, new ProtoWriter().string(1, k).string(2, v));
  return model.finish();
}

/** Replace a model's metadata_props, keeping every other field byte for byte. */
export function withMetadata(buf: Uint8Array, metadata: Record<string, string>): Uint8Array {
  const parts: Uint8Array[] = [];
  const r = new ProtoReader(buf);
  for (let t = r.tag(); t; t = r.tag()) {
    const [field, wire] = t;
    const start = r.pos;
    r.skip(wire);
    if (field === 14) continue;
    const tag = new ProtoWriter();
    tag.rawVarint(field * 8 + wire);
    parts.push(tag.finish(), buf.subarray(start, r.pos));
  }
  const meta = new ProtoWriter();
  for (const [k, v] of Object.entries(metadata)) meta.message(14, new ProtoWriter().string(1, k).string(2, v));
  parts.push(meta.finish());
  const size = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
