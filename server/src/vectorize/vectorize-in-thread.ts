/**
 * Vectorizing in a worker thread, for the server: the polygonizer is JavaScript, and a result of a
 * few hundred thousand polygons held the event loop 7 s (every other request waited) and left the
 * server's heap at 2 GB. In a thread of its own, with a heap cap, it costs the server nothing but
 * a core, and a mask too rich for the cap is refused with the reason.
 */
import { siblingModule } from '../runtime-paths.ts';
import { runCappedThread } from '../capped-thread.ts';
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
export function vectorizeInThread(task: VectorizeTask, signal?: AbortSignal): Promise<number> {
  type Answer = { ok: true; features: number } | { ok: false; name: string; code?: string; message: string };
  return runCappedThread<Answer, number>({
    entry: siblingModule(import.meta.url, './vectorize-worker'),
    data: { task },
    heapMb: HEAP_MB,
    signal,
    answer: (m) => {
      if (m.ok) return m.features;
      if (m.name === 'VectorizeError') throw new VectorizeError(m.code as VectorizeErrorCode, m.message);
      if (m.name === 'RasterError') throw new RasterError(m.code as RasterErrorCode, m.message);
      // The code goes with it: a full disk (ENOSPC) is a 507 for its caller, not a 500.
      throw Object.assign(new Error(m.message), m.code ? { code: m.code } : {});
    },
    outOfMemory: () => new VectorizeError('too-large', `making these polygons needed more than the ${HEAP_MB} MB it may use; lower SATSEG_MAX_FEATURES, or segment with a larger min_area_m2`),
    stopped: (code) => new Error(`vectorizing stopped (exit code ${code})`),
  });
}
