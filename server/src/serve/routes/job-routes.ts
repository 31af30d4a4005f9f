/**
 * /jobs: segment an area of a dataset (or compare two dates of it) in the background, watch it
 * (JSON or Server-Sent Events), cancel it, and find its results.
 */
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { ServerContext } from '../server-context.ts';
import { prepareJob, type JobLimits } from '../../segment/prepare-job.ts';
import { TERMINAL, type JobEvent, type JobOptions, type JobRecord } from '../../jobs/job-types.ts';
import { IdParams, Job, JobAccepted, JobBody, JobList, JobListQuery, JobOptions as JobOptionsSchema } from '../api-schemas.ts';
import { bearer, errors, jsonResponse, nextPage, pageOf } from '../openapi.ts';
import { ChangeError, NotFoundError, RasterError, redactPaths, RequestError, SatsegError, UnknownModelError } from '../../errors.ts';
import { gridsOverlap, windowGrid } from '../../change/grid-mapping.ts';
import type { z } from '@hono/zod-openapi';

/**
 * A job's options in the words a request uses (min_area_m2, not minAreaM2): a client can send
 * `job.options` back as they came, and the API speaks one vocabulary.
 */
function requestOptions(o: JobOptions): z.infer<typeof JobOptionsSchema> {
  const out: Record<string, unknown> = {
    tile: o.tile, overlap: o.overlap, batch: o.batch, device: o.device, bands: o.bands, sensor: o.sensor, band_offset: o.bandOffset, vector: o.vector,
    min_area_m2: o.minAreaM2, simplify_px: o.simplifyPx, tta: o.tta, allow_unsuitable: o.allowUnsuitable,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

export function describeJob(job: JobRecord, base: string): z.infer<typeof Job> {
  const seconds = (a: string | null, b: string | null) => (a && b ? (Date.parse(b) - Date.parse(a)) / 1000 : null);
  const r = job.resultId ? `${base}/results/${job.resultId}` : null;
  const layers = (url: string) => ({
    result: url,
    mask: `${url}/mask.tif`,
    tilejson: `${url}/tilejson.json`,
    tiles: `${url}/tiles/{z}/{x}/{y}.png`,
    stats: `${url}/stats.json`,
    geojson: `${url}/features.geojson`,
    vector_tiles: `${url}/vector/{z}/{x}/{y}.mvt`,
    vector_tilejson: `${url}/vector/tilejson.json`,
    style: `${url}/style.json`,
  });
  const extra = job.extraResults ?? {};
  return {
    id: job.id,
    status: job.status,
    kind: job.beforeId ? 'change' : 'segment',
    dataset: job.datasetId,
    before: job.beforeId ?? null,
    model: job.modelId,
    area: job.area as never,
    options: requestOptions(job.options),
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
    // A job's own failure can quote a server path (a worker's ENOENT on a temporary file): shown
    // by name only, as every other answer is.
    error: job.error === null ? null : redactPaths(job.error),
    notices: job.notices.map(redactPaths),
    worker: job.worker ?? null,
    results: r ? {
      ...layers(r),
      ...(extra.before ? { before: layers(`${base}/results/${extra.before}`) } : {}),
      ...(extra.after ? { after: layers(`${base}/results/${extra.after}`) } : {}),
      ...(job.beforeId ? { change: layers(r) } : {}),
    } : null,
    links: { self: `${base}/jobs/${job.id}`, events: `${base}/jobs/${job.id}/events` },
  };
}

export function jobLimits(ctx: ServerContext): JobLimits {
  const v = ctx.limits.values;
  return { maxAreaKm2: v.maxAreaKm2, maxJobPixels: v.maxJobPixels, maxAreaVertices: v.maxAreaVertices, maxTile: v.maxTile, maxJobMemoryBytes: v.maxJobMemoryBytes };
}

export function registerJobRoutes(app: OpenAPIHono, ctx: ServerContext): void {
  const jobs = ctx.jobs;

  app.openapi(createRoute({
    method: 'post', path: '/jobs', tags: ['job'], operationId: 'submitJob', security: bearer,
    summary: 'Segment an area of a dataset in the background; with `before`, compare two dates (a change job)',
    request: { body: { content: { 'application/json': { schema: JobBody } }, required: true } },
    responses: { 202: jsonResponse(JobAccepted, 'the queued job'), ...errors(400, 401, 413, 422, 429, 503) },
  }), async (c) => {
    const body = c.req.valid('json');
    ctx.limits.checkQueue(await jobs.queuedCount());
    let spec;
    try {
      spec = ctx.models.get(body.model);
    } catch (err) {
      // A model named in the body that does not exist is a bad request, not a missing resource.
      throw new RequestError(err instanceof UnknownModelError ? err.message : `model ${body.model} is unusable: ${(err as Error).message}`);
    }
    const o = body.options ?? {};
    const open = async (id: string, role: string) => {
      try {
        ctx.datasets.get(id);
      } catch (err) {
        if (err instanceof NotFoundError) throw new RequestError(`unknown ${role ? `${role} ` : ''}dataset "${id}"`);
        throw err;
      }
      try {
        const reader = await ctx.datasets.open(id);
        // What the listing reads to call a dataset usable (cached): a truncated file, listed as
        // unusable, was accepted (202) and its job failed later.
        await ctx.datasets.statistics(id);
        return reader;
      } catch (err) {
        if (err instanceof RasterError) err.message = `the ${role ? `${role} ` : ''}dataset "${id}" cannot be read: ${err.message}`;
        throw err;
      }
    };
    const input = { area: body.area, bbox: body.bbox, tile: o.tile, overlap: o.overlap, batch: o.batch, bands: o.bands, sensor: o.sensor, allowUnsuitable: o.allow_unsuitable };
    if (body.before === body.dataset) throw new RequestError('before and dataset are the same dataset; a change job compares two');
    // In a change job, a dataset's problem names its role and the dataset, since both get the same checks.
    const prepare = async (id: string, role: 'before' | 'after' | '', jobInput: Parameters<typeof prepareJob>[2]) => {
      const reader = await open(id, role);
      try {
        return await prepareJob(reader, spec, jobInput, jobLimits(ctx));
      } catch (err) {
        if (role && err instanceof SatsegError) err.message = `the ${role} dataset "${id}": ${err.message}`;
        throw err;
      }
    };
    const after = await prepare(body.dataset, body.before ? 'after' : '', input);
    if (body.before) {
      const before = await prepare(body.before, 'before', { ...input, area: after.area ?? undefined, bbox: undefined });
      // Refused now rather than after both scenes were segmented.
      if (!gridsOverlap(windowGrid(before.info, before.window), windowGrid(after.info, after.window))) {
        throw new ChangeError('no-overlap', `the before dataset "${body.before}" and the after dataset "${body.dataset}" do not overlap${after.area ? ' inside the area' : ''}`);
      }
    }
    ctx.results.checkWritable();
    const job = await jobs.submit({
      datasetId: body.dataset,
      beforeId: body.before ?? null,
      modelId: spec.id,
      area: after.area,
      options: { tile: o.tile, overlap: o.overlap, batch: o.batch, device: o.device, bands: o.bands, sensor: o.sensor, bandOffset: o.band_offset, vector: o.vector ?? false, minAreaM2: o.min_area_m2, simplifyPx: o.simplify_px, tta: o.tta, allowUnsuitable: o.allow_unsuitable },
      // The run itself says what the tile geometry does (resampling); the rest is said here, once.
      notices: after.notices.filter((n) => !after.geometry.notices.includes(n)),
    });
    const base = ctx.base(c);
    return c.json({ id: job.id, status: job.status, status_url: `${base}/jobs/${job.id}`, events_url: `${base}/jobs/${job.id}/events`, job: describeJob(job, base) }, 202);
  });

  app.openapi(createRoute({
    method: 'get', path: '/jobs', tags: ['job'], operationId: 'listJobs', summary: 'Jobs, newest first, a page at a time',
    request: { query: JobListQuery },
    responses: { 200: jsonResponse(JobList, 'jobs') },
  }), async (c) => {
    // Paged: each job carries its area (up to SATSEG_MAX_AREA_VERTICES vertices), so the whole
    // list grew without bound (60 jobs of 10,000-vertex areas: 24 MB).
    const page = pageOf(c.req.valid('query'));
    const { jobs: listed, total, more } = await jobs.list(page);
    const base = ctx.base(c);
    const last = listed.at(-1);
    return c.json({ jobs: listed.map((j) => describeJob(j, base)), total, next: nextPage(`${base}/jobs`, page.limit, last ? [last.createdAt, last.id] : null, more) }, 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/jobs/{id}', tags: ['job'], operationId: 'getJob', summary: 'A job: status, progress, timings, error, notices, result URLs',
    request: { params: IdParams },
    responses: { 200: jsonResponse(Job, 'job'), ...errors(400, 404) },
  }), async (c) => c.json(describeJob(await jobs.get(c.req.valid('param').id), ctx.base(c)), 200));

  app.openapi(createRoute({
    method: 'delete', path: '/jobs/{id}', tags: ['job'], operationId: 'cancelJob', security: bearer, summary: 'Cancel a job; partial outputs are removed',
    request: { params: IdParams },
    responses: { 200: jsonResponse(Job, 'the cancelled job'), ...errors(400, 401, 404, 503) },
  }), async (c) => {
    return c.json(describeJob(await jobs.cancel(c.req.valid('param').id), ctx.base(c)), 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/jobs/{id}/events', tags: ['job'], operationId: 'jobEvents',
    summary: 'Server-Sent Events: "status" and "progress", each with the job as JSON; ends when the job does',
    request: { params: IdParams },
    responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...errors(400, 404, 429) },
  }), async (c) => {
    const { id } = c.req.valid('param');
    const first = await jobs.get(id);
    const base = ctx.base(c);
    const ticket = ctx.limits.admitEventStream();
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => ticket.end());
      let lastProgress = 0;
      const queue: JobEvent[] = [];
      let wake: (() => void) | null = null;
      const unsubscribe = jobs.subscribe(id, (e) => { queue.push(e); wake?.(); });
      stream.onAbort(() => { unsubscribe(); wake?.(); });
      try {
        // Read again now that it listens: a job that ended between the first read and the
        // subscription sent its last event to nobody, and this stream would never have ended.
        const current = await jobs.get(id).catch(() => first);
        await stream.writeSSE({ event: 'status', data: JSON.stringify(describeJob(current, base)) });
        let done = TERMINAL.has(current.status);
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
        ticket.end();
      }
    }) as never;
  });
}
