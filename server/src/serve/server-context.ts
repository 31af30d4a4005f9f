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
import { ResultVectors } from './result-vectors.ts';
import type { JobQueue } from '../jobs/job-queue.ts';
import { InProcessQueue } from '../jobs/in-process-queue.ts';
import { JobStore } from '../jobs/job-store.ts';
import type { Logger } from 'pino';

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
  /** Jobs run at the same time (default 1). */
  maxJobs?: number;
  /** Inference threads per job (default: every core). */
  jobThreads?: number;
  /** Largest area a job may cover (default 500 km²). */
  maxAreaKm2?: number;
  logger?: Pick<Logger, 'info' | 'error'>;
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
  jobs: JobQueue;
  vectors: ResultVectors;
  maxAreaKm2: number;
}

export const DEFAULT_UPLOAD_LIMIT = 2 * 1024 ** 3;

export function createServerContext(o: ServerOptions): ServerContext {
  const dataDir = path.resolve(o.dataDir);
  const db = openCatalogDb(dataDir);
  const datasets = new DatasetCatalog(db, dataDir);
  const results = new ResultCatalog(db, dataDir);
  const models = new ModelRegistry(o.modelsDir);
  return {
    dataDir,
    db,
    datasets,
    results,
    models,
    vectors: new ResultVectors(results),
    jobs: new InProcessQueue({ store: new JobStore(db), datasets, results, models, maxJobs: o.maxJobs ?? 1, jobThreads: o.jobThreads, logger: o.logger }),
    maxAreaKm2: o.maxAreaKm2 ?? 500,
    tiles: new TileCache(o.tileCacheBytes),
    uploadLimit: o.uploadLimit ?? DEFAULT_UPLOAD_LIMIT,
    apiKey: o.apiKey ?? null,
    webDir: o.webDir ?? null,
  };
}
