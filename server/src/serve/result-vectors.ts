/**
 * A result's polygons for the web: the GeoJSON file (written by the job, or made once on first
 * request and kept), and a vector-tile index built from it, cached for the results in use.
 */
import fs from 'node:fs';
import { LRUCache } from 'lru-cache';
import type { ResultCatalog, ResultRecord } from '../catalog/result-catalog.ts';
import { vectorizeMask } from '../vectorize/vectorize-mask.ts';
import { ClassVectorTiles, maxZoomForResolution, vectorLayers, type VectorLayer } from '../vectorize/vector-tiles.ts';
import { groundResolutionMetres } from '../read/georef.ts';
import { InFlight } from '../in-flight.ts';

export class ResultVectors {
  private readonly making = new InFlight<string>();
  private readonly indexes = new LRUCache<string, Promise<ClassVectorTiles>>({ max: 8 });

  constructor(private readonly results: ResultCatalog) {}

  /** The features file of a result, vectorizing its mask once if the job did not. */
  features(r: ResultRecord): Promise<string> {
    const file = this.results.file(r, 'features');
    if (fs.existsSync(file)) return Promise.resolve(file);
    return this.making.run(r.id, () => vectorizeMask({ mask: this.results.file(r, 'mask'), out: file }).then(() => file));
  }

  async maxZoom(r: ResultRecord): Promise<number> {
    const { info } = await this.results.open(r.id);
    return maxZoomForResolution(groundResolutionMetres(info.geoTransform, info.height, info.crs));
  }

  async layers(r: ResultRecord): Promise<VectorLayer[]> {
    return vectorLayers(r.classes.map((name, id) => ({ id, name })), 0, await this.maxZoom(r));
  }

  tiles(r: ResultRecord): Promise<ClassVectorTiles> {
    let p = this.indexes.get(r.id);
    if (!p) {
      p = (async () => ClassVectorTiles.fromGeoJsonFile(await this.features(r), { maxZoom: await this.maxZoom(r) }))();
      p.catch(() => this.indexes.delete(r.id));
      this.indexes.set(r.id, p);
    }
    return p;
  }

  forget(id: string): void {
    this.indexes.delete(id);
  }
}
