/**
 * The seam between the API and whatever runs jobs. The embedded default is an in-process queue
 * with SQLite records (in-process-queue.ts); a distributed backend (Redis/BullMQ) implements the same.
 */
import type { JobEvent, JobRecord, JobRequest } from './job-types.ts';

export interface JobQueue {
  /** Record a job and schedule it; returns the queued record. */
  submit(request: JobRequest): JobRecord;
  get(id: string): JobRecord;
  list(): JobRecord[];
  /** Stop a queued or running job; partial outputs are removed. Returns the updated record. */
  cancel(id: string): Promise<JobRecord>;
  /** Listen to state changes and progress of one job (or all with id = '*'); returns an unsubscribe function. */
  subscribe(id: string, listener: (e: JobEvent) => void): () => void;
  /** Stop taking work and wait for running jobs to stop. */
  close(): Promise<void>;
}
