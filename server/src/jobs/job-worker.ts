/**
 * The thread a job runs in: reading, blending and writing stay off the server's event loop, so
 * tile requests are answered while jobs run. It talks to the queue by messages only.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runJob, type JobRunInput, type VectorizeHook } from './run-job.ts';
import type { JobProgress } from './job-types.ts';
import { jobFailure } from '../errors.ts';

export type JobWorkerMessage =
  | { type: 'progress'; progress: JobProgress }
  | { type: 'notice'; text: string }
  | { type: 'done'; output: Awaited<ReturnType<typeof runJob>> }
  | { type: 'failed'; message: string; cancelled: boolean };

const port = parentPort!;
const input = (workerData as { input: JobRunInput }).input;
const controller = new AbortController();
port.on('message', (m: { type: string }) => { if (m.type === 'cancel') controller.abort(); });

// Loaded only for jobs that ask for vectors.
async function loadVectorizer(): Promise<VectorizeHook> {
  const { vectorizeMask } = await import('../vectorize/vectorize-mask.ts');
  return async (mask, out, opts) => { await vectorizeMask({ mask, out, minAreaM2: opts.minAreaM2, simplifyPx: opts.simplifyPx, signal: opts.signal, maxFeatures: opts.maxFeatures }); };
}

try {
  const output = await runJob(input, {
    signal: controller.signal,
    onNotice: (text) => port.postMessage({ type: 'notice', text } satisfies JobWorkerMessage),
    vectorize: input.request.options.vector ? await loadVectorizer() : undefined,
    onProgress: (p, stage) => port.postMessage({
      type: 'progress',
      progress: {
        tilesDone: p.tilesDone, tilesTotal: p.tilesTotal,
        percent: Math.round(1000 * (p.fraction ?? (p.tilesTotal ? p.tilesDone / p.tilesTotal : 0))) / 10,
        mpxPerSec: p.mpxPerSec, etaSeconds: p.etaSeconds, stage,
      },
    } satisfies JobWorkerMessage),
  });
  port.postMessage({ type: 'done', output } satisfies JobWorkerMessage);
} catch (err) {
  port.postMessage({ type: 'failed', message: jobFailure(err, input.resultDir), cancelled: controller.signal.aborted } satisfies JobWorkerMessage);
}
