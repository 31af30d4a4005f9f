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
    const next: JobRecord = { ...job, status, error, finishedAt: new Date().toISOString(), progress: { ...job.progress, stage: status, etaSeconds: null } };
    this.records.update(next);
    this.log(next);
    this.emit('status', next);
    return next;
  }

  async get(id: string): Promise<JobRecord> {
    return this.records.get(id);
  }

  async list(page: { limit: number; offset: number }): Promise<{ jobs: JobRecord[]; total: number }> {
    return { jobs: this.records.list(page), total: this.records.count() };
  }

  async queuedCount(): Promise<number> {
    return this.records.countWithStatus('queued');
  }

  subscribe(id: string, listener: (e: JobEvent) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }
}
