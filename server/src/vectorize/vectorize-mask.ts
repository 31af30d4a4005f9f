/**
 * The vectorize stage: class mask → polygons → GeoJSON (WGS 84) or FlatGeobuf (native CRS).
 *
 * open → check it is a mask → read strips → codes (class filter) → polygonize + simplify (streaming)
 * → pixel corners to CRS → area, min-area filter and small-hole filling → reproject → write.
 *
 * Polygons leave the polygonizer as soon as their region is closed and are written strip by strip,
 * so memory follows the open boundary, not the raster or the feature count.
 */
import path from 'node:path';
import type { RasterInfo, Window } from '../read/raster.ts';
import type { RasterSource } from '../read/raster-source.ts';
import { openRaster } from '../read/open-raster.ts';
import { crsLabel } from '../read/crs.ts';
import { StripPolygonizer, type RegionPolygon } from './polygonize.ts';
import { checkIsMask, classIdOf, maskRowEncoder } from './mask-codes.ts';
import { classCatalog, type ClassCatalog } from './class-names.ts';
import { pixelAreaFunction } from '../read/geodesy.ts';
import { orientRings, pixelRingToCrs, toGeographic } from './reproject.ts';
import { splitAtAntimeridian, type LongEdgeTest } from './antimeridian.ts';
import type { ClassPolygon, PolygonSink } from './class-polygon.ts';
import { featureCollectionChunks, GeoJsonFileWriter } from './geojson-writer.ts';
import { checkOutputPath } from '../write/atomic-file.ts';

import { DEFAULT_MIN_AREA_M2, DEFAULT_SIMPLIFY_PX } from './vectorize-defaults.ts';
import { VectorizeError } from '../errors.ts';

export { DEFAULT_MIN_AREA_M2, DEFAULT_SIMPLIFY_PX } from './vectorize-defaults.ts';

/** Pixels per strip read: big enough to amortise each read, small enough for 36000-pixel rows. */
const STRIP_PIXELS = 4_000_000;
/**
 * Closed polygons handed on as a batch once this many are waiting, even mid-strip: a strip of a
 * speckled mask closes a million of them (a 2000² checkerboard held 4 GB, and Ctrl-C waited for
 * the strip), and each costs about a kilobyte until it is written.
 */
const BATCH_POLYGONS = 4096;

export interface VectorizeOptions {
  /** Class names or ids to keep; all classes when omitted. */
  classes?: string[];
  /** Drop polygons smaller than this, and fill holes smaller than this (m²). */
  minAreaM2?: number;
  /** Simplification tolerance in pixels; 0 keeps the exact pixel edges. */
  simplifyPx?: number;
  signal?: AbortSignal;
  /** Rows per read (default: about 4 Mpx per strip). Tests use small strips to cross many strip edges. */
  stripRows?: number;
  /** Rows per simplification band (default DEFAULT_BAND_HEIGHT). */
  bandHeight?: number;
  /** Refuse masks that make more polygons than this (0 or absent: no limit; see maxFeaturesFromEnv). */
  maxFeatures?: number;
}

/**
 * The server's polygon limit for a job or a result (SATSEG_MAX_FEATURES, default 500,000): a
 * 2000² checkerboard of two classes made 4 M one-pixel polygons, a 1 GB GeoJSON and a 6 GB peak,
 * from a 71 KB upload. The CLI has no limit unless the variable is set (cliMaxFeatures).
 */
export function maxFeaturesFromEnv(fallback = 500_000): number {
  const v = Number(process.env.SATSEG_MAX_FEATURES || fallback);
  return v > 0 ? v : fallback;
}

export interface PolygonStats {
  features: number;
  byClass: Map<number, number>;
  droppedSmall: number;
  filledHoles: number;
}

export interface ClassPolygonStream {
  info: RasterInfo;
  catalog: ClassCatalog;
  /** Batches of polygons (one per strip); the source is closed when the stream ends. */
  batches: AsyncGenerator<ClassPolygon[]>;
  /** Filled in while the batches are consumed. */
  stats: PolygonStats;
  /** Release the mask without (or before finishing) consuming the batches; ending the stream does it too. */
  close(): Promise<void>;
}

function checkNumber(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0) throw new VectorizeError('bad-option', `${name} must be a number >= 0 (got ${value})`);
  return v;
}

/**
 * Open a mask and stream its polygons in `crs`: 'wgs84' (lon/lat, RFC 7946 winding) or 'native'.
 * Bad input (not a mask, unknown class names, bad numbers) throws here, before any output starts.
 */
export async function openClassPolygons(maskPath: string, crs: 'wgs84' | 'native', options: VectorizeOptions = {}): Promise<ClassPolygonStream> {
  const minArea = checkNumber('--min-area', options.minAreaM2, DEFAULT_MIN_AREA_M2);
  const tolerance = checkNumber('--simplify', options.simplifyPx, DEFAULT_SIMPLIFY_PX);
  const source = await openRaster(maskPath);
  let closing: Promise<void> | null = null;
  const close = () => (closing ??= source.close());
  try {
    checkIsMask(source.info, maskPath);
    const catalog = classCatalog(source.info);
    const selected = options.classes?.length ? new Set(catalog.resolve(options.classes)) : null;
    const stats: PolygonStats = { features: 0, byClass: new Map(), droppedSmall: 0, filledHoles: 0 };
    const batches = polygonBatches(source, close, {
      crs, minArea, tolerance, selected, catalog, stats,
      signal: options.signal, stripRows: options.stripRows, bandHeight: options.bandHeight, maxFeatures: options.maxFeatures,
    });
    return { info: source.info, catalog, batches, stats, close };
  } catch (err) {
    await close();
    throw err;
  }
}

interface BatchOptions {
  crs: 'wgs84' | 'native';
  minArea: number;
  tolerance: number;
  selected: Set<number> | null;
  catalog: ClassCatalog;
  stats: PolygonStats;
  signal?: AbortSignal;
  stripRows?: number;
  bandHeight?: number;
  maxFeatures?: number;
}

async function* polygonBatches(source: RasterSource, close: () => Promise<void>, o: BatchOptions): AsyncGenerator<ClassPolygon[]> {
  const info = source.info;
  const { width, height, geoTransform: gt } = info;
  const encodeRow = maskRowEncoder(info, o.selected);
  const areaOf = await pixelAreaFunction(gt, { width, height }, info.crs);
  const reproject = o.crs === 'wgs84' ? await toGeographic(info.crs) : null;
  let closed: RegionPolygon[] = [];
  const polygonizer = new StripPolygonizer(width, height, { tolerance: o.tolerance, bandHeight: o.bandHeight }, (p) => closed.push(p));
  const stripRows = Math.max(1, Math.min(height, o.stripRows ?? Math.floor(STRIP_PIXELS / width)));
  const strip = (y: number): Window => ({ x: 0, y, width, height: Math.min(stripRows, height - y) });
  const read = (y: number) => {
    const p = source.read(strip(y), { bands: [1], signal: o.signal });
    p.catch(() => undefined); // awaited below; this only keeps an abandoned prefetch from crashing the process
    return p;
  };

  const finishPolygons = (regions: RegionPolygon[]): ClassPolygon[] => {
    const out: ClassPolygon[] = [];
    for (const region of regions) {
      const rings = region.rings;
      let area = areaOf(rings[0]!);
      const kept = [rings[0]!];
      for (let i = 1; i < rings.length; i++) {
        const holeArea = areaOf(rings[i]!);
        if (holeArea < o.minArea) { o.stats.filledHoles++; continue; }
        area -= holeArea;
        kept.push(rings[i]!);
      }
      if (area < o.minArea) { o.stats.droppedSmall++; continue; }
      const crsRings = kept.map((r) => pixelRingToCrs(r, gt));
      if (reproject) crsRings.forEach(reproject);
      // A projected mask's long edge against the seam: the longitude of the edge's middle, in pixels.
      const longEdge: LongEdgeTest | undefined = reproject
        ? (r, a, b, lonA, lonB) => {
          const ring = kept[r]!;
          const mid = Float64Array.from([gt[0] + ((ring[2 * a]! + ring[2 * b]!) / 2) * gt[1], gt[3] + ((ring[2 * a + 1]! + ring[2 * b + 1]!) / 2) * gt[5]]);
          reproject(mid);
          return mid[0]! > Math.min(lonA, lonB) && mid[0]! < Math.max(lonA, lonB);
        }
        : undefined;
      const cut = o.crs === 'wgs84' && !info.crs.nonEarth ? splitAtAntimeridian(crsRings, longEdge) : [crsRings];
      // Never nothing: a polygon the cut could not place is written as it is.
      const parts = cut.length ? cut : [crsRings];
      parts.forEach(orientRings);
      const classId = classIdOf(region.value, info);
      out.push({ classId, className: o.catalog.name(classId), areaM2: area, rings: parts[0]!, ...(parts.length > 1 ? { parts } : {}) });
      if (o.maxFeatures && o.stats.features >= o.maxFeatures) {
        throw new VectorizeError('too-many-features', `the mask makes more than ${o.maxFeatures.toLocaleString('en-US')} polygons, the most a result may have (SATSEG_MAX_FEATURES); raise min_area_m2 (--min-area) to drop specks, or segment a smaller area`);
      }
      o.stats.features++;
      o.stats.byClass.set(classId, (o.stats.byClass.get(classId) ?? 0) + 1);
    }
    return out;
  };

  const takeClosed = (): ClassPolygon[] => {
    const regions = closed;
    closed = [];
    return finishPolygons(regions);
  };

  try {
    let next: Promise<Awaited<ReturnType<RasterSource['read']>>> | null = read(0);
    for (let y = 0; y < height; y += stripRows) {
      o.signal?.throwIfAborted();
      const block = await next!;
      next = y + stripRows < height ? read(y + stripRows) : null;
      for (let r = 0; r < block.height; r++) {
        polygonizer.pushRuns((runs) => encodeRow(block, r, runs));
        if (closed.length >= BATCH_POLYGONS) {
          o.signal?.throwIfAborted();
          const batch = takeClosed();
          if (batch.length) yield batch;
        }
      }
      if (y + block.height >= height) polygonizer.finish();
      if (closed.length) {
        const batch = takeClosed();
        if (batch.length) yield batch;
      }
    }
  } finally {
    await close();
  }
}

export interface VectorizeMaskOptions extends VectorizeOptions {
  mask: string;
  /** .geojson / .json (WGS 84, RFC 7946) or .fgb (FlatGeobuf, the mask's CRS). */
  out: string;
}

export interface VectorizeSummary {
  mask: string;
  output: string;
  format: 'geojson' | 'flatgeobuf';
  width: number;
  height: number;
  /** CRS of the output coordinates. */
  crs: string;
  features: number;
  /** Feature count per class name. */
  featuresByClass: Record<string, number>;
  droppedSmall: number;
  filledHoles: number;
  simplifyPx: number;
  minAreaM2: number;
  classNames: ClassCatalog['source'];
  seconds: number;
  peakRssMb: number;
}

export function outputFormat(file: string): 'geojson' | 'flatgeobuf' {
  if (/\.fgb$/i.test(file)) return 'flatgeobuf';
  if (/\.(geo)?json$/i.test(file)) return 'geojson';
  throw new VectorizeError('bad-output', `unsupported output ${path.basename(file)}: use a .geojson (WGS 84) or .fgb (FlatGeobuf, native CRS) file`);
}

/** Throws unless vectorize can write `file` (.geojson/.json/.fgb, existing folder): lets `segment --vector` fail before segmenting. */
export function checkVectorOutput(file: string): void {
  outputFormat(file);
  checkOutputPath(file);
}

/** Vectorize a mask into a file; the file appears only if everything succeeds. */
export async function vectorizeMask(options: VectorizeMaskOptions): Promise<VectorizeSummary> {
  const started = performance.now();
  const format = outputFormat(options.out);
  checkVectorOutput(options.out);
  const stream = await openClassPolygons(options.mask, format === 'geojson' ? 'wgs84' : 'native', options);
  let sink: PolygonSink;
  try {
    // flatgeobuf is loaded only for FlatGeobuf output: every import counts in a CLI's start-up time.
    sink = format === 'geojson'
      ? await GeoJsonFileWriter.create(options.out)
      : await (await import('./flatgeobuf-writer.ts')).FlatGeobufFileWriter.create(options.out, stream.info.crs);
  } catch (err) {
    await stream.close();
    throw err;
  }
  try {
    for await (const batch of stream.batches) await sink.write(batch);
    await sink.finish();
  } catch (err) {
    await sink.abort();
    throw err;
  }
  const { info, catalog, stats } = stream;
  const byClass = [...stats.byClass.entries()].sort((a, b) => a[0] - b[0]);
  return {
    mask: options.mask,
    output: options.out,
    format,
    width: info.width,
    height: info.height,
    crs: format === 'geojson' ? (info.crs.nonEarth ? `${info.crs.name} (geographic)` : 'EPSG:4326') : crsLabel(info.crs),
    features: stats.features,
    featuresByClass: Object.fromEntries(byClass.map(([id, n]) => [catalog.name(id), n])),
    droppedSmall: stats.droppedSmall,
    filledHoles: stats.filledHoles,
    simplifyPx: options.simplifyPx ?? DEFAULT_SIMPLIFY_PX,
    minAreaM2: options.minAreaM2 ?? DEFAULT_MIN_AREA_M2,
    classNames: catalog.source,
    seconds: (performance.now() - started) / 1000,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

/**
 * A mask's polygons as GeoJSON (WGS 84) in UTF-8 chunks, for streaming an HTTP response. Bad input throws
 * before the first chunk. Vectorizing a large mask per request is slow: prefer writing the file once
 * (vectorizeMask) and streaming that.
 */
export async function geojsonChunks(maskPath: string, options: VectorizeOptions = {}): Promise<AsyncGenerator<Uint8Array>> {
  const stream = await openClassPolygons(maskPath, 'wgs84', options);
  return featureCollectionChunks(stream.batches);
}
