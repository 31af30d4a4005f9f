/**
 * What remote workers (`satseg worker`, with `satseg serve --queue`) need from the API besides the
 * datasets' bytes: GET /workers lists the live ones, and PUT /results/{id}/{file} takes a result
 * file from the worker running its job, checks it (a mask must be a COG of the job's size and
 * classes) and places it. The job registers its results once, when it completes.
 */
import type { IncomingMessage } from 'node:http';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { ServerContext } from '../server-context.ts';
import { receiveUpload } from '../receive-upload.ts';
import { IdParams } from '../api-schemas.ts';
import { bearer, describeZodError, errors, jsonResponse } from '../openapi.ts';
import { LOCK_HEADER, UPLOAD_FILES, type WorkerHeartbeat } from '../../jobs/remote-protocol.ts';
import { LimitError, RequestError, ResultUploadError } from '../../errors.ts';

const Worker = z.object({
  id: z.string().openapi({ description: 'the worker\'s name (host:pid unless --name)', example: 'gpu-box-1:4711' }),
  host: z.string(),
  pid: z.number().int(),
  device: z.string().openapi({ description: 'as asked with --device: auto, cpu or cuda' }),
  device_used: z.string().nullable().openapi({ description: 'what its last job ran on (cpu, cuda); null before its first job' }),
  threads: z.number().int().nullable().openapi({ description: 'inference threads per job (--threads); null = every core' }),
  job: z.string().nullable().openapi({ description: 'the job it runs now' }),
  started_at: z.string(),
  last_seen: z.string().openapi({ description: 'its last heartbeat (every 5 s; a worker silent for 15 s is no longer listed)' }),
  jobs_done: z.number().int(),
  jobs_failed: z.number().int(),
}).openapi('Worker');

const WorkerList = z.object({
  queue: z.enum(['in-process', 'bullmq']).openapi({ description: 'in-process: jobs run inside this server and no workers are listed' }),
  workers: z.array(Worker),
}).openapi('WorkerList');

const UploadParams = IdParams.extend({ file: z.enum(UPLOAD_FILES).openapi({ description: 'which file of the result' }) });

const UploadHeaders = z.object({
  [LOCK_HEADER]: z.string().min(1).max(200).openapi({ description: 'the BullMQ lock token of the job, as the worker holds it' }),
});

/** Largest stats.json a worker may upload: it is parsed whole (ours are a few KB). */
const STATS_JSON_LIMIT = 16 * 2 ** 20;

const Uploaded = z.object({ result: z.string(), file: z.enum(UPLOAD_FILES), bytes: z.number().int() }).openapi('ResultUpload');

function describeWorker(w: WorkerHeartbeat): z.infer<typeof Worker> {
  return {
    id: w.id, host: w.host, pid: w.pid, device: w.device, device_used: w.deviceUsed, threads: w.threads, job: w.job,
    started_at: w.startedAt, last_seen: w.lastSeen, jobs_done: w.jobsDone, jobs_failed: w.jobsFailed,
  };
}

export function registerWorkerRoutes(app: OpenAPIHono, ctx: ServerContext): void {
  app.openapi(createRoute({
    method: 'get', path: '/workers', tags: ['worker'], operationId: 'listWorkers',
    summary: 'Live remote workers (satseg worker): host, device, threads, the job each runs',
    responses: { 200: jsonResponse(WorkerList, 'workers'), ...errors(503) },
  }), async (c) => {
    if (!ctx.jobs.workers) return c.json({ queue: 'in-process' as const, workers: [] }, 200);
    let beats: WorkerHeartbeat[];
    try {
      beats = await ctx.jobs.workers();
    } catch (err) {
      throw new LimitError('busy', `cannot list workers: Redis does not answer (${(err as Error).message})`);
    }
    return c.json({ queue: 'bullmq' as const, workers: beats.map(describeWorker) }, 200);
  });

  // Documented with the schemas, routed by hand: the body streams to disk (up to the upload
  // limit), never through a validator into memory.
  app.openAPIRegistry.registerPath({
    method: 'put', path: '/results/{id}/{file}', tags: ['worker'], operationId: 'uploadResultFile', security: bearer,
    summary: 'A remote worker uploads a file of the result its job produces; a mask must be a COG of the job\'s size and classes',
    request: {
      params: UploadParams,
      headers: UploadHeaders,
      body: { required: true, content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
    },
    responses: { 201: jsonResponse(Uploaded, 'the file is in place'), ...errors(400, 401, 404, 409, 413, 422, 429, 507) },
  });
  app.put('/results/:id/:file', async (c) => {
    const params = UploadParams.safeParse({ id: c.req.param('id'), file: c.req.param('file') });
    if (!params.success) throw new RequestError(`invalid path: ${describeZodError(params.error)}`);
    if (!ctx.jobs.acceptResultFile) throw new ResultUploadError('not-remote', 'this server runs jobs itself; it takes result uploads only when started with --queue');
    const headers = UploadHeaders.safeParse({ [LOCK_HEADER]: c.req.header(LOCK_HEADER) });
    if (!headers.success) throw new RequestError(`invalid header: ${describeZodError(headers.error)}`);
    const { id, file } = params.data;
    const env = c.env as { incoming?: IncomingMessage } | undefined;
    // Refused before a byte of the body is read: an unknown result, a finished job, a wrong token.
    await ctx.jobs.admitResultUpload?.(id, headers.data[LOCK_HEADER]);
    // stats.json is parsed whole in memory: a 500 MB one crashed the server.
    const limit = file === 'stats.json' ? Math.min(ctx.uploadLimit, STATS_JSON_LIMIT) : ctx.uploadLimit;
    const upload = await receiveUpload(c.req.raw, env?.incoming, ctx.uploadDir, limit, ctx.limits, file === 'stats.json' ? 'a stats.json may be at most' : undefined);
    await ctx.jobs.acceptResultFile(id, file, upload.tempPath, headers.data[LOCK_HEADER]);
    return c.json({ result: id, file, bytes: upload.bytes }, 201);
  });
}
