/**
 * A job run in a worker thread of this process (job-worker.ts), for a remote worker: reading,
 * blending and writing stay off the event loop, which keeps the BullMQ lock renewed and the
 * heartbeat beating while the job runs, as the in-process queue keeps the server answering.
 */
import { Worker } from 'node:worker_threads';
import type { JobProgress } from './job-types.ts';
import type { JobRunInput, JobRunOutput } from './run-job.ts';
import type { JobWorkerMessage } from './job-worker.ts';
import { siblingModule, workerBoot } from '../runtime-paths.ts';
import { MODEL_CLOSE_GRACE_MS } from '../infer/model.ts';

export interface ThreadHooks {
  /** Aborting asks the job to stop after the batch in flight. */
  signal: AbortSignal;
  onProgress(progress: JobProgress): void;
  onNotice(text: string): void;
}

/** The job stopped because it was asked to. */
export class JobCancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'JobCancelledError';
  }
}

export function runJobInThread(input: JobRunInput, hooks: ThreadHooks): Promise<JobRunOutput> {
  return new Promise<JobRunOutput>((resolve, reject) => {
    const worker = new Worker(workerBoot, { workerData: { entry: siblingModule(import.meta.url, './job-worker'), input } });
    let force: NodeJS.Timeout | undefined;
    let ended = false;
    const onAbort = () => {
      worker.postMessage({ type: 'cancel' });
      // A forward pass cannot be interrupted, and terminating a thread inside one aborts the
      // process: force it only after the model's own grace for that pass (as the in-process queue).
      force = setTimeout(() => { void worker.terminate(); }, MODEL_CLOSE_GRACE_MS + 30_000);
    };
    const end = (settle: () => void) => {
      if (ended) return;
      ended = true;
      clearTimeout(force);
      hooks.signal.removeEventListener('abort', onAbort);
      void worker.terminate();
      settle();
    };
    const failure = (message: string) => (hooks.signal.aborted ? new JobCancelledError() : new Error(message));
    hooks.signal.addEventListener('abort', onAbort, { once: true });
    if (hooks.signal.aborted) onAbort();
    worker.on('message', (m: JobWorkerMessage) => {
      if (m.type === 'progress') hooks.onProgress(m.progress);
      else if (m.type === 'notice') hooks.onNotice(m.text);
      else if (m.type === 'done') end(() => resolve(m.output));
      else end(() => reject(m.cancelled ? new JobCancelledError() : failure(m.message)));
    });
    worker.on('error', (err) => end(() => reject(failure(`job thread crashed: ${err.message}`))));
    worker.on('exit', (code) => end(() => reject(failure(`job thread exited (code ${code})`))));
  });
}
