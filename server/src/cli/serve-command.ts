/**
 * `satseg serve`: the tile server, API and viewer over a data folder.
 */
import path from 'node:path';
import fs from 'node:fs';
import { serve } from '@hono/node-server';
import pino from 'pino';
import { createServerContext } from '../serve/server-context.ts';
import { createApp } from '../serve/app.ts';
import { UsageError } from './cli-errors.ts';

export interface ServeOptions {
  data?: string;
  port?: string;
  host?: string;
  models?: string;
  uploadLimitMb?: string;
  maxJobs?: string;
  jobThreads?: string;
}

export const logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime });

export function defaultDataDir(): string {
  return path.resolve(process.env.SATSEG_DATA ?? 'data');
}

export async function runServe(o: ServeOptions): Promise<void> {
  const port = Number(o.port ?? process.env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535 (got "${o.port}")`);
  const uploadMb = Number(o.uploadLimitMb ?? process.env.SATSEG_UPLOAD_LIMIT_MB ?? 2048);
  if (!(uploadMb > 0)) throw new UsageError(`--upload-limit-mb must be positive (got "${o.uploadLimitMb}")`);
  const maxJobs = Number(o.maxJobs ?? process.env.SATSEG_MAX_JOBS ?? 1);
  if (!Number.isInteger(maxJobs) || maxJobs < 1) throw new UsageError(`--max-jobs must be a positive integer (got "${o.maxJobs}")`);
  const jobThreadsText = o.jobThreads ?? process.env.SATSEG_JOB_THREADS;
  const jobThreads = jobThreadsText === undefined ? undefined : Number(jobThreadsText);
  if (jobThreads !== undefined && !(Number.isInteger(jobThreads) && jobThreads >= 1)) throw new UsageError(`--job-threads must be a positive integer (got "${jobThreadsText}")`);
  const maxAreaKm2 = Number(process.env.SATSEG_MAX_AREA_KM2 ?? 500);
  if (!(maxAreaKm2 > 0)) throw new UsageError(`SATSEG_MAX_AREA_KM2 must be positive (got "${process.env.SATSEG_MAX_AREA_KM2}")`);
  const dataDir = path.resolve(o.data ?? defaultDataDir());
  const ctx = createServerContext({
    dataDir,
    modelsDir: o.models ?? process.env.SATSEG_MODELS,
    uploadLimit: uploadMb * 1024 * 1024,
    apiKey: process.env.SATSEG_API_KEY || undefined,
    tileCacheBytes: Number(process.env.SATSEG_TILE_CACHE_MB ?? 128) * 1024 * 1024,
    maxJobs,
    jobThreads,
    maxAreaKm2,
    logger,
  });
  const app = createApp(ctx, { onServerError: (err, p) => logger.error({ err, path: p }, 'request failed') });
  const datasets = ctx.datasets.list();
  const server = serve({ fetch: app.fetch, port, hostname: o.host ?? '0.0.0.0' }, (info) => {
    logger.info({ port: info.port, data: dataDir, datasets: datasets.length, models: ctx.models.list().filter((m) => m.spec).length }, `satseg listening on http://localhost:${info.port}/`);
    if (!datasets.length) {
      const demo = path.resolve('..', 'shared', 'data', 'scenes');
      const hint = fs.existsSync(demo) ? ` (for example: cp ${path.join(demo, 'naip_2020.tif')} ${dataDir}/)` : '';
      logger.info(`the data folder is empty: drop GeoTIFFs into ${dataDir} or upload one from the viewer${hint}`);
    }
  });
  const stop = () => {
    server.close();
    void ctx.jobs.close().finally(() => { ctx.db.close(); process.exit(0); });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
