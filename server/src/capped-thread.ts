/**
 * One task in a worker thread of its own with a heap cap, and optionally a deadline and a signal:
 * for work whose cost a request decides (polygonizing a mask, repairing an area) and which must
 * neither hold the event loop nor grow the server's heap. The thread answers with one message;
 * running out of its heap, its deadline or its signal ends it, each with the caller's error.
 */
import { Worker } from 'node:worker_threads';
import { workerBoot } from './runtime-paths.ts';

export interface CappedThreadOptions<M, T> {
  /** The module the thread runs (siblingModule), and what it is given as workerData.task. */
  entry: string;
  data: Record<string, unknown>;
  heapMb: number;
  /** The thread's one message, turned into the answer or an error (thrown). */
  answer: (message: M) => T;
  /** The error when the thread runs out of its heap. */
  outOfMemory: () => Error;
  /** The error when the thread stops without answering. */
  stopped: (exitCode: number) => Error;
  /** The error for any other failure of the thread (default: as it is). */
  failed?: (err: Error) => Error;
  timeoutMs?: number;
  timedOut?: () => Error;
  signal?: AbortSignal;
}

export async function runCappedThread<M, T>(o: CappedThreadOptions<M, T>): Promise<T> {
  o.signal?.throwIfAborted();
  const worker = new Worker(workerBoot, {
    workerData: { entry: o.entry, ...o.data },
    resourceLimits: { maxOldGenerationSizeMb: o.heapMb, maxYoungGenerationSizeMb: 64 },
  });
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await new Promise<T>((resolve, reject) => {
      if (o.timeoutMs !== undefined) timer = setTimeout(() => reject(o.timedOut?.() ?? new Error(`the task took over ${o.timeoutMs} ms`)), o.timeoutMs);
      onAbort = () => reject(o.signal!.reason);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      worker.once('message', (m: M) => {
        try {
          resolve(o.answer(m));
        } catch (err) {
          reject(err);
        }
      });
      worker.once('error', (err) => {
        const memory = /memory|heap/i.test(err.message) || (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
        reject(memory ? o.outOfMemory() : (o.failed?.(err) ?? err));
      });
      worker.once('exit', (code) => { if (code !== 0) reject(o.stopped(code)); });
    });
  } finally {
    clearTimeout(timer);
    // A signal that outlives the task (a job's, over its many threads) kept one listener per
    // task: past ten, Node warned of a leak (MaxListenersExceededWarning).
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
    void worker.terminate();
  }
}
