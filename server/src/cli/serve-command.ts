/**
 * `satseg serve`: the tile server, API and viewer over a data folder.
 */
import path from 'node:path';
import fs from 'node:fs';
import { z } from 'zod';
import { serve } from '@hono/node-server';
import { applyConnectionLimits } from '../serve/connection-limits.ts';
import pino from 'pino';
import { createServerContext, type ServerOptions } from '../serve/server-context.ts';
import { answerUnparsableRequests } from '../serve/client-errors.ts';
import { createApp } from '../serve/app.ts';
import { normalisePublicUrl } from '../serve/public-url.ts';
import { repoRoot } from '../runtime-paths.ts';
import { intFlag, parseFlags } from './cli-options.ts';
import { UsageError } from '../errors.ts';
import { cacheBytes } from '../cache-size.ts';

export const ServeFlags = z.object({
  data: z.string().optional(),
  port: intFlag(0).refine((p) => p <= 65535, 'must be 0-65535').optional(),
  host: z.string().min(1).default('127.0.0.1'),
  models: z.string().optional(),
  uploadLimitMb: intFlag(1).optional(),
  maxJobs: intFlag(1).optional(),
  jobThreads: intFlag(1).optional(),
  publicUrl: z.string().optional(),
  trustProxy: z.boolean().optional(),
  samples: z.boolean().optional(),
  queue: z.string().optional(),
});

export type ServeOptions = z.input<typeof ServeFlags>;

export const logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime });

export function defaultDataDir(): string {
  return path.resolve(process.env.SATSEG_DATA ?? 'data');
}

/** The committed public-domain sample scenes (data/samples/*.tif). */
export function sampleScenes(): string[] {
  const dir = path.join(repoRoot, 'data', 'samples');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.tiff?$/i.test(f)).map((f) => path.join(dir, f)) : [];
}

const envInt = (name: string) => (process.env[name] === undefined || process.env[name] === '' ? undefined : process.env[name]);

export async function runServe(options: ServeOptions): Promise<void> {
  const o = parseFlags(ServeFlags, {
    ...options,
    port: options.port ?? envInt('PORT'),
    uploadLimitMb: options.uploadLimitMb ?? envInt('SATSEG_UPLOAD_LIMIT_MB'),
    maxJobs: options.maxJobs ?? envInt('SATSEG_MAX_JOBS'),
    jobThreads: options.jobThreads ?? envInt('SATSEG_JOB_THREADS'),
    publicUrl: options.publicUrl ?? envInt('SATSEG_PUBLIC_URL'),
    queue: options.queue ?? envInt('SATSEG_QUEUE'),
  });
  let publicUrl: string | undefined;
  try {
    publicUrl = o.publicUrl ? normalisePublicUrl(o.publicUrl) : undefined;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const dataDir = path.resolve(o.data ?? defaultDataDir());
  const port = o.port ?? 8080;
  let jobs: ServerOptions['jobs'];
  if (o.queue) {
    const redisUrl = o.queue;
    const { checkRedis } = await import('../jobs/remote-protocol.ts');
    const { BullMqQueue } = await import('../jobs/bullmq-queue.ts');
    await checkRedis(redisUrl);
    if (o.maxJobs !== undefined || o.jobThreads !== undefined) logger.warn('--max-jobs and --job-threads have no effect with --queue: each worker runs one job at a time (satseg worker --threads)');
    jobs = (deps) => new BullMqQueue({ ...deps, redisUrl, logger });
  }
  let ctx;
  try {
    ctx = createServerContext({
      dataDir,
      modelsDir: o.models ?? process.env.SATSEG_MODELS,
      uploadLimit: (o.uploadLimitMb ?? 2048) * 1024 * 1024,
      apiKey: process.env.SATSEG_API_KEY || undefined,
      tileCacheBytes: cacheBytes('SATSEG_TILE_CACHE_MB', 128),
      maxJobs: o.maxJobs ?? 1,
      jobThreads: o.jobThreads,
      publicUrl,
      trustProxy: o.trustProxy ?? process.env.SATSEG_TRUST_PROXY === '1',
      corsOrigins: (process.env.SATSEG_CORS_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
      samples: o.samples === false || process.env.SATSEG_SAMPLES === '0' ? [] : sampleScenes(),
      denyPrivateUrls: process.env.SATSEG_URL_DENY_PRIVATE === '1',
      jobs,
      logger,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const app = createApp(ctx, { onServerError: (err, p) => logger.error({ err, path: p }, 'request failed') });
  const datasets = ctx.datasets.list();
  const server = serve({ fetch: app.fetch, port, hostname: o.host }, (info) => {
    const shown = o.host === '0.0.0.0' || o.host === '::' ? 'localhost' : o.host;
    logger.info({ port: info.port, host: o.host, data: dataDir, datasets: datasets.length, models: ctx.models.list().filter((m) => m.spec).length, queue: o.queue ? 'bullmq' : 'in-process' }, `satseg listening on http://${shown}:${info.port}/`);
    if ((o.host !== '127.0.0.1' && o.host !== 'localhost' && o.host !== '::1') && !process.env.SATSEG_API_KEY) {
      logger.warn(`listening on ${o.host} without SATSEG_API_KEY: anyone who can reach this port can upload, run jobs and delete; set SATSEG_API_KEY`);
    }
    if (!datasets.length) logger.info(`the data folder is empty: drop GeoTIFFs into ${dataDir} or upload one from the viewer`);
  });
  answerUnparsableRequests(server);
  applyConnectionLimits(server, ctx.limits.values);
  const stop = () => {
    server.close();
    void ctx.jobs.close().finally(() => { ctx.db.close(); process.exit(0); });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
