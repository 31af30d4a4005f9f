/**
 * The seam between the API and whatever runs jobs. The embedded default is an in-process queue
 * with SQLite records (in-process-queue.ts); the BullMQ backend (bullmq-queue.ts) hands jobs to
 * workers on other machines through Redis. Both answer asynchronously: a remote queue cannot
 * answer any other way.
 */
import type { JobEvent, JobRecord, JobRequest } from './job-types.ts';
import type { UploadFile, WorkerHeartbeat } from './remote-protocol.ts';
import type { PageRequest } from '../catalog/page.ts';

export interface JobSubmission extends JobRequest {
  /** What preparing the job found worth saying (a repaired area, resampling). */
  notices?: string[];
}

export interface JobQueue {
  /** Record a job and schedule it; returns the queued record. */
  submit(request: JobSubmission): Promise<JobRecord>;
  get(id: string): Promise<JobRecord>;
  /** Newest first: a page of `limit` after `offset`, and how many there are in all. */
  /** Newest first: a page, the number of jobs, and whether more follow the page. */
  list(page: PageRequest): Promise<{ jobs: JobRecord[]; total: number; more: boolean }>;
  /** Jobs waiting to run (for the queue limit). */
  queuedCount(): Promise<number>;
  /** Stop a queued or running job; partial outputs are removed. Returns the updated record. */
  cancel(id: string): Promise<JobRecord>;
  /** Listen to state changes and progress of one job (or all with id = '*'); returns an unsubscribe function. */
  subscribe(id: string, listener: (e: JobEvent) => void): () => void;
  /** Stop taking work and wait for running jobs to stop (or, for remote workers, stop watching them). */
  close(): Promise<void>;
  /** Live remote workers; absent where jobs run inside the server. */
  workers?(): Promise<WorkerHeartbeat[]>;
  /**
   * Take a file of a result from the remote worker running its job (`lockToken` proves it still
   * holds the job); absent where jobs run inside the server. Consumes `tempPath`.
   */
  acceptResultFile?(resultId: string, name: UploadFile, tempPath: string, lockToken: string | undefined): Promise<void>;
  /** Whether the holder of `lockToken` may upload a file of `resultId` now (checked before the body is read). */
  admitResultUpload?(resultId: string, lockToken: string | undefined): Promise<unknown>;
}
