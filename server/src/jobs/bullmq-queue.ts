/**
 * The JobQueue on BullMQ and Redis (`satseg serve --queue redis://...`): jobs wait in Redis and
 * `satseg worker` processes on any machine run them (remote-worker.ts), reading datasets over
 * HTTP and uploading their results to PUT /results/{id}/{file}.
 *
 * Job records stay in SQLite, as with the in-process queue: GET /jobs keeps its shape and its
 * history (Redis drops finished jobs after a week), and a restart of the server loses nothing.
 * But every state change comes from BullMQ: its QueueEvents (active, progress, completed, failed,
 * stalled) update the record and reach the same listeners (SSE). Events missed while the server
 * was down are caught up by reconcile(), which asks BullMQ for the state of every job the records
 * call unfinished, at start and every 30 s. A completed job's results are registered here, once,
 * from the files its worker uploaded; a failed or cancelled job's folders are removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { JobQueue, JobSubmission } from './job-queue.ts';
import { emptyProgress, type JobStore } from './job-store.ts';
import { TERMINAL, type JobEvent, type JobRecord } from './job-types.ts';
import { RecordedQueue, REGISTER_RETRY_MS, retryWhileStorageBusy, withNotice } from './recorded-queue.ts';
import type { JobRunInput, JobRunOutput, SceneTarget } from './run-job.ts';
import { placeJob, registerJob, type JobStores } from './job-results.ts';
import { placeResultFile } from './result-upload.ts';
import {
  CANCEL_CHANNEL, cancelKey, lockKey, modelDigest, QUEUE_NAME, QUEUE_PREFIX, redisClient, redisFailure, redisLabel, WORKER_KEY_PATTERN,
  type RemoteJobData, RemoteProgressMessage, type SceneRef, type UploadFile, type WorkerHeartbeat,
} from './remote-protocol.ts';
import { LimitError, NotFoundError, ResultUploadError } from '../errors.ts';

/** The stage of a job whose worker stopped answering, until another worker takes it. */
const STALLED_STAGE = 'waiting for a worker';

export interface BullMqQueueDeps extends JobStores {
  store: JobStore;
  redisUrl: string;
  logger?: Pick<Logger, 'info' | 'error' | 'warn'>;
  /** How often the records of unfinished jobs are checked against BullMQ (default 30 s). */
  reconcileMs?: number;
}

type Outcome = { completed: unknown } | { failed: string };

const WAITING = new Set(['waiting', 'wait', 'delayed', 'prioritized', 'waiting-children']);
/** Finished jobs stay in Redis this long (their records stay in SQLite for good). */
const KEEP = { age: 7 * 24 * 3600, count: 10_000 };
/** How long DELETE /jobs/{id} waits for the worker to stop before it answers with the job still stopping. */
const CANCEL_WAIT_MS = 60_000;

export class BullMqQueue extends RecordedQueue implements JobQueue {
  private readonly queue: Queue<RemoteJobData>;
  private readonly queueEvents: QueueEvents;
  private readonly redis: Redis;
  private readonly connections: Redis[];
  private readonly lastSaved = new Map<string, number>();
  /**
   * Progress newer than the record, held back on purpose: it is written about once a second, but
   * every update goes to listeners, and a job that ends (a cancel a moment after its first tiles)
   * must end with the progress they saw, not the stored one. (Records the catalog refused are
   * RecordedQueue's to keep and write again; record() reads both.)
   */
  private readonly unsaved = new Map<string, JobRecord>();
  private readonly settling = new Map<string, Promise<void>>();
  /** Recorded but not yet in Redis: reconcile() must not take them for lost. */
  private readonly submitting = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** Resolves once the server listens to BullMQ's events and has caught up with what it missed. */
  readonly ready: Promise<void>;

  constructor(private readonly deps: BullMqQueueDeps) {
    super(deps.store, deps.logger);
    const url = deps.redisUrl;
    this.redis = redisClient(url, 'command');
    // BullMQ leaves connections it was given open when it closes: close() disconnects them.
    this.connections = [this.redis, redisClient(url, 'command'), redisClient(url, 'blocking')];
    this.queue = new Queue<RemoteJobData>(QUEUE_NAME, {
      connection: this.connections[1]!, prefix: QUEUE_PREFIX,
      defaultJobOptions: { attempts: 1, removeOnComplete: KEEP, removeOnFail: KEEP },
    });
    this.queueEvents = new QueueEvents(QUEUE_NAME, { connection: this.connections[2]!, prefix: QUEUE_PREFIX });
    const logError = errorLogger(deps.logger, `Redis at ${redisLabel(url)}`);
    for (const c of this.connections) c.on('error', logError);
    this.queue.on('error', logError);
    this.queueEvents.on('error', logError);
    const handle = (what: string, run: () => Promise<void>) => { run().catch((err: unknown) => deps.logger?.error({ err }, `job event "${what}" failed`)); };
    this.queueEvents.on('active', ({ jobId }) => handle('active', () => this.started(jobId)));
    this.queueEvents.on('progress', ({ jobId, data }) => handle('progress', async () => this.progressed(jobId, data)));
    this.queueEvents.on('completed', ({ jobId, returnvalue }) => handle('completed', () => this.settle(jobId, { completed: returnvalue })));
    this.queueEvents.on('failed', ({ jobId, failedReason }) => handle('failed', () => this.settle(jobId, { failed: failedReason })));
    this.queueEvents.on('stalled', ({ jobId }) => handle('stalled', async () => this.stalled(jobId)));
    this.ready = this.queueEvents.waitUntilReady().then(() => this.reconcile());
    this.ready.catch((err: unknown) => deps.logger?.error({ err }, 'could not catch up with the job queue'));
    this.timer = setInterval(() => { this.reconcile().catch(logError); }, deps.reconcileMs ?? 30_000);
    this.timer.unref();
  }

  private record(id: string): JobRecord | null {
    try {
      // A record the catalog refused comes first: read from the store alone, a job whose end
      // could not be written looked unfinished, and the next reconcile() settled it again (a
      // completed one registered twice).
      const known = this.current(id);
      const newer = this.unsaved.get(id);
      return newer && !TERMINAL.has(known.status) ? newer : known;
    } catch (err) {
      // Another server may share this Redis; its jobs are not ours.
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  private save(job: JobRecord, type: JobEvent['type']): void {
    // Written, or kept by RecordedQueue until the catalog takes it: nothing is held back now.
    if (this.writeRecord(job)) this.lastSaved.set(job.id, Date.now());
    this.unsaved.delete(job.id);
    this.emit(type, job);
  }

  protected override finish(job: JobRecord, status: 'succeeded' | 'failed' | 'cancelled', error: string | null = null): JobRecord {
    this.lastSaved.delete(job.id);
    this.unsaved.delete(job.id);
    return super.finish(job, status, error);
  }

  async submit(request: JobSubmission): Promise<JobRecord> {
    if (this.closed) throw new Error('the job queue is shutting down');
    let job = this.newRecord(request);
    this.deps.store.insert(job);
    this.submitting.add(job.id);
    try {
      let data: RemoteJobData;
      try {
        // Folders for the results (uploads land there), and a change job's masks to reuse.
        const placed = placeJob(this.deps, job);
        job = { ...job, extraResults: placed.extraResults };
        this.deps.store.update(job);
        data = this.jobData(job, placed.input);
      } catch (err) {
        this.discardOutputs(this.deps, job);
        return this.finish(job, 'failed', (err as Error).message);
      }
      try {
        await this.queue.add(job.beforeId ? 'change' : 'segment', data, { jobId: job.id });
      } catch (err) {
        this.discardOutputs(this.deps, job);
        this.finish(job, 'failed', `could not queue the job: ${redisFailure(err)}`);
        throw new LimitError('busy', `the job queue (Redis at ${redisLabel(this.deps.redisUrl)}) cannot take jobs now: ${redisFailure(err)}; try again`);
      }
    } finally {
      this.submitting.delete(job.id);
    }
    this.log(job);
    this.emit('status', job);
    return this.deps.store.get(job.id);
  }

  /** What a worker needs to run the job, with nothing that only makes sense on this machine. */
  private jobData(job: JobRecord, input: JobRunInput): RemoteJobData {
    const model = this.deps.models.get(job.modelId);
    const ownUrl = (id: string) => {
      const record = this.deps.datasets.get(id);
      return record.origin === 'url' ? record.path : null;
    };
    const ref = (target: SceneTarget, id: string | undefined): SceneRef => {
      if (!id) throw new Error('internal: a change job without its scene results');
      return { id, reuse: 'reuse' in target };
    };
    const extra = job.extraResults ?? {};
    return {
      job: { id: job.id, datasetId: job.datasetId, beforeId: job.beforeId ?? null, modelId: job.modelId, area: job.area, options: job.options },
      model: { id: model.id, sha256: modelDigest(model.path) },
      sources: { after: ownUrl(job.datasetId), ...(job.beforeId ? { before: ownUrl(job.beforeId) } : {}) },
      ...(input.names ? { names: input.names } : {}),
      ...(input.scenes ? { scenes: { before: ref(input.scenes.before, extra.before), after: ref(input.scenes.after, extra.after) } } : {}),
    };
  }

  private async started(jobId: string): Promise<void> {
    if (!this.record(jobId)) return;
    const processedBy = (await this.queue.getJob(jobId))?.processedBy;
    // The record is read after that round trip: progress of this run may have been saved in the
    // meantime (events are handled concurrently, and a loaded Redis answers late), and writing the
    // copy read before it would put the job back to 0 tiles and drop its notices.
    const job = this.record(jobId);
    if (!job || TERMINAL.has(job.status)) return;
    const worker = processedBy ?? job.worker ?? null;
    const fresh = job.status !== 'running' || job.progress.stage === STALLED_STAGE;
    this.save({ ...job, status: 'running', startedAt: job.startedAt ?? new Date().toISOString(), worker, progress: fresh ? emptyProgress('starting') : job.progress }, 'status');
    this.log({ ...job, status: 'running', worker });
  }

  private progressed(jobId: string, message: unknown): void {
    const job = this.record(jobId);
    if (!job || TERMINAL.has(job.status)) return;
    const parsed = RemoteProgressMessage.safeParse(message);
    if (!parsed.success) {
      this.deps.logger?.warn({ job: jobId }, 'a progress message that is not a satseg worker\'s was ignored');
      return;
    }
    const data = parsed.data;
    const notices = data.notice ? withNotice(job.notices, data.notice) : job.notices;
    const next: JobRecord = { ...job, status: 'running', startedAt: job.startedAt ?? new Date().toISOString(), worker: data.worker ?? job.worker, progress: data.progress, notices };
    // Progress is written about once a second (and every notice); every update still goes to listeners.
    if (notices !== job.notices || job.status !== 'running' || Date.now() - (this.lastSaved.get(jobId) ?? 0) > 1000) this.save(next, 'progress');
    else {
      this.unsaved.set(jobId, next);
      this.emit('progress', next);
    }
  }

  private stalled(jobId: string): void {
    const job = this.record(jobId);
    if (!job || TERMINAL.has(job.status)) return;
    const notice = `worker ${job.worker ?? '(unknown)'} stopped answering while it ran the job; the job went back to the queue for another worker`;
    this.save({ ...job, progress: emptyProgress(STALLED_STAGE), notices: withNotice(job.notices, notice) }, 'status');
    this.deps.logger?.warn({ job: jobId, worker: job.worker }, 'job stalled: its worker stopped answering; BullMQ queued it again');
  }

  /** One outcome at a time per job: QueueEvents and reconcile() may report the same one. */
  private settle(jobId: string, outcome: Outcome): Promise<void> {
    const run = (this.settling.get(jobId) ?? Promise.resolve()).then(() => this.settleNow(jobId, outcome));
    const entry = run.catch(() => undefined);
    this.settling.set(jobId, entry);
    void entry.then(() => { if (this.settling.get(jobId) === entry) this.settling.delete(jobId); });
    return run;
  }

  private async settleNow(jobId: string, outcome: Outcome): Promise<void> {
    const job = this.record(jobId);
    if (!job || TERMINAL.has(job.status)) return;
    if ('completed' in outcome) {
      let registered;
      try {
        // As in the embedded queue: a catalog locked or full over the job's end may pass.
        registered = await retryWhileStorageBusy(() => registerJob(this.deps, job, runOutput(outcome.completed)), REGISTER_RETRY_MS);
      } catch (err) {
        this.discardOutputs(this.deps, job);
        this.finish(job, 'failed', `could not register the result: ${(err as Error).message}`);
        return;
      }
      this.finish({ ...job, resultId: registered.id, progress: { ...job.progress, percent: 100, tilesDone: job.progress.tilesTotal } }, 'succeeded');
      return;
    }
    const cancelled = (await this.redis.exists(cancelKey(jobId))) === 1;
    // Read again after the round trip, as started() does: the last progress saved meanwhile is
    // where the job stopped.
    const last = this.record(jobId);
    if (!last || TERMINAL.has(last.status)) return;
    this.discardOutputs(this.deps, last);
    this.finish(last, cancelled ? 'cancelled' : 'failed', cancelled ? null : outcome.failed || 'the worker failed the job without saying why');
  }

  /** Bring the records of unfinished jobs up to date with BullMQ (events missed while the server was down). */
  private async reconcile(): Promise<void> {
    if (this.closed) return;
    for (const stored of this.deps.store.withStatus('queued', 'running')) {
      if (this.submitting.has(stored.id)) continue;
      // Ended already, where the catalog refused to write it: nothing to catch up with.
      const job = this.record(stored.id);
      if (!job || TERMINAL.has(job.status)) continue;
      const queued = await this.queue.getJob(job.id);
      if (!queued) {
        // Submitted before a crash that came before Redis took it, or Redis was reset.
        this.discardOutputs(this.deps, job);
        this.finish(job, 'failed', 'the job is not in the queue (Redis was reset, or the server stopped while submitting it); submit it again');
        continue;
      }
      const state = await queued.getState();
      if (state === 'completed') await this.settle(job.id, { completed: queued.returnvalue });
      else if (state === 'failed') await this.settle(job.id, { failed: queued.failedReason });
      else if (state === 'active' && job.status === 'queued') await this.started(job.id);
    }
  }

  async cancel(id: string): Promise<JobRecord> {
    let job = this.current(id);
    if (TERMINAL.has(job.status)) return job;
    // The key is how a worker learns it (when it starts, or at its next progress report), and
    // how a failure is told apart from a cancellation; the message reaches a running worker now.
    try {
      await this.redis.set(cancelKey(id), '1', 'EX', 24 * 3600);
      await this.redis.publish(CANCEL_CHANNEL, id);
    } catch (err) {
      // Redis down: a 503 as for a submission, not a 500 quoting ioredis.
      throw new LimitError('busy', `the job queue (Redis at ${redisLabel(this.deps.redisUrl)}) cannot take the cancel now: ${redisFailure(err)}; try again`);
    }
    const deadline = Date.now() + CANCEL_WAIT_MS;
    for (;;) {
      job = this.record(id) ?? job;
      if (TERMINAL.has(job.status)) return job;
      const queued = await this.queue.getJob(id);
      const state = queued ? await queued.getState() : 'missing';
      if (state === 'missing' || WAITING.has(state)) {
        // Not taken by a worker: remove it. A worker may take it meanwhile (then removing fails,
        // the job is locked) and will see the key.
        const removed = queued ? await queued.remove().then(() => true, () => false) : true;
        if (removed) {
          this.discardOutputs(this.deps, job);
          return this.finish(job, 'cancelled');
        }
      } else if (state === 'completed' || state === 'failed') {
        await this.settle(id, state === 'completed' ? { completed: queued!.returnvalue } : { failed: queued!.failedReason });
        continue;
      }
      // Running: its worker stops after the batch in flight and fails the job as cancelled.
      if (Date.now() > deadline) return job;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The unfinished job that produces result `resultId` (its own id, or a change job's scene mask). */
  private jobProducing(resultId: string): JobRecord | null {
    const own = this.record(resultId);
    if (own) return own;
    return this.deps.store.withStatus('queued', 'running').find((j) => j.extraResults?.before === resultId || j.extraResults?.after === resultId) ?? null;
  }

  /**
   * The job producing `resultId`, if the holder of `lockToken` may upload its files now: checked
   * before an upload's body is read (a forged token's 1.5 GB were received, then refused) and again
   * once it is on disk.
   */
  async admitResultUpload(resultId: string, lockToken: string | undefined): Promise<JobRecord> {
    const job = this.jobProducing(resultId);
    if (!job) throw new ResultUploadError('not-expected', `no unfinished job produces result ${resultId}`);
    if (TERMINAL.has(job.status)) throw new ResultUploadError('job-finished', `job ${job.id} has ${job.status === 'succeeded' ? 'succeeded' : `been ${job.status}`}; it takes no more uploads`);
    // A change job names the scene masks it reuses as its own: registered results, which no upload
    // may change (a worker holding such a job's lock overwrote another job's mask and stats).
    if (resultId !== job.id && this.deps.results.has(resultId)) throw new ResultUploadError('job-finished', `result ${resultId} is registered (job ${job.id} reuses it); it takes no uploads`);
    // BullMQ hands a job whose worker stopped answering to another worker; the first one may
    // still be alive. Only the holder of the job's lock may write its results.
    const holder = await this.redis.get(lockKey(job.id));
    if (!lockToken || holder !== lockToken) {
      throw new ResultUploadError('lock-lost', `this upload's lock token does not hold job ${job.id} (${holder ? 'another worker holds it, or the token is not the job\'s' : 'it is not running'}); its upload is refused`);
    }
    return job;
  }

  async acceptResultFile(resultId: string, name: UploadFile, tempPath: string, lockToken: string | undefined): Promise<void> {
    try {
      const job = await this.admitResultUpload(resultId, lockToken);
      const dir = this.deps.results.dirOf(resultId);
      const statusNow = () => this.jobProducing(resultId)?.status;
      const ended = () => new ResultUploadError('job-finished', `job ${job.id} ended while this upload was being checked; it takes no more uploads`);
      // Its folder, made when the job was placed (again here for a job placed before a restart
      // that found it empty; placeResultFile itself never makes one).
      await fs.promises.mkdir(dir, { recursive: true });
      try {
        await placeResultFile(this.deps, job, resultId, name, tempPath);
      } catch (err) {
        // The job ended (and its folder went) while the file was checked: say so, not ENOENT; and
        // the folder made again above goes with it.
        const status = statusNow();
        if (status !== undefined && !TERMINAL.has(status)) throw err;
        await fs.promises.rmdir(dir).catch(() => undefined);
        throw (err as NodeJS.ErrnoException).code === 'ENOENT' ? ended() : err;
      }
      // The job may have ended while the file was checked (its outputs discarded meanwhile, or
      // about to be): a file placed after that stayed in a folder no record names.
      const status = statusNow();
      if (status === undefined || (TERMINAL.has(status) && status !== 'succeeded')) {
        await fs.promises.rm(path.join(dir, name), { force: true });
        await fs.promises.rmdir(dir).catch(() => undefined);
        throw ended();
      }
    } finally {
      await fs.promises.rm(tempPath, { force: true });
    }
  }

  async workers(): Promise<WorkerHeartbeat[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', WORKER_KEY_PATTERN, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0' && keys.length < 10_000);
    if (!keys.length) return [];
    const beats = (await this.redis.mget(...keys)).flatMap((v) => {
      try {
        return v ? [JSON.parse(v) as WorkerHeartbeat] : [];
      } catch {
        return [];
      }
    });
    return beats.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Stop watching the queue. Jobs keep running on their workers; the next start catches up with them. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await Promise.all([...this.settling.values()]);
    await this.queueEvents.close();
    await this.queue.close();
    for (const c of this.connections) c.disconnect();
  }
}

/** A completed job's return value, as the worker sent it (BullMQ may hand it over as JSON text). */
function runOutput(value: unknown): JobRunOutput {
  const output = (typeof value === 'string' ? JSON.parse(value) : value) as JobRunOutput | null;
  if (!output || (output.kind !== 'segment' && output.kind !== 'change') || !output.statistics) {
    throw new Error('the worker returned no usable summary of the run');
  }
  return output;
}

/** Logs a connection's errors once, then at most once a minute: Redis down repeats them endlessly. */
function errorLogger(logger: BullMqQueueDeps['logger'], what: string): (err: unknown) => void {
  let last = 0;
  return (err) => {
    if (Date.now() - last < 60_000) return;
    last = Date.now();
    logger?.error({ err }, `${what}: ${(err as Error)?.message ?? String(err)}`);
  };
}
