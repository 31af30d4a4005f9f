/**
 * A result's polygons for the web: the GeoJSON and FlatGeobuf files (written by the job, or made
 * once on first request and kept), and a vector-tile index built from the GeoJSON, cached for the
 * results in use. The vector tiles' maxzoom is the raster TileJSON's (one zoom formula).
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { LRUCache } from 'lru-cache';
import type { ResultCatalog, ResultRecord } from '../catalog/result-catalog.ts';
import { maxFeaturesFromEnv } from '../vectorize/vectorize-mask.ts';
import { vectorizeInThread } from '../vectorize/vectorize-in-thread.ts';
import { checkVectorTileSize, CLASS_FIELDS, ClassVectorTiles, vectorLayers, type VectorLayer } from '../vectorize/vector-tiles.ts';
import { InFlight } from '../in-flight.ts';
import { changedCodes } from '../change/transition-codes.ts';
import { NotFoundError, RequestError } from '../errors.ts';
import { replaceAtomically } from '../write/atomic-file.ts';

/** The properties of change polygons (changePolygons), as TileJSON's vector_layers names their types. */
const CHANGE_FIELDS: Record<string, string> = { ...CLASS_FIELDS, from: 'String', to: 'String', from_id: 'Number', to_id: 'Number' };

/** A change result's class count N: it lists the N² transitions as its classes. */
function transitionClassCount(r: ResultRecord): number {
  return Math.round(Math.sqrt(r.classes.length));
}

export class ResultVectors {
  private readonly making = new InFlight<string>();
  private readonly indexes = new LRUCache<string, Promise<ClassVectorTiles>>({ max: 8 });
  /** Polygons being made, per result: a deleted result's are stopped (forget). */
  private readonly stops = new Map<string, Set<AbortController>>();

  constructor(private readonly results: ResultCatalog) {}

  /** The features file of a result (GeoJSON, EPSG:4326), vectorizing its mask once if the job did not. */
  features(r: ResultRecord): Promise<string> {
    return this.file(r, 'features');
  }

  /**
   * The features file gzipped, beside it, made once on first request: each download then costs no
   * compression, and carries a Content-Length (a browser shows the download's progress).
   */
  async featuresGzip(r: ResultRecord): Promise<string> {
    const file = await this.features(r);
    const gz = `${file}.gz`;
    const fresh = () => { try { return fs.statSync(gz).mtimeMs >= fs.statSync(file).mtimeMs; } catch { return false; } };
    if (fresh()) return gz;
    return this.making.run(`${r.id}:features.gz`, () => this.stoppable(r, (signal) => replaceAtomically(gz, (tmp) => pipeline(fs.createReadStream(file), zlib.createGzip({ level: 6 }), fs.createWriteStream(tmp), { signal }))).then(() => gz));
  }

  /**
   * Make a file of result `r`, stopped if the result is deleted meanwhile: the request that asked
   * then gets a 404 (it got a 500 naming a temporary file, or a 400 'output folder does not exist').
   */
  private async stoppable<T>(r: ResultRecord, make: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const stop = new AbortController();
    const running = this.stops.get(r.id) ?? new Set<AbortController>();
    running.add(stop);
    this.stops.set(r.id, running);
    try {
      return await make(stop.signal);
    } catch (err) {
      if (stop.signal.aborted) throw Object.assign(new NotFoundError('result', r.id), { message: `result ${JSON.stringify(r.id)} was deleted while its polygons were being made` });
      throw err;
    } finally {
      running.delete(stop);
      if (!running.size) this.stops.delete(r.id);
    }
  }

  /** The FlatGeobuf of a result (native CRS, spatially indexed), made once on first request. */
  flatgeobuf(r: ResultRecord): Promise<string> {
    return this.file(r, 'flatgeobuf');
  }

  private file(r: ResultRecord, which: 'features' | 'flatgeobuf'): Promise<string> {
    const file = this.results.file(this.results.withFiles(r), which);
    if (fs.existsSync(file)) return Promise.resolve(file);
    const mask = this.results.file(r, 'mask');
    // The job's own polygon settings where it gave them (kept in the result's summary).
    const asked = (r.summary?.vector_options ?? {}) as { min_area_m2?: number; simplify_px?: number };
    const settings = { maxFeatures: maxFeaturesFromEnv(), minAreaM2: asked.min_area_m2, simplifyPx: asked.simplify_px };
    return this.making.run(`${r.id}:${which}`, () => this.stoppable(r, async (signal) => {
      if (r.kind !== 'change') await vectorizeInThread({ kind: 'classes', mask, out: file, ...settings }, signal);
      // A change result's polygons are of what changed, as a change job's own are: in GeoJSON
      // with the transition's from/to (changePolygons); FlatGeobuf's fields are those of classes.
      else if (which === 'features') await vectorizeInThread({ kind: 'change', mask, out: file, ...settings }, signal);
      else {
        const codes = changedCodes(transitionClassCount(r));
        if (!codes.length) throw new RequestError('a change result of one class has no changes to draw as polygons');
        await vectorizeInThread({ kind: 'classes', mask, out: file, classes: codes.map(String), ...settings }, signal);
      }
      return file;
    }));
  }

  async zoomRange(r: ResultRecord): Promise<{ minzoom: number; maxzoom: number }> {
    const { minzoom, maxzoom } = (await this.results.open(r.id)).webExtent();
    return { minzoom, maxzoom };
  }

  /**
   * One layer per class; for a change result, one per transition that is a change (unchanged
   * pixels are never polygons), with the transition's properties.
   */
  async layers(r: ResultRecord): Promise<VectorLayer[]> {
    const { minzoom, maxzoom } = await this.zoomRange(r);
    const classes = r.classes.map((name, id) => ({ id, name }));
    if (r.kind !== 'change') return vectorLayers(classes, minzoom, maxzoom);
    const changed = new Set(changedCodes(transitionClassCount(r)));
    return vectorLayers(classes.filter((c) => changed.has(c.id)), minzoom, maxzoom, CHANGE_FIELDS);
  }

  /**
   * Throws when the result's polygons are too large for vector tiles: its TileJSON should not
   * advertise tiles that would all be refused.
   */
  checkTileable(r: ResultRecord): void {
    checkVectorTileSize(this.results.file(r, 'features'));
  }

  tiles(r: ResultRecord): Promise<ClassVectorTiles> {
    let p = this.indexes.get(r.id);
    if (!p) {
      p = (async () => ClassVectorTiles.fromGeoJsonFile(await this.features(r), { maxZoom: (await this.zoomRange(r)).maxzoom }))();
      p.catch(() => this.indexes.delete(r.id));
      this.indexes.set(r.id, p);
    }
    return p;
  }

  /** Drop what is cached of a deleted result, and stop its polygons being made. */
  forget(id: string): void {
    this.indexes.delete(id);
    for (const stop of this.stops.get(id) ?? []) stop.abort();
  }
}
