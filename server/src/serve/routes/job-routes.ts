/**
 * /jobs: segment an area of a dataset in the background, watch it (JSON or Server-Sent Events),
 * cancel it, and find its results.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import * as turf from '@turf/turf';
import type { ServerContext } from '../server-context.ts';
import { HttpError } from '../http-error.ts';
import { idParam, parseWith } from '../request-validation.ts';
import { requireApiKey } from '../api-key.ts';
import { NotFoundError } from '../../catalog/dataset-catalog.ts';
import { UnknownModelError } from '../../infer/model-registry.ts';
import { selectBands } from '../../segment/band-selection.ts';
import { planTiles } from '../../plan/plan-tiles.ts';
import { AreaError, areaKm2, footprintWgs84, parseArea, repairArea } from '../../segment/segment-area.ts';
import { TERMINAL, type JobEvent, type JobRecord } from '../../jobs/job-types.ts';

const JobBody = z.object({
  dataset: z.string().min(1),
  model: z.string().min(1),
  area: z.unknown().optional(),
  bbox: z.unknown().optional(),
  options: z.object({
    tile: z.number().int().min(16).max(4096).optional(),
    overlap: z.number().int().min(0).max(2048).optional(),
    batch: z.number().int().min(1).max(64).optional(),
    device: z.enum(['auto', 'cpu', 'cuda']).optional(),
    bands: z.array(z.number().int().min(1)).min(1).optional(),
    sensor: z.string().min(1).optional(),
    vector: z.boolean().optional(),
    min_area_m2: z.number().min(0).optional(),
    simplify_px: z.number().min(0).max(100).optional(),
  }).strict().optional(),
}).strict();

function origin(req: Request): string {
  return new URL(req.url).origin;
}

export function describeJob(job: JobRecord, base: string) {
  const seconds = (a: string | null, b: string | null) => (a && b ? (Date.parse(b) - Date.parse(a)) / 1000 : null);
  const r = job.resultId ? `${base}/results/${job.resultId}` : null;
  return {
    id: job.id,
    status: job.status,
    dataset: job.datasetId,
    model: job.modelId,
    area: job.area,
    options: job.options,
    progress: {
      stage: job.progress.stage,
      tiles_done: job.progress.tilesDone,
      tiles_total: job.progress.tilesTotal,
      percent: job.status === 'succeeded' ? 100 : job.progress.percent,
      mpx_per_sec: job.progress.mpxPerSec,
      eta_seconds: job.progress.etaSeconds,
    },
    timings: {
      created_at: job.createdAt,
      started_at: job.startedAt,
      finished_at: job.finishedAt,
      queued_seconds: seconds(job.createdAt, job.startedAt),
      run_seconds: seconds(job.startedAt, job.finishedAt),
    },
    error: job.error,
    notices: job.notices,
    results: r ? {
      result: r,
      mask: `${r}/mask.tif`,
      tilejson: `${r}/tilejson.json`,
      tiles: `${r}/tiles/{z}/{x}/{y}.png`,
      stats: `${r}/stats.json`,
      geojson: `${r}/features.geojson`,
      vector_tiles: `${r}/vector/{z}/{x}/{y}.mvt`,
    } : null,
    links: { self: `${base}/jobs/${job.id}`, events: `${base}/jobs/${job.id}/events` },
  };
}

export function registerJobRoutes(app: OpenAPIHono, ctx: ServerContext, maxAreaKm2: number): void {
  const jobs = ctx.jobs!;

  app.post('/jobs', async (c) => {
    requireApiKey(c, ctx);
    const raw = await c.req.json().catch(() => { throw new HttpError(400, 'bad request', 'the body must be JSON: {"dataset", "model", "area"?, "bbox"?, "options"?}'); });
    const body = parseWith(JobBody, raw, 'job');
    if (body.area !== undefined && body.bbox !== undefined) throw new HttpError(400, 'bad request', 'give either area or bbox, not both');
    let dataset;
    try {
      dataset = ctx.datasets.get(body.dataset);
    } catch (err) {
      if (err instanceof NotFoundError) throw new HttpError(400, 'bad request', `unknown dataset "${body.dataset}"`);
      throw err;
    }
    let spec;
    try {
      spec = ctx.models.get(body.model);
    } catch (err) {
      throw new HttpError(400, 'bad request', err instanceof UnknownModelError ? err.message : `model ${body.model} is unusable: ${(err as Error).message}`);
    }
    const source = await ctx.datasets.open(dataset.id).catch((err: Error) => { throw new HttpError(400, 'bad request', `dataset ${dataset.id} cannot be read: ${err.message}`); });
    const { info } = source;
    selectBands(spec, info, body.options?.bands, body.options?.sensor);
    const tile = spec.fixedTileSize ? spec.tileSize : (body.options?.tile ?? spec.tileSize);
    if (body.options?.overlap !== undefined) planTiles(Math.max(tile, info.width), Math.max(tile, info.height), tile, body.options.overlap);

    let area = null;
    try {
      area = parseArea(body.area, body.bbox);
      if (area) {
        const repaired = repairArea(area);
        area = repaired.area;
        const km2 = areaKm2(area);
        if (km2 > maxAreaKm2) throw new AreaError(`the area is ${km2.toFixed(1)} km², over the ${maxAreaKm2} km² limit (SATSEG_MAX_AREA_KM2)`);
        const footprint = footprintWgs84(info.geoTransform, info.width, info.height, info.crs);
        if (!footprint) throw new AreaError('this dataset is not on Earth; areas in EPSG:4326 cannot be placed on it');
        if (!turf.booleanIntersects(turf.feature(area), turf.feature(footprint))) {
          const [w, s, e, n] = turf.bbox(footprint).map((v) => Number(v.toFixed(5)));
          throw new AreaError(`the area does not intersect dataset ${dataset.id} (its bounds are [${w}, ${s}, ${e}, ${n}])`);
        }
      }
    } catch (err) {
      if (err instanceof AreaError) throw new HttpError(400, 'bad request', err.message);
      throw err;
    }
    const o = body.options ?? {};
    const job = jobs.submit({
      datasetId: dataset.id,
      modelId: spec.id,
      area,
      options: { tile: o.tile, overlap: o.overlap, batch: o.batch, device: o.device, bands: o.bands, sensor: o.sensor, vector: o.vector ?? false, minAreaM2: o.min_area_m2, simplifyPx: o.simplify_px },
    });
    const base = origin(c.req.raw);
    return c.json({ id: job.id, status: job.status, status_url: `${base}/jobs/${job.id}`, events_url: `${base}/jobs/${job.id}/events`, job: describeJob(job, base) }, 202);
  });

  app.get('/jobs', (c) => c.json({ jobs: jobs.list().map((j) => describeJob(j, origin(c.req.raw))) }));

  app.get('/jobs/:id', (c) => c.json(describeJob(jobs.get(idParam(c)), origin(c.req.raw))));

  app.delete('/jobs/:id', async (c) => {
    requireApiKey(c, ctx);
    const job = await jobs.cancel(idParam(c));
    return c.json(describeJob(job, origin(c.req.raw)));
  });

  app.get('/jobs/:id/events', (c) => {
    const id = idParam(c);
    const first = jobs.get(id);
    const base = origin(c.req.raw);
    return streamSSE(c, async (stream) => {
      let lastProgress = 0;
      const queue: JobEvent[] = [];
      let wake: (() => void) | null = null;
      const unsubscribe = jobs.subscribe(id, (e) => { queue.push(e); wake?.(); });
      stream.onAbort(() => { unsubscribe(); wake?.(); });
      try {
        await stream.writeSSE({ event: 'status', data: JSON.stringify(describeJob(first, base)) });
        let done = TERMINAL.has(first.status);
        while (!done && !stream.aborted) {
          if (!queue.length) {
            // A comment line every 15 s keeps proxies from closing an idle stream.
            await new Promise<void>((r) => { wake = r; setTimeout(r, 15_000); });
            wake = null;
            if (!queue.length) { await stream.write(': keep-alive\n\n'); continue; }
          }
          const e = queue.shift()!;
          if (e.type === 'progress' && Date.now() - lastProgress < 200 && queue.some((q) => q.type === 'progress')) continue;
          lastProgress = Date.now();
          await stream.writeSSE({ event: e.type, data: JSON.stringify(describeJob(e.job, base)) });
          done = e.type === 'status' && TERMINAL.has(e.job.status);
        }
      } finally {
        unsubscribe();
      }
    });
  });
}
