/**
 * FlatGeobuf output in the mask's own CRS (no reprojection: the file is for GIS work where the
 * native grid matters).
 *
 * The flatgeobuf package serialises whole collections only, and its header builder knows EPSG codes
 * but not WKT, so we build the header ourselves with its flatbuffers tables and stream the features
 * through its per-feature encoder. Features go to a spill file while they arrive, and only their
 * boxes and byte ranges stay in memory. On finish they are put in Hilbert order of their box
 * centres, the packed R-tree over them is built (the spatial index GDAL, QGIS and the flatgeobuf
 * readers use for bounding-box reads, also over HTTP ranges), and header, index and features are
 * written to a temporary file that is renamed into place.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import * as flatbuffers from 'flatbuffers';
import { buildGeometry, type IParsedGeometry } from 'flatgeobuf/lib/mjs/generic/geometry.js';
import { Feature } from 'flatgeobuf/lib/mjs/flat-geobuf/feature.js';
import type { ColumnMeta } from 'flatgeobuf/lib/mjs/column-meta.js';
import { Header } from 'flatgeobuf/lib/mjs/flat-geobuf/header.js';
import { Crs as FgbCrs } from 'flatgeobuf/lib/mjs/flat-geobuf/crs.js';
import { Column } from 'flatgeobuf/lib/mjs/flat-geobuf/column.js';
import { ColumnType } from 'flatgeobuf/lib/mjs/flat-geobuf/column-type.js';
import { GeometryType } from 'flatgeobuf/lib/mjs/flat-geobuf/geometry-type.js';
import { magicbytes } from 'flatgeobuf/lib/mjs/constants.js';
import { DEFAULT_NODE_SIZE, NODE_ITEM_BYTE_LEN, generateLevelBounds } from 'flatgeobuf/lib/mjs/packedrtree.js';
import type { Crs } from '../read/raster.ts';
import { lookupEpsg } from '../read/crs.ts';
import { polygonProperties, type ClassPolygon, type PolygonSink } from './class-polygon.ts';
import { checkOutputPath, replaceAtomically, temporaryPathBeside, trackTemporary, untrackTemporary } from '../write/atomic-file.ts';

function column(name: string, type: ColumnType): ColumnMeta {
  return { name, type, title: null, description: null, width: -1, precision: -1, scale: -1, nullable: false, unique: false, primary_key: false };
}

const COLUMNS: ColumnMeta[] = [column('class', ColumnType.String), column('class_id', ColumnType.Int), column('area_m2', ColumnType.Double)];

/** Children per index node: the format's default, and what GDAL writes. */
const INDEX_NODE_SIZE = DEFAULT_NODE_SIZE;

function headerBytes(crs: Crs, count: number, envelope: [number, number, number, number] | null, indexNodeSize: number): Uint8Array {
  const builder = new flatbuffers.Builder(1024);
  const columns = COLUMNS.map((c) => {
    const name = builder.createString(c.name);
    Column.startColumn(builder);
    Column.addName(builder, name);
    Column.addType(builder, c.type);
    Column.addNullable(builder, false);
    return Column.endColumn(builder);
  });
  const columnsOffset = Header.createColumnsVector(builder, columns);
  const wkt = crs.epsg ? lookupEpsg(crs.epsg)?.wkt : undefined;
  const wktOffset = wkt ? builder.createString(wkt) : 0;
  const crsName = builder.createString(crs.name);
  const crsDescription = crs.epsg ? 0 : builder.createString(crs.proj4);
  const org = crs.epsg ? builder.createString('EPSG') : 0;
  FgbCrs.startCrs(builder);
  if (org) FgbCrs.addOrg(builder, org);
  if (crs.epsg) FgbCrs.addCode(builder, crs.epsg);
  FgbCrs.addName(builder, crsName);
  if (crsDescription) FgbCrs.addDescription(builder, crsDescription);
  if (wktOffset) FgbCrs.addWkt(builder, wktOffset);
  const crsOffset = FgbCrs.endCrs(builder);
  const envelopeOffset = envelope ? Header.createEnvelopeVector(builder, envelope) : 0;
  const name = builder.createString('polygons');
  Header.startHeader(builder);
  Header.addName(builder, name);
  if (envelopeOffset) Header.addEnvelope(builder, envelopeOffset);
  Header.addGeometryType(builder, GeometryType.Polygon);
  Header.addColumns(builder, columnsOffset);
  Header.addFeaturesCount(builder, BigInt(count));
  Header.addIndexNodeSize(builder, indexNodeSize);
  Header.addCrs(builder, crsOffset);
  builder.finishSizePrefixed(Header.endHeader(builder));
  return builder.asUint8Array();
}

/**
 * One feature in FlatGeobuf's bytes (size-prefixed), built with the format's own generated tables
 * in one builder kept from feature to feature. The package's buildFeature starts a new builder and
 * property buffer for each, and with a million polygons that allocation and its collection were
 * most of the file's time. The bytes are the same (test/vectorize/flatgeobuf-writer.test.ts).
 */
const featureBuilder = new flatbuffers.Builder(1 << 16);
const utf8 = new TextEncoder();
const classNameBytes = new Map<string, Uint8Array>();
let propertyBytes = new Uint8Array(256);
let xyScratch = new Float64Array(4096);

export function encodeFeature(p: ClassPolygon): Uint8Array {
  const { class: name, class_id: id, area_m2: area } = polygonProperties(p);
  let nameBytes = classNameBytes.get(name);
  if (!nameBytes) classNameBytes.set(name, (nameBytes = utf8.encode(name)));
  // Each property as FlatGeobuf writes it: its column's index (u16), then the value (COLUMNS' types).
  const size = 2 + 4 + nameBytes.length + 2 + 4 + 2 + 8;
  if (propertyBytes.length < size) propertyBytes = new Uint8Array(2 * size);
  const view = new DataView(propertyBytes.buffer);
  let o = 0;
  view.setUint16(o, 0, true); o += 2;
  view.setUint32(o, nameBytes.length, true); o += 4;
  propertyBytes.set(nameBytes, o); o += nameBytes.length;
  view.setUint16(o, 1, true); o += 2;
  view.setInt32(o, id, true); o += 4;
  view.setUint16(o, 2, true); o += 2;
  view.setFloat64(o, area, true); o += 8;

  let total = 0;
  for (const ring of p.rings) total += ring.length + 2;
  if (xyScratch.length < total) xyScratch = new Float64Array(2 * total);
  const ends: number[] = [];
  let n = 0;
  for (const ring of p.rings) {
    xyScratch.set(ring, n);
    n += ring.length;
    xyScratch[n++] = ring[0]!;
    xyScratch[n++] = ring[1]!;
    ends.push(n / 2);
  }
  const geometry = { xy: xyScratch.subarray(0, total), ends: p.rings.length > 1 ? ends : undefined, type: GeometryType.Polygon } as unknown as IParsedGeometry;

  const builder = featureBuilder;
  builder.clear();
  const propertiesOffset = Feature.createPropertiesVector(builder, propertyBytes.subarray(0, o));
  const geometryOffset = buildGeometry(builder, geometry);
  Feature.startFeature(builder);
  Feature.addGeometry(builder, geometryOffset);
  Feature.addProperties(builder, propertiesOffset);
  builder.finishSizePrefixed(Feature.endFeature(builder));
  // The builder's bytes are overwritten by the next feature.
  return builder.asUint8Array().slice();
}

/** Output bytes gathered at a time, and the most one read of the spill file takes in. */
const GATHER_BYTES = 32 << 20;
const READ_BYTES = 8 << 20;
/** Spill bytes between two wanted features that one read still spans rather than seek past. */
const READ_GAP = 256 << 10;

/**
 * Write the spilled features in `order`. One read per feature (as the index wants them, scattered
 * over the spill) took 1M reads and 13 s of a 1M-polygon mask's 26 s; here a run of the order
 * worth GATHER_BYTES is placed into one buffer from reads of nearby features together, taken in
 * spill order: features close on the Hilbert curve were spilled close together, row band by band.
 */
export async function gatherInOrder(spill: fs.promises.FileHandle, order: number[], offsets: number[], lengths: number[], write: (chunk: Uint8Array) => Promise<void>): Promise<void> {
  const window = Buffer.allocUnsafe(READ_BYTES);
  for (let start = 0; start < order.length;) {
    let end = start;
    let bytes = 0;
    while (end < order.length && (end === start || bytes + lengths[order[end]!]! <= GATHER_BYTES)) bytes += lengths[order[end++]!]!;
    const out = Buffer.allocUnsafe(bytes);
    // Each feature's place in `out`, then the features in spill order.
    const place = new Map<number, number>();
    for (let i = start, at = 0; i < end; i++) { place.set(order[i]!, at); at += lengths[order[i]!]!; }
    const bySpill = order.slice(start, end).sort((a, b) => offsets[a]! - offsets[b]!);
    for (let i = 0; i < bySpill.length;) {
      const first = offsets[bySpill[i]!]!;
      const firstLength = lengths[bySpill[i]!]!;
      if (firstLength > READ_BYTES) {
        // A feature larger than the window is read on its own, straight into place.
        await readFully(spill, out, place.get(bySpill[i]!)!, firstLength, first);
        i++;
        continue;
      }
      let j = i + 1;
      let reach = first + firstLength;
      while (j < bySpill.length) {
        const o = offsets[bySpill[j]!]!;
        const e = o + lengths[bySpill[j]!]!;
        if (o - reach > READ_GAP || e - first > READ_BYTES) break;
        reach = Math.max(reach, e);
        j++;
      }
      await readFully(spill, window, 0, reach - first, first);
      for (let k = i; k < j; k++) {
        const f = bySpill[k]!;
        window.copy(out, place.get(f)!, offsets[f]! - first, offsets[f]! - first + lengths[f]!);
      }
      i = j;
    }
    await write(out);
    start = end;
  }
}

async function readFully(file: fs.promises.FileHandle, into: Buffer, at: number, length: number, position: number): Promise<void> {
  for (let done = 0; done < length;) {
    const { bytesRead } = await file.read(into, at + done, length - done, position + done);
    if (bytesRead === 0) throw new Error('the spill file ended early');
    done += bytesRead;
  }
}

/** Position along a 2^16 x 2^16 Hilbert curve (x and y in 0..65535). */
export function hilbertIndex(x: number, y: number): number {
  let d = 0;
  for (let s = 1 << 15; s > 0; s >>= 1) {
    const rx = x & s ? 1 : 0;
    const ry = y & s ? 1 : 0;
    d += s * s * ((3 * rx) ^ ry);
    if (ry === 0) {
      if (rx === 1) {
        x = 65535 - x;
        y = 65535 - y;
      }
      const t = x;
      x = y;
      y = t;
    }
  }
  return d;
}

/**
 * The packed R-tree over features already in their final order: leaves carry each feature's box
 * and byte offset in the feature section, every parent the union of up to `nodeSize` children and
 * the index of its first child; the root comes first.
 */
export function packedRTree(boxes: Float64Array, offsets: number[], nodeSize: number): Buffer {
  const count = offsets.length;
  // Node ranges per level, leaves first, in the format's layout.
  const levels = generateLevelBounds(count, nodeSize);
  // Leaves are the last level in the array, so where they end is the node count.
  const total = levels[0]![1];
  const box = new Float64Array(total * 4);
  const ref = new Array<number>(total);
  const leaves = levels[0]![0];
  for (let i = 0; i < count; i++) {
    box.set(boxes.subarray(4 * i, 4 * i + 4), 4 * (leaves + i));
    ref[leaves + i] = offsets[i]!;
  }
  for (let l = 0; l < levels.length - 1; l++) {
    let [pos, end] = levels[l]!;
    let parent = levels[l + 1]![0];
    while (pos < end) {
      const p = 4 * parent;
      box[p] = Infinity; box[p + 1] = Infinity; box[p + 2] = -Infinity; box[p + 3] = -Infinity;
      ref[parent] = pos;
      for (let j = 0; j < nodeSize && pos < end; j++, pos++) {
        const c = 4 * pos;
        box[p] = Math.min(box[p]!, box[c]!);
        box[p + 1] = Math.min(box[p + 1]!, box[c + 1]!);
        box[p + 2] = Math.max(box[p + 2]!, box[c + 2]!);
        box[p + 3] = Math.max(box[p + 3]!, box[c + 3]!);
      }
      parent++;
    }
  }
  const out = Buffer.alloc(total * NODE_ITEM_BYTE_LEN);
  for (let i = 0; i < total; i++) {
    const o = i * NODE_ITEM_BYTE_LEN;
    for (let k = 0; k < 4; k++) out.writeDoubleLE(box[4 * i + k]!, o + 8 * k);
    out.writeBigUInt64LE(BigInt(ref[i]!), o + 32);
  }
  return out;
}

export class FlatGeobufFileWriter implements PolygonSink {
  private count = 0;
  private envelope: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
  /** Per feature, in arrival order: its box (4 values), and where it lies in the spill file. */
  private boxes = new Float64Array(4 * 1024);
  private readonly spillOffsets: number[] = [];
  private readonly lengths: number[] = [];
  private spillBytes = 0;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private done = false;

  private constructor(
    readonly target: string,
    private readonly crs: Crs,
    private readonly bodyPath: string,
    private readonly body: fs.promises.FileHandle,
  ) {}

  static async create(target: string, crs: Crs): Promise<FlatGeobufFileWriter> {
    checkOutputPath(target);
    const bodyPath = temporaryPathBeside(target, '.features');
    trackTemporary(bodyPath);
    return new FlatGeobufFileWriter(target, crs, bodyPath, await fs.promises.open(bodyPath, 'w'));
  }

  async write(batch: ClassPolygon[]): Promise<void> {
    const env = this.envelope;
    for (const p of batch) {
      // The outer ring bounds the polygon.
      const shell = p.rings[0]!;
      let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
      for (let i = 0; i < shell.length; i += 2) {
        const x = shell[i]!, y = shell[i + 1]!;
        if (x < minX) minX = x;
        if (y < minY) minY = y;
        if (x > maxX) maxX = x;
        if (y > maxY) maxY = y;
      }
      env[0] = Math.min(env[0], minX);
      env[1] = Math.min(env[1], minY);
      env[2] = Math.max(env[2], maxX);
      env[3] = Math.max(env[3], maxY);
      if (4 * (this.count + 1) > this.boxes.length) {
        const grown = new Float64Array(this.boxes.length * 2);
        grown.set(this.boxes);
        this.boxes = grown;
      }
      this.boxes.set([minX, minY, maxX, maxY], 4 * this.count);
      const bytes = encodeFeature(p);
      this.spillOffsets.push(this.spillBytes);
      this.lengths.push(bytes.length);
      this.spillBytes += bytes.length;
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
      this.count++;
    }
    if (this.pendingBytes > 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    const data = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    for (let done = 0; done < data.length;) done += (await this.body.write(data, done, data.length - done)).bytesWritten;
  }

  async finish(): Promise<void> {
    if (this.done) throw new Error('output already closed');
    this.done = true;
    let spill = null as fs.promises.FileHandle | null;
    try {
      await replaceAtomically(this.target, async (finalTemp) => {
        await this.flush();
        await this.body.close();
        const out = fs.createWriteStream(finalTemp);
        const write = async (chunk: Uint8Array) => { if (!out.write(chunk)) await once(out, 'drain'); };
        const n = this.count;
        const order = this.hilbertOrder();
        await write(Buffer.from(magicbytes));
        await write(headerBytes(this.crs, n, n ? this.envelope : null, n ? INDEX_NODE_SIZE : 0));
        if (n) {
          const boxes = new Float64Array(4 * n);
          const offsets: number[] = [];
          let at = 0;
          order.forEach((f, i) => {
            boxes.set(this.boxes.subarray(4 * f, 4 * f + 4), 4 * i);
            offsets.push(at);
            at += this.lengths[f]!;
      });
        await write(packedRTree(boxes, offsets, INDEX_NODE_SIZE));
      }
      // Features in index order, gathered from the spill file (gatherInOrder).
      spill = await fs.promises.open(this.bodyPath, 'r');
      await gatherInOrder(spill, order, this.spillOffsets, this.lengths, write);
      await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
      });
    } finally {
      await spill?.close();
      await fs.promises.rm(this.bodyPath, { force: true });
      untrackTemporary(this.bodyPath);
    }
  }

  /** Feature numbers sorted by the Hilbert position of their box centres within the extent. */
  private hilbertOrder(): number[] {
    const [minX, minY, maxX, maxY] = this.envelope;
    const sx = maxX > minX ? 65535 / (maxX - minX) : 0;
    const sy = maxY > minY ? 65535 / (maxY - minY) : 0;
    const keys = new Float64Array(this.count);
    for (let f = 0; f < this.count; f++) {
      const b = 4 * f;
      const cx = Math.floor(((this.boxes[b]! + this.boxes[b + 2]!) / 2 - minX) * sx);
      const cy = Math.floor(((this.boxes[b + 1]! + this.boxes[b + 3]!) / 2 - minY) * sy);
      keys[f] = hilbertIndex(cx, cy);
    }
    return Array.from({ length: this.count }, (_, f) => f).sort((a, b) => keys[a]! - keys[b]! || a - b);
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.body.close().catch(() => undefined);
    await fs.promises.rm(this.bodyPath, { force: true });
    untrackTemporary(this.bodyPath);
  }
}
