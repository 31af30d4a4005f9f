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
import { vectorizeMask } from '../vectorize/vectorize-mask.ts';
import { ClassVectorTiles, vectorLayers, type VectorLayer } from '../vectorize/vector-tiles.ts';
import { InFlight } from '../in-flight.ts';
import { replaceAtomically } from '../write/atomic-file.ts';

export class ResultVectors {
  private readonly making = new InFlight<string>();
  private readonly indexes = new LRUCache<string, Promise<ClassVectorTiles>>({ max: 8 });

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
    return this.making.run(`${r.id}:features.gz`, () => replaceAtomically(gz, (tmp) => pipeline(fs.createReadStream(file), zlib.createGzip({ level: 6 }), fs.createWriteStream(tmp))).then(() => gz));
  }

  /** The FlatGeobuf of a result (native CRS, spatially indexed), made once on first request. */
  flatgeobuf(r: ResultRecord): Promise<string> {
    return this.file(r, 'flatgeobuf');
  }

  private file(r: ResultRecord, which: 'features' | 'flatgeobuf'): Promise<string> {
    const file = this.results.file(r, which);
    if (fs.existsSync(file)) return Promise.resolve(file);
    return this.making.run(`${r.id}:${which}`, () => vectorizeMask({ mask: this.results.file(r, 'mask'), out: file }).then(() => file));
  }

  async zoomRange(r: ResultRecord): Promise<{ minzoom: number; maxzoom: number }> {
    const { minzoom, maxzoom } = (await this.results.open(r.id)).webExtent();
    return { minzoom, maxzoom };
  }

  async layers(r: ResultRecord): Promise<VectorLayer[]> {
    const { minzoom, maxzoom } = await this.zoomRange(r);
    return vectorLayers(r.classes.map((name, id) => ({ id, name })), minzoom, maxzoom);
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

  forget(id: string): void {
    this.indexes.delete(id);
  }
}
