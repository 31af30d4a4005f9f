/**
 * The embedded JobQueue: SQLite records, jobs run in worker threads in this process, at most
 * `maxJobs` at a time. After a crash, jobs that were running are marked failed ("interrupted")
 * and their partial outputs removed; queued jobs run again.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { DatasetCatalog } from '../catalog/dataset-catalog.ts';
import type { ResultCatalog } from '../catalog/result-catalog.ts';
import type { ModelRegistry } from '../infer/model-registry.ts';
import type { JobQueue, JobSubmission } from './job-queue.ts';
import { emptyProgress, type JobStore } from './job-store.ts';
import { TERMINAL, type JobRecord } from './job-types.ts';
import { RecordedQueue, REGISTER_RETRY_MS, retryWhileStorageBusy, withNotice } from './recorded-queue.ts';
import type { JobRunInput } from './run-job.ts';
import type { JobWorkerMessage } from './job-worker.ts';
import { siblingModule, workerBoot } from '../runtime-paths.ts';
import { MODEL_CLOSE_GRACE_MS } from '../infer/model.ts';
import { placeJob, registerJob } from './job-results.ts';

export interface QueueDeps {
  store: JobStore;
  datasets: DatasetCatalog;
  results: ResultCatalog;
  models: ModelRegistry;
  maxJobs: number;
  /** Inference threads per job (default: every core). */
  jobThreads?: number;
  logger?: Pick<Logger, 'info' | 'error'>;
}

interface Running {
  worker: Worker;
  dir: string;
  done: Promise<void>;
  cancelling: boolean;
  /** Stopped because the server is stopping, not by its user: it goes back in the queue. */
  stopping: boolean;
  lastSaved: number;
}

export class InProcessQueue extends RecordedQueue implements JobQueue {
  private readonly pending: string[] = [];
  private readonly running = new Map<string, Running>();
  private closed = false;

  constructor(private readonly deps: QueueDeps) {
    super(deps.store, deps.logger);
    for (const job of deps.store.withStatus('running')) {
      // The process died mid-job: its outputs are incomplete and its worker is gone.
      this.finish(job, 'failed', 'interrupted: the server stopped while this job was running; submit it again');
      if (job.resultId === null) this.discardOutputs(this.deps, job);
    }
    for (const job of deps.store.withStatus('queued')) this.pending.push(job.id);
    this.pump();
  }

  async submit(request: JobSubmission): Promise<JobRecord> {
    if (this.closed) throw new Error('the job queue is shutting down');
    const job = this.newRecord(request);
    this.deps.store.insert(job);
    this.log(job);
    this.emit('status', job);
    this.pending.push(job.id);
    this.pump();
    return this.deps.store.get(job.id);
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.deps.maxJobs && this.pending.length) {
      const id = this.pending.shift()!;
      let job: JobRecord;
      try {
        job = this.deps.store.get(id);
      } catch (err) {
        // The catalog cannot be read now (locked by another process): the job waits its turn again.
        this.pending.unshift(id);
        this.deps.logger?.error({ job: id, err: (err as Error).message }, 'could not read the job record; retrying in 5 s');
        setTimeout(() => this.pump(), 5000).unref();
        return;
      }
      if (job.status !== 'queued') continue;
      this.start(job);
    }
  }

  private start(queued: JobRecord): void {
    let job: JobRecord = { ...queued, status: 'running', startedAt: new Date().toISOString(), progress: emptyProgress('starting') };
    this.writeRecord(job);
    this.log(job);
    this.emit('status', job);
    let input: JobRunInput;
    try {
      const placed = placeJob(this.deps, job, this.deps.jobThreads);
      input = placed.input;
      job = { ...job, extraResults: placed.extraResults };
      this.writeRecord(job);
    } catch (err) {
      this.finish(job, 'failed', (err as Error).message);
      this.discardOutputs(this.deps, job);
      return;
    }
    const worker = new Worker(workerBoot, {
      workerData: { entry: siblingModule(import.meta.url, './job-worker'), input },
    });
    let settle!: () => void;
    const running: Running = { worker, dir: input.resultDir, done: new Promise<void>((r) => { settle = r; }), cancelling: false, stopping: false, lastSaved: 0 };
    this.running.set(job.id, running);
    let ended = false;
    const end = (status: 'succeeded' | 'failed' | 'cancelled', error: string | null) => {
      if (ended) return;
      ended = true;
      this.running.delete(job.id);
      if (status !== 'succeeded') this.discardOutputs(this.deps, job);
      if (status === 'cancelled' && running.stopping) job = this.requeue(job);
      else job = this.finish(job, status, error);
      void worker.terminate();
      settle();
      this.pump();
    };
    worker.on('message', (m: JobWorkerMessage) => {
      if (m.type === 'progress') {
        job = { ...job, progress: m.progress };
        // Persist progress about once a second; every update still goes to listeners.
        if (Date.now() - running.lastSaved > 1000) { running.lastSaved = Date.now(); this.writeRecord(job); }
        this.emit('progress', job);
      } else if (m.type === 'notice') {
        const notices = withNotice(job.notices, m.text);
        if (notices === job.notices) return;
        job = { ...job, notices };
        this.writeRecord(job);
        this.emit('progress', job);
      } else if (m.type === 'done') {
        // A catalog locked by another process, or a full disk, may pass: the result is tried again
        // for a while before the job fails (a 10 s lock over a job's end lost the whole run).
        void retryWhileStorageBusy(() => registerJob(this.deps, job, m.output), REGISTER_RETRY_MS).then((record) => {
          job = { ...job, resultId: record.id, progress: { ...job.progress, percent: 100, tilesDone: job.progress.tilesTotal } };
          end('succeeded', null);
        }, (err: unknown) => end('failed', `could not register the result: ${(err as Error).message}`));
      } else {
        end(running.cancelling || m.cancelled ? 'cancelled' : 'failed', running.cancelling ? null : m.message);
      }
    });
    worker.on('error', (err) => end(running.cancelling ? 'cancelled' : 'failed', running.cancelling ? null : `job worker crashed: ${err.message}`));
    worker.on('exit', (code) => end(running.cancelling ? 'cancelled' : 'failed', running.cancelling ? null : `job worker exited (code ${code})`));
  }

  async cancel(id: string): Promise<JobRecord> {
    const job = await this.get(id);
    if (TERMINAL.has(job.status)) return job;
    const i = this.pending.indexOf(id);
    if (i >= 0) this.pending.splice(i, 1);
    const running = this.running.get(id);
    if (!running) return this.finish(job, 'cancelled');
    running.cancelling = true;
    running.worker.postMessage({ type: 'cancel' });
    // The worker stops after the batch in flight (a forward pass cannot be interrupted, and
    // terminating a thread inside one aborts the process). Forcing it must wait longer than the
    // model's own grace for that pass (WorkerModel.close), or it would cause that very abort.
    const timer = setTimeout(() => { void running.worker.terminate(); }, MODEL_CLOSE_GRACE_MS + 30_000);
    await running.done;
    clearTimeout(timer);
    return this.get(id);
  }

  /**
   * Stop the queue (the server is stopping, SIGTERM): running jobs are stopped after their batch
   * in flight and go back in the queue, to run again from the start when the server restarts.
   * They were marked cancelled, as if their user had cancelled them.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const running of this.running.values()) running.stopping = true;
    await Promise.all([...this.running.keys()].map((id) => this.cancel(id)));
    await this.flushUnwritten(10_000);
  }

  /** A running job back to queued, its partial outputs gone, saying why it starts over. */
  private requeue(job: JobRecord): JobRecord {
    return this.changeStatus({
      ...job, status: 'queued', startedAt: null, progress: emptyProgress(), extraResults: null,
      notices: withNotice(job.notices, 'the server was stopped while this job ran; it runs again from the start when the server restarts'),
    });
  }
}
