/**
 * FlatGeobuf output in the mask's own CRS (no reprojection: the file is for GIS work where the
 * native grid matters).
 *
 * The flatgeobuf package serialises whole collections only, and its header builder knows EPSG codes
 * but not WKT, so we build the header ourselves with its flatbuffers tables and stream the features
 * through its per-feature encoder. Features go to a spill file while they arrive; on finish the
 * header (now knowing the feature count and extent) is written in front of them and the result is
 * renamed into place. There is no spatial index: building one needs every feature sorted first.
 */
import fs from 'node:fs';
import { once } from 'node:events';
import * as flatbuffers from 'flatbuffers';
import { buildFeature } from 'flatgeobuf/lib/mjs/generic/feature.js';
import type { IParsedGeometry } from 'flatgeobuf/lib/mjs/generic/geometry.js';
import type { HeaderMeta } from 'flatgeobuf/lib/mjs/header-meta.js';
import type { ColumnMeta } from 'flatgeobuf/lib/mjs/column-meta.js';
import { Header } from 'flatgeobuf/lib/mjs/flat-geobuf/header.js';
import { Crs as FgbCrs } from 'flatgeobuf/lib/mjs/flat-geobuf/crs.js';
import { Column } from 'flatgeobuf/lib/mjs/flat-geobuf/column.js';
import { ColumnType } from 'flatgeobuf/lib/mjs/flat-geobuf/column-type.js';
import { GeometryType } from 'flatgeobuf/lib/mjs/flat-geobuf/geometry-type.js';
import { magicbytes } from 'flatgeobuf/lib/mjs/constants.js';
import type { Crs } from '../read/raster.ts';
import { lookupEpsg } from '../read/crs.ts';
import { polygonProperties, type ClassPolygon, type PolygonSink } from './class-polygon.ts';
import { checkOutputPath, temporaryPathBeside } from './atomic-output.ts';

function column(name: string, type: ColumnType): ColumnMeta {
  return { name, type, title: null, description: null, width: -1, precision: -1, scale: -1, nullable: false, unique: false, primary_key: false };
}

const COLUMNS: ColumnMeta[] = [column('class', ColumnType.String), column('class_id', ColumnType.Int), column('area_m2', ColumnType.Double)];

function headerBytes(crs: Crs, count: number, envelope: [number, number, number, number] | null): Uint8Array {
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
  Header.addIndexNodeSize(builder, 0);
  Header.addCrs(builder, crsOffset);
  builder.finishSizePrefixed(Header.endHeader(builder));
  return builder.asUint8Array();
}

const HEADER_META: HeaderMeta = {
  geometryType: GeometryType.Polygon, columns: COLUMNS, envelope: null, featuresCount: 0, indexNodeSize: 0,
  crs: null, title: null, description: null, metadata: null,
};

export function encodeFeature(p: ClassPolygon): Uint8Array {
  let total = 0;
  for (const ring of p.rings) total += ring.length + 2;
  const xy = new Float64Array(total);
  const ends: number[] = [];
  let n = 0;
  for (const ring of p.rings) {
    xy.set(ring, n);
    n += ring.length;
    xy[n++] = ring[0]!;
    xy[n++] = ring[1]!;
    ends.push(n / 2);
  }
  const geometry = { xy, ends: p.rings.length > 1 ? ends : undefined, type: GeometryType.Polygon } as unknown as IParsedGeometry;
  const { class: name, class_id: id, area_m2: area } = polygonProperties(p);
  return buildFeature(geometry, { class: name, class_id: id, area_m2: area }, HEADER_META);
}

export class FlatGeobufFileWriter implements PolygonSink {
  private count = 0;
  private envelope: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
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
    return new FlatGeobufFileWriter(target, crs, bodyPath, await fs.promises.open(bodyPath, 'w'));
  }

  async write(batch: ClassPolygon[]): Promise<void> {
    const env = this.envelope;
    for (const p of batch) {
      const shell = p.rings[0]!;
      for (let i = 0; i < shell.length; i += 2) {
        const x = shell[i]!, y = shell[i + 1]!;
        if (x < env[0]) env[0] = x;
        if (y < env[1]) env[1] = y;
        if (x > env[2]) env[2] = x;
        if (y > env[3]) env[3] = y;
      }
      const bytes = encodeFeature(p);
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
    const finalTemp = temporaryPathBeside(this.target);
    try {
      await this.flush();
      await this.body.close();
      const out = fs.createWriteStream(finalTemp);
      const header = headerBytes(this.crs, this.count, this.count ? this.envelope : null);
      out.write(Buffer.from(magicbytes));
      out.write(Buffer.from(header));
      for await (const chunk of fs.createReadStream(this.bodyPath)) {
        if (!out.write(chunk)) await once(out, 'drain');
      }
      await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
      await fs.promises.rename(finalTemp, this.target);
    } catch (err) {
      await fs.promises.rm(finalTemp, { force: true });
      throw err;
    } finally {
      await fs.promises.rm(this.bodyPath, { force: true });
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.body.close().catch(() => undefined);
    await fs.promises.rm(this.bodyPath, { force: true });
  }
}
