/**
 * Vectorizing in a worker thread, for the server: the polygonizer is JavaScript, and a result of a
 * few hundred thousand polygons held the event loop 7 s (every other request waited) and left the
 * server's heap at 2 GB. In a thread of its own, with a heap cap, it costs the server nothing but
 * a core, and a mask too rich for the cap is refused with the reason.
 */
import { Worker } from 'node:worker_threads';
import { siblingModule, workerBoot } from '../runtime-paths.ts';
import { RasterError, VectorizeError, type RasterErrorCode, type VectorizeErrorCode } from '../errors.ts';

export interface VectorizeTask {
  /** A class mask's polygons (vectorizeMask), or a change mask's changes (changePolygons). */
  kind: 'classes' | 'change';
  mask: string;
  out: string;
  /** Class names or ids to keep (classes only). */
  classes?: string[];
  maxFeatures?: number;
  minAreaM2?: number;
  simplifyPx?: number;
}

/** Heap the thread may use: a FlatGeobuf holds its features until its index is written. */
const HEAP_MB = 2048;

/** `signal`: stops the thread (its outputs are temporary files until it succeeds), rejecting with the reason. */
export async function vectorizeInThread(task: VectorizeTask, signal?: AbortSignal): Promise<number> {
  signal?.throwIfAborted();
  const worker = new Worker(workerBoot, {
    workerData: { entry: siblingModule(import.meta.url, './vectorize-worker'), task },
    resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: 64 },
  });
  try {
    return await new Promise<number>((resolve, reject) => {
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      worker.once('message', (m: { ok: true; features: number } | { ok: false; name: string; code?: string; message: string }) => {
        if (m.ok) resolve(m.features);
        else if (m.name === 'VectorizeError') reject(new VectorizeError(m.code as VectorizeErrorCode, m.message));
        else if (m.name === 'RasterError') reject(new RasterError(m.code as RasterErrorCode, m.message));
        else reject(new Error(m.message));
      });
      worker.once('error', (err) => {
        const memory = /memory|heap/i.test(err.message) || (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
        reject(memory
          ? new VectorizeError('too-large', `making these polygons needed more than the ${HEAP_MB} MB it may use; lower SATSEG_MAX_FEATURES, or segment with a larger min_area_m2`)
          : err);
      });
      worker.once('exit', (code) => { if (code !== 0) reject(new Error(`vectorizing stopped (exit code ${code})`)); });
    });
  } finally {
    void worker.terminate();
  }
}
