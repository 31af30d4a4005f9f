/**
 * RFC 7946 GeoJSON, encoded straight to UTF-8 bytes and handed out in chunks, so the same code
 * serves a file and an HTTP response and a FeatureCollection of any size never exists as one
 * string or object.
 *
 * Why bytes and not strings: building "[x,y]" strings and joining them costs four times more than
 * writing the digits into a buffer, and for a large mask this writer is the hottest code after the
 * polygonizer.
 */
import { roundArea, type ClassPolygon, type PolygonSink } from './class-polygon.ts';
import { AtomicOutput } from '../write/atomic-file.ts';
import { VectorizeError } from '../errors.ts';

/**
 * 7 decimals of a degree is about 1 cm on the ground (at most 5.6 mm of rounding): below the pixel
 * of any imagery we segment (NAIP is 60 cm, the finest aerial a few cm), so no two vertices of a
 * mask merge and no ring changes its winding, while every coordinate is two bytes shorter than at 9.
 */
export const DEFAULT_DECIMALS = 7;

const HEADER = '{"type":"FeatureCollection","features":[\n';
const FOOTER = '\n]}\n';
const GEOMETRY = '},"geometry":{"type":"Polygon","coordinates":[';
const MULTI_GEOMETRY = '},"geometry":{"type":"MultiPolygon","coordinates":[';
const CACHE_SLOTS = 1 << 16;

/**
 * Coordinate text with a small direct-mapped cache: vertices of a mask lie on pixel-grid lines, so
 * the same few thousand values recur millions of times; reprojected values just miss.
 */
class CoordinateText {
  private readonly keys = new Float64Array(CACHE_SLOTS).fill(Number.NaN);
  private readonly texts: string[] = new Array<string>(CACHE_SLOTS).fill('');
  private readonly bits = new Float64Array(1);
  private readonly words = new Uint32Array(this.bits.buffer);
  private readonly scale: number;

  constructor(decimals: number) {
    this.scale = 10 ** decimals;
  }

  format(v: number): string {
    this.bits[0] = v;
    const slot = (Math.imul(this.words[0]! ^ this.words[1]!, 0x9e3779b1) >>> 16) & (CACHE_SLOTS - 1);
    if (this.keys[slot] === v) return this.texts[slot]!;
    // JSON has no Infinity or NaN: a georeference that gives them made files no reader could parse.
    if (!Number.isFinite(v)) throw new VectorizeError('bad-georeference', `a polygon vertex came out as ${v} in EPSG:4326: the mask's georeference cannot be placed on Earth`);
    const text = String(Math.round(v * this.scale) / this.scale);
    this.keys[slot] = v;
    this.texts[slot] = text;
    return text;
  }
}

/**
 * More properties for the features of a class id, written after `class` and `class_id` (a change
 * mask adds what each transition code was before and after).
 */
export type ExtraProperties = (classId: number) => Record<string, string | number>;

/** Encodes features into a growing byte buffer; take() hands out what is ready. */
export class GeoJsonEncoder {
  private buf = new Uint8Array(1 << 20);
  private n = 0;
  private features = 0;
  private readonly coords: CoordinateText;
  private readonly prefixes = new Map<number, Uint8Array>();
  private readonly utf8 = new TextEncoder();

  constructor(decimals = DEFAULT_DECIMALS, private readonly extra?: ExtraProperties) {
    this.coords = new CoordinateText(decimals);
  }

  get size(): number {
    return this.n;
  }

  header(): void {
    this.ascii(HEADER);
  }

  footer(): void {
    this.ascii(FOOTER);
  }

  feature(p: ClassPolygon): void {
    if (this.features > 0) this.ascii(',\n');
    // Sequential ids let clients address a feature (MapLibre feature state, GDAL FIDs); from 1, so
    // no client can take a falsy 0 for a missing id.
    this.ascii(`{"type":"Feature","id":${++this.features},`);
    let prefix = this.prefixes.get(p.classId);
    if (!prefix) {
      const extra = this.extra ? Object.entries(this.extra(p.classId)).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)},`).join('') : '';
      prefix = this.utf8.encode(`"properties":{"class":${JSON.stringify(p.className)},"class_id":${p.classId},${extra}"area_m2":`);
      this.prefixes.set(p.classId, prefix);
    }
    this.reserve(prefix.length);
    this.buf.set(prefix, this.n);
    this.n += prefix.length;
    this.ascii(String(roundArea(p.areaM2)));
    if (p.parts) {
      this.ascii(MULTI_GEOMETRY);
      p.parts.forEach((rings, k) => { this.ascii(k > 0 ? ',[' : '['); this.rings(rings); this.ascii(']'); });
    } else {
      this.ascii(GEOMETRY);
      this.rings(p.rings);
    }
    this.ascii(']}}');
  }

  private rings(rings: Float64Array[]): void {
    for (let r = 0; r < rings.length; r++) {
      const ring = rings[r]!;
      this.ascii(r > 0 ? ',[' : '[');
      for (let i = 0; i < ring.length; i += 2) this.pair(ring[i]!, ring[i + 1]!, 44);
      this.pair(ring[0]!, ring[1]!, 93); // GeoJSON rings repeat their first position
    }
  }

  /** The bytes encoded so far; the encoder continues in a fresh buffer (no copy). */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.n);
    this.buf = new Uint8Array(this.buf.length);
    this.n = 0;
    return out;
  }

  private pair(x: number, y: number, after: number): void {
    const xs = this.coords.format(x);
    const ys = this.coords.format(y);
    this.reserve(xs.length + ys.length + 4);
    const buf = this.buf;
    let n = this.n;
    buf[n++] = 91; // [
    for (let k = 0; k < xs.length; k++) buf[n++] = xs.charCodeAt(k);
    buf[n++] = 44; // ,
    for (let k = 0; k < ys.length; k++) buf[n++] = ys.charCodeAt(k);
    buf[n++] = 93; // ]
    buf[n++] = after;
    this.n = n;
  }

  /** Append text known to be ASCII. */
  private ascii(text: string): void {
    this.reserve(text.length);
    const buf = this.buf;
    let n = this.n;
    for (let k = 0; k < text.length; k++) buf[n++] = text.charCodeAt(k);
    this.n = n;
  }

  private reserve(bytes: number): void {
    if (this.n + bytes <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.n + bytes));
    grown.set(this.buf.subarray(0, this.n));
    this.buf = grown;
  }
}

/** One FeatureCollection as UTF-8 chunks (one per batch); an empty stream gives a valid empty collection. */
export async function* featureCollectionChunks(batches: AsyncIterable<ClassPolygon[]>, decimals = DEFAULT_DECIMALS): AsyncGenerator<Uint8Array> {
  const encoder = new GeoJsonEncoder(decimals);
  encoder.header();
  for await (const batch of batches) {
    for (const p of batch) encoder.feature(p);
    if (encoder.size >= 1 << 16) yield encoder.take();
  }
  encoder.footer();
  yield encoder.take();
}

export class GeoJsonFileWriter implements PolygonSink {
  private readonly encoder: GeoJsonEncoder;

  private constructor(private readonly out: AtomicOutput, decimals: number, extra?: ExtraProperties) {
    this.encoder = new GeoJsonEncoder(decimals, extra);
    this.encoder.header();
  }

  static async create(path: string, decimals = DEFAULT_DECIMALS, extra?: ExtraProperties): Promise<GeoJsonFileWriter> {
    return new GeoJsonFileWriter(await AtomicOutput.open(path), decimals, extra);
  }

  async write(batch: ClassPolygon[]): Promise<void> {
    for (const p of batch) this.encoder.feature(p);
    if (this.encoder.size >= 1 << 20) await this.out.write(this.encoder.take());
  }

  async finish(): Promise<void> {
    this.encoder.footer();
    await this.out.write(this.encoder.take());
    await this.out.commit();
  }

  abort(): Promise<void> {
    return this.out.abort();
  }
}
