/**
 * Mapbox Vector Tiles of a result's polygons, one layer per class, for `GET /results/{id}/vector/{z}/{x}/{y}.mvt`.
 *
 * geojson-vt cuts the features into tiles once (in memory) and vt-pbf encodes each requested tile.
 * Every tile carries a buffer of geometry beyond its edge (64/4096 of a tile by default) so that
 * polygon fills and outlines meet across tile edges without seams. Features are kept in one index
 * and split into per-class layers when a tile is encoded: one index is smaller than one per class.
 */
import fs from 'node:fs';
import GeoJSONVT from 'geojson-vt';
import { fromGeojsonVt } from 'vt-pbf';
import type { Feature, FeatureCollection, MultiPolygon, Polygon } from 'geojson';
import { toFeature, type ClassPolygon, type ClassProperties } from './class-polygon.ts';
import { VectorizeError } from '../errors.ts';
import { megabytes } from '../amounts.ts';

export interface VectorLayer {
  id: string;
  fields: Record<string, string>;
  minzoom: number;
  maxzoom: number;
  description: string;
}

export interface VectorTileOptions {
  minZoom?: number;
  /** Deepest zoom with full detail (clients overzoom beyond it): the raster TileJSON's maxzoom. */
  maxZoom?: number;
  /** Tile buffer in tile units (extent 4096). */
  buffer?: number;
  /** geojson-vt simplification at lower zooms, in tile pixels (of 256). */
  tolerance?: number;
}

/**
 * The largest GeoJSON indexed for vector tiles (SATSEG_MAX_VECTOR_TILES_MB, default 256 MB): the
 * whole file is parsed and indexed in memory, several times its size, and past about 512 MB it
 * cannot even be read into one string.
 */
export function maxVectorTileBytes(): number {
  const mb = Number(process.env.SATSEG_MAX_VECTOR_TILES_MB || 256);
  return (mb > 0 ? mb : 256) * 2 ** 20;
}

/** Throws when a GeoJSON file is too large to make vector tiles from (a missing file passes). */
export function checkVectorTileSize(file: string, maxBytes = maxVectorTileBytes()): void {
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    return;
  }
  if (size > maxBytes) {
    throw new VectorizeError('too-large', `these polygons take ${megabytes(size)} of GeoJSON, over the ${megabytes(maxBytes)} that vector tiles are made from (SATSEG_MAX_VECTOR_TILES_MB); download features.fgb or features.geojson instead`);
  }
}

const EXTENT = 4096;

/** The properties of class polygons, as TileJSON's vector_layers names their types. */
export const CLASS_FIELDS: Record<string, string> = { class: 'String', class_id: 'Number', area_m2: 'Number' };

/** TileJSON `vector_layers` for the given classes (one layer per class, named by class). */
export function vectorLayers(classes: Array<{ id: number; name: string }>, minzoom: number, maxzoom: number, fields = CLASS_FIELDS): VectorLayer[] {
  return classes.map((c) => ({
    id: c.name,
    fields,
    minzoom,
    maxzoom,
    description: `${c.name} polygons (class id ${c.id})`,
  }));
}

type ClassFeature = Feature<Polygon | MultiPolygon, ClassProperties>;

/** Whether `rings` is a list of rings of [x, y] number positions (a Polygon's coordinates). */
function isRings(rings: unknown): boolean {
  return Array.isArray(rings) && rings.every((ring) => Array.isArray(ring) && ring.every((p) => Array.isArray(p) && p.length >= 2 && Number.isFinite(p[0]) && Number.isFinite(p[1])));
}

/** The features of a parsed polygons file, checked to be what vectorize writes; throws naming the first that is not. */
function classFeatures(collection: unknown): ClassFeature[] {
  const features = (collection as { type?: unknown; features?: unknown } | null)?.features;
  if ((collection as { type?: unknown } | null)?.type !== 'FeatureCollection' || !Array.isArray(features)) {
    throw new VectorizeError('bad-features', 'the polygons file is not a GeoJSON FeatureCollection');
  }
  features.forEach((f: unknown, i) => {
    const { geometry, properties } = (f ?? {}) as { geometry?: { type?: unknown; coordinates?: unknown } | null; properties?: Partial<Record<keyof ClassProperties, unknown>> | null };
    const shape = geometry?.type === 'Polygon' ? isRings(geometry.coordinates)
      : geometry?.type === 'MultiPolygon' && Array.isArray(geometry.coordinates) && geometry.coordinates.every(isRings);
    if (!shape) throw new VectorizeError('bad-features', `the polygons file's feature ${i} is not a Polygon or MultiPolygon of finite [x, y] positions`);
    if (typeof properties?.class !== 'string' || !Number.isInteger(properties.class_id)) {
      throw new VectorizeError('bad-features', `the polygons file's feature ${i} has no class and integer class_id properties`);
    }
  });
  return features as ClassFeature[];
}

export class ClassVectorTiles {
  private constructor(private readonly index: GeoJSONVT, readonly vectorLayers: VectorLayer[]) {}

  static fromFeatures(features: ClassFeature[], options: VectorTileOptions = {}): ClassVectorTiles {
    const minZoom = options.minZoom ?? 0;
    const maxZoom = options.maxZoom ?? 14;
    const classes = new Map<number, string>();
    for (const f of features) classes.set(f.properties.class_id, f.properties.class);
    const collection: FeatureCollection<Polygon | MultiPolygon, ClassProperties> = { type: 'FeatureCollection', features };
    const index = new GeoJSONVT(collection, {
      maxZoom,
      buffer: options.buffer ?? 64,
      tolerance: options.tolerance ?? 2,
      extent: EXTENT,
    });
    const layers = vectorLayers([...classes.entries()].sort((a, b) => a[0] - b[0]).map(([id, name]) => ({ id, name })), minZoom, maxZoom);
    return new ClassVectorTiles(index, layers);
  }

  /** Index a polygon stream (e.g. openClassPolygons(mask, 'wgs84').batches). */
  static async fromPolygons(batches: AsyncIterable<ClassPolygon[]>, options: VectorTileOptions = {}): Promise<ClassVectorTiles> {
    const features: ClassFeature[] = [];
    for await (const batch of batches) for (const p of batch) features.push(toFeature(p));
    return ClassVectorTiles.fromFeatures(features, options);
  }

  /**
   * Index a GeoJSON file written by vectorize (features with class / class_id / area_m2). A file
   * that is not one (a worker's upload is checked only at its head: it may be large) is refused
   * naming what is wrong, where it failed deep inside the indexing with a TypeError.
   */
  static async fromGeoJsonFile(file: string, options: VectorTileOptions & { maxBytes?: number } = {}): Promise<ClassVectorTiles> {
    checkVectorTileSize(file, options.maxBytes);
    let collection: unknown;
    try {
      collection = JSON.parse(await fs.promises.readFile(file, 'utf8'));
    } catch (err) {
      throw new VectorizeError('bad-features', `the polygons file is not JSON (${(err as Error).message.slice(0, 200)})`);
    }
    return ClassVectorTiles.fromFeatures(classFeatures(collection), options);
  }

  /**
   * The MVT bytes of tile z/x/y (one layer per class present in the tile), or null when no polygon
   * reaches the tile; a route should then answer 204 (or 200 with an empty body, which is a valid
   * empty tile).
   */
  tile(z: number, x: number, y: number): Uint8Array | null {
    if (!Number.isInteger(z) || !Number.isInteger(x) || !Number.isInteger(y) || z < 0 || x < 0 || y < 0 || x >= 2 ** z || y >= 2 ** z) return null;
    const tile = this.index.getTile(z, x, y);
    if (!tile || !tile.features.length) return null;
    const layers: Record<string, { features: unknown[] }> = {};
    for (const feature of tile.features) {
      const name = String((feature.tags as Partial<ClassProperties> | null)?.class ?? 'polygons');
      (layers[name] ??= { features: [] }).features.push(feature);
    }
    return fromGeojsonVt(layers, { version: 2, extent: EXTENT });
  }
}
