/**
 * The thread a result's polygons are made in on request (see vectorize-in-thread.ts): one mask in,
 * one file out, and a summary or the error's name, code and message back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { VectorizeTask } from './vectorize-in-thread.ts';
import { vectorizeMask } from './vectorize-mask.ts';
import { changePolygons } from '../change/change-polygons.ts';

const task = (workerData as { task: VectorizeTask }).task;
try {
  const features = task.kind === 'change'
    ? (await changePolygons(task.mask, task.out, { maxFeatures: task.maxFeatures, minAreaM2: task.minAreaM2, simplifyPx: task.simplifyPx })).features
    : (await vectorizeMask({ mask: task.mask, out: task.out, classes: task.classes, maxFeatures: task.maxFeatures, minAreaM2: task.minAreaM2, simplifyPx: task.simplifyPx })).features;
  parentPort!.postMessage({ ok: true, features });
} catch (err) {
  const e = err as Error & { code?: string };
  parentPort!.postMessage({ ok: false, name: e.name, code: e.code, message: e.message });
}
