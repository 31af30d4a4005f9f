/**
 * Everything a request handler may need, built once at start-up from the data folder.
 */
import path from 'node:path';
import fs from 'node:fs';
import type { Context } from 'hono';
import type { Logger } from 'pino';
import type { Db } from '../catalog/catalog-db.ts';
import { openCatalogDb } from '../catalog/catalog-db.ts';
import { DatasetCatalog } from '../catalog/dataset-catalog.ts';
import { ResultCatalog } from '../catalog/result-catalog.ts';
import { ModelRegistry } from '../infer/model-registry.ts';
import { removeStaleTemporaries } from '../write/atomic-file.ts';
import { TileCache } from './tile-cache.ts';
import { ResultVectors } from './result-vectors.ts';
import type { JobQueue } from '../jobs/job-queue.ts';
import { InProcessQueue } from '../jobs/in-process-queue.ts';
import { JobStore } from '../jobs/job-store.ts';
import { Limits, limitsFromEnv, type ServerLimits } from './limits.ts';
import { publicBase } from './public-url.ts';

export interface ServerOptions {
  dataDir: string;
  modelsDir?: string;
  /** Largest accepted upload in bytes (default 2 GB). */
  uploadLimit?: number;
  tileCacheBytes?: number;
  /** Bearer token required for POST, PUT and DELETE when set. */
  apiKey?: string;
  /** Folder with the built viewer (index.html); the bundled one when omitted. */
  webDir?: string;
  /** Jobs run at the same time (default 1). */
  maxJobs?: number;
  /** Inference threads per job (default: every core). */
  jobThreads?: number;
  /** Limits over the environment's (SATSEG_MAX_*). */
  limits?: Partial<ServerLimits>;
  /** The base URL of links (--public-url); else the request's own. */
  publicUrl?: string;
  /** Believe X-Forwarded-Proto/-Host (--trust-proxy). */
  trustProxy?: boolean;
  /** Origins allowed to POST, PUT and DELETE from a browser (SATSEG_CORS_ORIGINS); GET and HEAD are open to all. */
  corsOrigins?: string[];
  /** Read-only sample datasets (absolute paths). */
  samples?: string[];
  /** Refuse remote datasets on private and loopback addresses (SATSEG_URL_DENY_PRIVATE). */
  denyPrivateUrls?: boolean;
  /** A job queue other than the in-process one (BullMQ). */
  jobs?: (deps: { store: JobStore; datasets: DatasetCatalog; results: ResultCatalog; models: ModelRegistry }) => JobQueue;
  logger?: Pick<Logger, 'info' | 'error' | 'warn'>;
}

export interface ServerContext {
  dataDir: string;
  /** Where uploads are received before they are validated (wiped on start). */
  uploadDir: string;
  db: Db;
  datasets: DatasetCatalog;
  results: ResultCatalog;
  models: ModelRegistry;
  tiles: TileCache;
  uploadLimit: number;
  apiKey: string | null;
  webDir: string | null;
  jobs: JobQueue;
  /** The job records every queue keeps (which jobs use a dataset). */
  jobStore: JobStore;
  vectors: ResultVectors;
  limits: Limits;
  corsOrigins: string[];
  /** The base URL for links in an answer to this request. */
  base(c: Context): string;
  logger?: Pick<Logger, 'info' | 'error' | 'warn'>;
}

export const DEFAULT_UPLOAD_LIMIT = 2 * 1024 ** 3;
export const INCOMING_DIR = '.incoming';
/** How long a server's catalog write waits for another process's lock (synchronously: the server waits with it). */
export const CATALOG_BUSY_MS = 250;

export function createServerContext(o: ServerOptions): ServerContext {
  const dataDir = path.resolve(o.dataDir);
  // A request never waits long on another process's write lock: it is answered 503 instead.
  const db = openCatalogDb(dataDir, CATALOG_BUSY_MS);
  const limits = new Limits(limitsFromEnv(o.limits));
  // Whatever a crash left half-written is removed before anything is listed: aborted uploads and
  // the temporary files of writers.
  const uploadDir = path.join(dataDir, INCOMING_DIR);
  fs.rmSync(uploadDir, { recursive: true, force: true });
  fs.mkdirSync(uploadDir, { recursive: true });
  const stale = removeStaleTemporaries(dataDir);
  if (stale) o.logger?.warn?.({ removed: stale }, 'removed temporary files left by an earlier run');
  const datasets = new DatasetCatalog(db, dataDir, {
    samples: o.samples,
    open: { http: { denyPrivate: o.denyPrivateUrls } },
    admit: (r) => limits.admit(r),
  });
  const results = new ResultCatalog(db, dataDir);
  const store = new JobStore(db);
  // Folders of unfinished jobs stay: a worker uploads into them after a restart.
  const pending = new Set(store.withStatus('queued', 'running').flatMap((j) => [j.id, j.extraResults?.before, j.extraResults?.after].filter((id): id is string => !!id)));
  const orphans = results.removeOrphanFolders(pending);
  if (orphans) o.logger?.warn?.({ removed: orphans }, 'removed result folders no record names');
  const models = new ModelRegistry(o.modelsDir);
  const jobs = o.jobs?.({ store, datasets, results, models })
    ?? new InProcessQueue({ store, datasets, results, models, maxJobs: o.maxJobs ?? 1, jobThreads: o.jobThreads, logger: o.logger });
  const links = { publicUrl: o.publicUrl ?? null, trustProxy: o.trustProxy ?? false };
  return {
    dataDir,
    uploadDir,
    db,
    datasets,
    results,
    models,
    vectors: new ResultVectors(results),
    jobs,
    jobStore: store,
    limits,
    tiles: new TileCache(o.tileCacheBytes),
    uploadLimit: o.uploadLimit ?? DEFAULT_UPLOAD_LIMIT,
    apiKey: o.apiKey ?? null,
    webDir: o.webDir ?? null,
    corsOrigins: o.corsOrigins ?? [],
    base: (c) => publicBase(c, links),
    logger: o.logger,
  };
}
