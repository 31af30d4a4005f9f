/**
 * Everything a request handler may need, built once at start-up from the data folder.
 */
import path from 'node:path';
import type { Db } from '../catalog/catalog-db.ts';
import { openCatalogDb } from '../catalog/catalog-db.ts';
import { DatasetCatalog } from '../catalog/dataset-catalog.ts';
import { ResultCatalog } from '../catalog/result-catalog.ts';
import { ModelRegistry } from '../infer/model-registry.ts';
import { TileCache } from './tile-cache.ts';

export interface ServerOptions {
  dataDir: string;
  modelsDir?: string;
  /** Largest accepted upload in bytes (default 2 GB). */
  uploadLimit?: number;
  tileCacheBytes?: number;
  /** Bearer token required for POST and DELETE when set. */
  apiKey?: string;
  /** Folder with the built viewer (index.html); the bundled one when omitted. */
  webDir?: string;
}

export interface ServerContext {
  dataDir: string;
  db: Db;
  datasets: DatasetCatalog;
  results: ResultCatalog;
  models: ModelRegistry;
  tiles: TileCache;
  uploadLimit: number;
  apiKey: string | null;
  webDir: string | null;
}

export const DEFAULT_UPLOAD_LIMIT = 2 * 1024 ** 3;

export function createServerContext(o: ServerOptions): ServerContext {
  const dataDir = path.resolve(o.dataDir);
  const db = openCatalogDb(dataDir);
  return {
    dataDir,
    db,
    datasets: new DatasetCatalog(db, dataDir),
    results: new ResultCatalog(db, dataDir),
    models: new ModelRegistry(o.modelsDir),
    tiles: new TileCache(o.tileCacheBytes),
    uploadLimit: o.uploadLimit ?? DEFAULT_UPLOAD_LIMIT,
    apiKey: o.apiKey ?? null,
    webDir: o.webDir ?? null,
  };
}
