/**
 * What every queue that keeps its job records in SQLite shares, whoever runs the jobs (threads of
 * this process, or remote workers through BullMQ): reading the records, telling listeners of each
 * change, logging it, and ending a job.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { newId } from '../catalog/catalog-db.ts';
import type { JobSubmission } from './job-queue.ts';
import { emptyProgress, type JobStore } from './job-store.ts';
import type { JobEvent, JobRecord } from './job-types.ts';
import { discardJob, type JobStores } from './job-results.ts';
import { errorCode } from '../errors.ts';
import type { PageRequest } from '../catalog/page.ts';

/** How often records the catalog refused (disk full, locked) are tried again. */
const UNWRITTEN_RETRY_MS = 5000;

/** Whether an error is the catalog or disk refusing for now (another process's lock, a full disk). */
function storageBusy(err: unknown): boolean {
  return /^(SQLITE_(BUSY|LOCKED|FULL)|ENOSPC)/.test(errorCode(err));
}

/** Notices a job keeps: more are dropped (each is written with the record, and listed with it). */
export const MAX_NOTICES = 50;

/**
 * A job's notices with `text` added: said once (a job run again after a restart says its first
 * run's notices again), and at most MAX_NOTICES. The same array when nothing is added.
 */
export function withNotice(notices: string[], text: string): string[] {
  if (notices.includes(text) || notices.length >= MAX_NOTICES) return notices;
  // The last place says that the rest are left out.
  return [...notices, notices.length === MAX_NOTICES - 1 ? `further notices are left out (a job keeps ${MAX_NOTICES})` : text];
}

/** How long a finished job's result is tried again while the catalog refuses it. */
export const REGISTER_RETRY_MS = 60_000;

/** `work` tried again every second while storage refuses it, for up to `forMs`; other errors at once. */
export async function retryWhileStorageBusy<T>(work: () => T, forMs: number): Promise<T> {
  const until = Date.now() + forMs;
  for (;;) {
    try {
      return work();
    } catch (err) {
      if (!storageBusy(err) || Date.now() >= until) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

export abstract class RecordedQueue {
  private readonly events = new EventEmitter();

  constructor(protected readonly records: JobStore, protected readonly logger?: Pick<Logger, 'info' | 'error'>) {
    this.events.setMaxListeners(0);
  }

  /** The record of a job just submitted: queued, no progress, nothing run yet. */
  protected newRecord(request: JobSubmission): JobRecord {
    const { notices, ...rest } = request;
    return {
      ...rest, id: newId(), status: 'queued', progress: emptyProgress(), createdAt: new Date().toISOString(),
      startedAt: null, finishedAt: null, error: null, resultId: null, notices: notices ?? [], worker: null,
    };
  }

  protected emit(type: JobEvent['type'], job: JobRecord): void {
    this.events.emit(job.id, { type, job } satisfies JobEvent);
    this.events.emit('*', { type, job } satisfies JobEvent);
  }

  protected log(job: JobRecord): void {
    const seconds = job.startedAt && job.finishedAt ? (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000 : undefined;
    const line = { job: job.id, status: job.status, dataset: job.datasetId, model: job.modelId, worker: job.worker ?? undefined, seconds, error: job.error ?? undefined, result: job.resultId ?? undefined };
    if (job.status === 'failed') this.logger?.error(line, `job ${job.status}`);
    else this.logger?.info(line, `job ${job.status}`);
  }

  protected finish(job: JobRecord, status: 'succeeded' | 'failed' | 'cancelled', error: string | null = null): JobRecord {
    return this.changeStatus({ ...job, status, error, finishedAt: new Date().toISOString(), progress: { ...job.progress, stage: status, etaSeconds: null } });
  }

  /** A job's new status: written, logged and told to listeners. */
  protected changeStatus(next: JobRecord): JobRecord {
    this.writeRecord(next);
    this.log(next);
    this.emit('status', next);
    return next;
  }

  /**
   * Write a job's record; false when the catalog cannot take it (disk full, locked or read-only
   * by another process), which is logged. Called from worker and queue events: a throw there
   * ended the server process ("terminate called after throwing Napi::Error") for every client.
   * Listeners still hear of the change; a record left unwritten is corrected at the next write,
   * or, for a running job, marked interrupted at the next start.
   */
  protected writeRecord(job: JobRecord): boolean {
    try {
      this.records.update(job);
      this.unwritten.delete(job.id);
      return true;
    } catch (err) {
      // Said once per spell, not on every progress write.
      if (!this.unwritten.has(job.id)) this.logger?.error({ job: job.id, status: job.status, err: (err as Error).message }, 'could not write the job record; trying again every 5 s');
      this.unwritten.set(job.id, job);
      this.retryTimer ??= setInterval(() => this.writeUnwritten(), UNWRITTEN_RETRY_MS).unref();
      return false;
    }
  }

  /** Records the catalog could not take, newest per job: written again until they go in, and read before the stored ones. */
  private readonly unwritten = new Map<string, JobRecord>();
  private retryTimer: ReturnType<typeof setInterval> | null = null;

  /**
   * Write what the catalog refused, trying for up to `forMs` (a server stopping: its re-queued jobs
   * would otherwise stay "running" in the catalog, and be failed as interrupted at the next start).
   */
  protected async flushUnwritten(forMs: number): Promise<void> {
    const until = Date.now() + forMs;
    while (this.unwritten.size && Date.now() < until) {
      this.writeUnwritten();
      if (this.unwritten.size) await new Promise((r) => setTimeout(r, 250));
    }
    if (this.unwritten.size) this.logger?.error({ jobs: [...this.unwritten.keys()] }, 'job records the catalog still refuses are lost at this stop');
  }

  private writeUnwritten(): void {
    for (const [id, job] of this.unwritten) {
      try {
        this.records.update(job);
        this.unwritten.delete(id);
      } catch {
        return; // still refused; the next tick tries again
      }
    }
    if (!this.unwritten.size && this.retryTimer) { clearInterval(this.retryTimer); this.retryTimer = null; }
  }

  /**
   * Remove the outputs of a job that did not succeed. A failure (a read-only data folder) is
   * logged, never thrown: in a worker's event handler it ended the server process.
   */
  protected discardOutputs(stores: JobStores, job: JobRecord): void {
    try {
      discardJob(stores, job);
    } catch (err) {
      this.logger?.error({ job: job.id, err: (err as Error).message }, 'could not remove the outputs of a job that did not succeed');
    }
  }

  /** A job's record as this process knows it: one the catalog refused, else the stored one. */
  protected current(id: string): JobRecord {
    return this.unwritten.get(id) ?? this.records.get(id);
  }

  async get(id: string): Promise<JobRecord> {
    return this.current(id);
  }

  async list(page: PageRequest): Promise<{ jobs: JobRecord[]; total: number; more: boolean }> {
    const { jobs, more } = this.records.list(page);
    return { jobs: jobs.map((j) => this.unwritten.get(j.id) ?? j), total: this.records.count(), more };
  }

  async queuedCount(): Promise<number> {
    return this.records.countWithStatus('queued');
  }

  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }
}
