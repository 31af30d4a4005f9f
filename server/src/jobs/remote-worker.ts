/**
 * A remote worker (`satseg worker`): takes jobs from BullMQ and runs each in a thread of this
 * process through the same runJob as the server's own queue, reading datasets over HTTP (the
 * server's /datasets/{id}/source.tif, or a remote dataset's own URL), then uploads the mask,
 * statistics and vectors to PUT /results/{id}/{file}. It needs Redis and the API server, nothing
 * else: no shared disk, no database.
 *
 * BullMQ keeps the job locked while this process lives (the lock is renewed on the event loop,
 * which the job thread leaves free). If the process dies, the lock expires and a stalled-job
 * check (any worker runs one) puts the job back in the queue for another worker. A heartbeat key
 * with a TTL lists this worker in GET /workers. A cancel message on a Redis channel, or the job's
 * cancel key seen at a progress report, stops the job after the batch in flight.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ModelRegistry } from '../infer/model-registry.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import type { JobProgress } from './job-types.ts';
import type { JobRunInput, JobRunOutput, SceneOutput, SceneTarget } from './run-job.ts';
import { emptyProgress } from './job-store.ts';
import { JobCancelledError, runJobInThread } from './job-thread.ts';
import {
  CANCEL_CHANNEL, CANCELLED_REASON, cancelKey, HEARTBEAT_MS, HEARTBEAT_TTL_MS, LOCK_HEADER, modelDigest, QUEUE_NAME, QUEUE_PREFIX,
  redisClient, UPLOAD_FILES, workerKey, type RemoteJobData, type RemoteProgress, type SceneRef, type UploadFile, type WorkerHeartbeat,
} from './remote-protocol.ts';
import { RESULT_FILES } from '../catalog/result-catalog.ts';
import { jobFailure, oneLine } from '../errors.ts';

export interface RemoteWorkerOptions {
  /** The API server's base URL (no trailing slash). */
  server: string;
  redisUrl: string;
  /** Bearer key for uploads (SATSEG_API_KEY of the server). */
  apiKey?: string;
  /** Inference threads per job (default: every core). */
  threads?: number;
  /** cpu or cuda runs every job there; auto follows each job's own option. */
  device: 'auto' | 'cpu' | 'cuda';
  models: ModelRegistry;
  /** Shown in GET /workers and in each job (default host:pid). */
  name?: string;
  /** BullMQ's lock: a worker silent this long is taken for dead and its job handed on (default 30 s). */
  lockMs?: number;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/**
 * Retries of an upload after a network error or a 5xx, 0.5 s apart and doubling up to 10 s: about
 * a minute in all, so a restart of the API server does not fail the jobs that finish meanwhile.
 */
const UPLOAD_RETRIES = 9;
const retryDelay = (attempt: number) => new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
/** Most progress messages a job sends per second (stage changes and notices always go). */
const PROGRESS_INTERVAL_MS = 250;

/** A job's working folder: `satseg-worker-<pid>-<random>`, so that a later worker can tell its owner is gone. */
const WORKER_DIR_PREFIX = 'satseg-worker-';

/**
 * Remove the working folders that workers killed mid-job left (their finally never ran): those
 * whose process no longer exists, and those of the older naming without a pid once an hour old.
 * A probe found 107 in /tmp. Returns how many went.
 */
export function sweepDeadWorkerFolders(tmp: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(tmp);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.startsWith(WORKER_DIR_PREFIX)) continue;
    const full = path.join(tmp, name);
    const pid = /^satseg-worker-(\d+)-/.exec(name)?.[1];
    let dead: boolean;
    if (pid) {
      try {
        process.kill(Number(pid), 0);
        dead = false;
      } catch (err) {
        dead = (err as NodeJS.ErrnoException).code === 'ESRCH';
      }
    } else {
      dead = Date.now() - (fs.statSync(full, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 3600_000;
    }
    if (!dead) continue;
    try {
      fs.rmSync(full, { recursive: true, force: true });
      removed++;
    } catch {
      // Another user's (a shared TMPDIR): not this worker's to remove, and no reason not to start.
    }
  }
  return removed;
}

export class RemoteWorker {
  readonly id: string;
  private readonly worker: Worker<RemoteJobData, JobRunOutput>;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  /** BullMQ's connection: given to it, so closed by us (BullMQ leaves given connections open). */
  private readonly connection: Redis;
  private readonly beat: WorkerHeartbeat;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;

  constructor(private readonly o: RemoteWorkerOptions) {
    this.id = o.name ?? `${os.hostname()}:${process.pid}`;
    this.redis = redisClient(o.redisUrl, 'blocking');
    this.subscriber = redisClient(o.redisUrl, 'blocking');
    const lock = o.lockMs ?? 30_000;
    this.connection = redisClient(o.redisUrl, 'blocking');
    this.worker = new Worker<RemoteJobData, JobRunOutput>(QUEUE_NAME, (job, token, signal) => this.process(job, token!, signal!), {
      connection: this.connection, prefix: QUEUE_PREFIX, name: this.id, concurrency: 1, autorun: false,
      // The stalled check runs as often as a lock lasts; a job may be handed on twice before it fails.
      lockDuration: lock, stalledInterval: lock, maxStalledCount: 2,
    });
    const now = new Date().toISOString();
    this.beat = {
      id: this.id, host: os.hostname(), pid: process.pid, device: o.device, deviceUsed: null, threads: o.threads ?? null,
      job: null, startedAt: now, lastSeen: now, jobsDone: 0, jobsFailed: 0,
    };
    const logError = (err: unknown) => o.logger?.error({ err }, `worker: ${oneLine(err)}`);
    this.worker.on('error', logError);
    // The worker reports Redis being down (its 'error' event); the other connections stay quiet.
    for (const c of [this.redis, this.subscriber, this.connection]) c.on('error', () => undefined);
  }

  async start(): Promise<void> {
    const swept = sweepDeadWorkerFolders(os.tmpdir());
    if (swept) this.o.logger?.info({ removed: swept }, 'removed the working folders of workers that died mid-job');
    this.subscriber.on('message', (_channel: string, jobId: string) => { this.worker.cancelJob(jobId, CANCELLED_REASON); });
    await this.subscriber.subscribe(CANCEL_CHANNEL);
    await this.heartbeat();
    this.timer = setInterval(() => { void this.heartbeat(); }, HEARTBEAT_MS);
    this.running = this.worker.run().catch((err: unknown) => this.o.logger?.error({ err }, `worker stopped: ${oneLine(err)}`));
    await this.worker.waitUntilReady();
  }

  private async heartbeat(): Promise<void> {
    this.beat.lastSeen = new Date().toISOString();
    await this.redis.set(workerKey(this.id), JSON.stringify(this.beat), 'PX', HEARTBEAT_TTL_MS).catch(() => undefined);
  }

  private async process(job: Job<RemoteJobData, JobRunOutput>, token: string, signal: AbortSignal): Promise<JobRunOutput> {
    const data = job.data;
    const id = data.job.id;
    this.beat.job = id;
    void this.heartbeat();
    this.o.logger?.info({ job: id, attempt: job.attemptsStarted }, 'job started');
    const started = Date.now();
    let last = emptyProgress('starting');
    let sentAt = 0;
    let sentStage = '';
    let checkedAt = Date.now();
    const report = (progress: JobProgress, notice?: string) => {
      last = progress;
      const now = Date.now();
      if (!notice && progress.stage === sentStage && now - sentAt < PROGRESS_INTERVAL_MS) return;
      sentAt = now;
      sentStage = progress.stage;
      const message: RemoteProgress = { worker: this.id, progress, ...(notice ? { notice } : {}) };
      void job.updateProgress(message as never).catch(() => undefined);
      // The cancel message may have been missed (a Redis reconnect): the key says it too.
      if (now - checkedAt > 1000) {
        checkedAt = now;
        void this.redis.exists(cancelKey(id)).then((n) => { if (n) this.worker.cancelJob(id, CANCELLED_REASON); }, () => undefined);
      }
    };
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), `${WORKER_DIR_PREFIX}${process.pid}-`));
    try {
      if (await this.redis.exists(cancelKey(id))) throw new JobCancelledError();
      report(last);
      const input = await this.runInput(data, this.model(data), dir);
      const output = await runJobInThread(input, { signal, onProgress: (p) => report(p), onNotice: (text) => report(last, text) });
      report({ ...last, stage: 'uploading' });
      await this.uploadResults(data, input, token, signal);
      this.beat.jobsDone++;
      this.beat.deviceUsed = (output.kind === 'segment' ? output.summary.device : (output.after.summary ?? output.before.summary)?.device) ?? this.beat.deviceUsed;
      this.o.logger?.info({ job: id, seconds: (Date.now() - started) / 1000 }, 'job done');
      return portable(output);
    } catch (err) {
      if (err instanceof JobCancelledError || signal.aborted) {
        this.o.logger?.info({ job: id }, 'job cancelled');
        throw new Error(CANCELLED_REASON);
      }
      this.beat.jobsFailed++;
      const message = jobFailure(err, `worker ${this.id}'s temporary folder ${dir}`);
      this.o.logger?.error({ job: id, error: message }, 'job failed');
      throw new Error(message);
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true });
      this.beat.job = null;
      void this.heartbeat();
    }
  }

  /** This worker's copy of the job's model, which must be the server's very file. */
  private model(data: RemoteJobData): ModelSpec {
    let spec: ModelSpec;
    try {
      spec = this.o.models.get(data.model.id);
    } catch (err) {
      throw new Error(`worker ${this.id} cannot load model ${data.model.id}: ${oneLine(err)}`);
    }
    if (modelDigest(spec.path) !== data.model.sha256) {
      throw new Error(`worker ${this.id} has another file for model ${data.model.id} than the server (SHA-256 differs); install the same model.onnx on both`);
    }
    return spec;
  }

  /** The job as runJob takes it, with this machine's folders and the server's URLs. */
  private async runInput(data: RemoteJobData, model: ModelSpec, dir: string): Promise<JobRunInput> {
    const source = (own: string | null | undefined, datasetId: string) => own ?? `${this.o.server}/datasets/${encodeURIComponent(datasetId)}/source.tif`;
    const target = async (ref: SceneRef, name: string): Promise<SceneTarget> => {
      if (ref.reuse) return { reuse: `${this.o.server}/results/${encodeURIComponent(ref.id)}/${RESULT_FILES.mask}` };
      await fs.promises.mkdir(path.join(dir, name));
      return { dir: path.join(dir, name) };
    };
    const resultDir = path.join(dir, 'result');
    await fs.promises.mkdir(resultDir);
    const options = { ...data.job.options, device: this.o.device !== 'auto' ? this.o.device : data.job.options.device };
    return {
      request: { ...data.job, options },
      datasetPath: source(data.sources.after, data.job.datasetId),
      ...(data.names ? { names: data.names } : {}),
      beforePath: data.job.beforeId ? source(data.sources.before, data.job.beforeId) : null,
      model,
      resultDir,
      threads: this.o.threads,
      ...(data.scenes ? { scenes: { before: await target(data.scenes.before, 'before'), after: await target(data.scenes.after, 'after') } } : {}),
      // The server handed out these URLs (its own, and remote datasets it has checked): its
      // address is usually a private one, which a worker must be able to reach. Six retries
      // (backing off from 0.25 s, 16 s in all) ride out a restart of the API server.
      // The server's own datasets come with their sidecars (a .msk, an .aux.xml nodata value)
      // beside source.tif, read as the server reads them (open-raster.ts).
      openOptions: { http: { denyPrivate: false, retries: 6 } },
    };
  }

  /** Every file the run wrote, result by result (scene masks before the change mask), mask first. */
  private async uploadResults(data: RemoteJobData, input: JobRunInput, token: string, signal: AbortSignal): Promise<void> {
    const folders: Array<[string, string]> = [];
    for (const side of ['before', 'after'] as const) {
      const ref = data.scenes?.[side];
      const target = input.scenes?.[side];
      if (ref && target && 'dir' in target) folders.push([ref.id, target.dir]);
    }
    folders.push([data.job.id, input.resultDir]);
    for (const [resultId, folder] of folders) {
      for (const name of UPLOAD_FILES) {
        const file = path.join(folder, name);
        if (fs.existsSync(file)) await this.upload(resultId, name, file, token, signal);
      }
    }
  }

  private async upload(resultId: string, name: UploadFile, file: string, token: string, signal: AbortSignal): Promise<void> {
    const url = `${this.o.server}/results/${encodeURIComponent(resultId)}/${name}`;
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', [LOCK_HEADER]: token };
    if (this.o.apiKey) headers.Authorization = `Bearer ${this.o.apiKey}`;
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      let res: Response;
      try {
        res = await fetch(url, { method: 'PUT', headers, body: Readable.toWeb(fs.createReadStream(file)) as ReadableStream, duplex: 'half', signal } as RequestInit);
      } catch (err) {
        if (signal.aborted || attempt >= UPLOAD_RETRIES) throw new Error(`cannot upload ${name} to ${this.o.server}: ${oneLine((err as Error).cause ?? err)}`);
        await retryDelay(attempt);
        continue;
      }
      if (res.ok) {
        await res.body?.cancel();
        return;
      }
      const detail = ((await res.json().catch(() => null)) as { detail?: string } | null)?.detail ?? res.statusText;
      if ((res.status >= 500 || res.status === 429) && attempt < UPLOAD_RETRIES) {
        await retryDelay(attempt);
        continue;
      }
      throw new Error(`the server refused ${name} of result ${resultId} (HTTP ${res.status}): ${detail}`);
    }
  }

  /**
   * Stop taking jobs. Graceful: the job in hand finishes first. Forced: it is left to BullMQ, which
   * hands it to another worker once this one's lock expires.
   */
  async close(force = false): Promise<void> {
    clearInterval(this.timer);
    await this.worker.close(force);
    // Forced, the job in hand is not waited for (it ran on to its end, about 10 s in a probe, after
    // "stopping now"): the process ends with it, and its lock expires for another worker.
    if (!force) await this.running;
    await this.redis.del(workerKey(this.id)).catch(() => undefined);
    for (const c of [this.subscriber, this.redis, this.connection]) c.disconnect();
  }
}

/** The run's summary without this machine's temporary paths (the server knows where its files are). */
function portable(output: JobRunOutput): JobRunOutput {
  const features = output.features ? RESULT_FILES.features : null;
  if (output.kind === 'segment') return { ...output, summary: { ...output.summary, output: RESULT_FILES.mask }, features };
  const scene = (s: SceneOutput): SceneOutput => ({ ...s, mask: RESULT_FILES.mask, summary: s.summary ? { ...s.summary, output: RESULT_FILES.mask } : null });
  return { ...output, before: scene(output.before), after: scene(output.after), features };
}
