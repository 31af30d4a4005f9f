/**
 * Where a job's outputs go and how they become results, for every queue: the result store hands out
 * the folders, a change job reuses class masks made earlier with the same model, area and options,
 * and finished folders are registered (or discarded) here, not by paths built in the queue.
 */
import crypto from 'node:crypto';
import type { DatasetCatalog } from '../catalog/dataset-catalog.ts';
import type { ResultCatalog, ResultRecord } from '../catalog/result-catalog.ts';
import type { ModelRegistry } from '../infer/model-registry.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import { newId } from '../catalog/catalog-db.ts';
import type { JobRecord } from './job-types.ts';
import type { JobRunInput, JobRunOutput, SceneTarget } from './run-job.ts';
import { allTransitions, changeColorTable, transitionName } from '../change/transition-codes.ts';

export interface JobStores {
  datasets: DatasetCatalog;
  results: ResultCatalog;
  models: ModelRegistry;
}

/**
 * Which grid a class mask lies on, as prepareJob chooses it: a mask made before a dataset much finer
 * than its model was segmented on block averages (model-grid.ts) lies on the dataset's own grid, and
 * reused by a change job it made a change mask the remote worker's upload check refused.
 */
const MASK_GRID = 'model-grid-1';

/** What makes two class masks the same: dataset, model, area, the options that change pixels, and the grid. */
export function reuseKey(job: JobRecord, datasetId: string): string {
  const o = job.options;
  const key = JSON.stringify([datasetId, job.modelId, job.area, o.tile ?? null, o.overlap ?? null, o.bands ?? null, o.sensor ?? null, Boolean(o.tta), o.bandOffset ?? null, MASK_GRID]);
  return crypto.createHash('sha1').update(key).digest('hex');
}

function sceneName(stores: JobStores, datasetId: string, modelId: string): string {
  return `${stores.datasets.get(datasetId).name.replace(/\.[^.]+$/, '')} · ${modelId}`;
}

/**
 * The run input of a job: its dataset locations, its folders from the result store, and for a
 * change job the before and after masks (new folders, or earlier masks to reuse). Returns the ids
 * of the scene results it will produce or reuse.
 */
export function placeJob(stores: JobStores, job: JobRecord, threads?: number): { input: JobRunInput; extraResults: { before?: string; after?: string } | null } {
  const { datasets, results } = stores;
  const model = stores.models.get(job.modelId);
  const input: JobRunInput = {
    request: job,
    datasetPath: datasets.location(datasets.get(job.datasetId)),
    names: { after: datasets.get(job.datasetId).name, ...(job.beforeId ? { before: datasets.get(job.beforeId).name } : {}) },
    model,
    resultDir: results.allocate(job.id).dir,
    threads,
  };
  if (!job.beforeId) return { input, extraResults: null };
  input.beforePath = datasets.location(datasets.get(job.beforeId));
  const target = (datasetId: string): { target: SceneTarget; id: string } => {
    const earlier = results.findReusable(reuseKey(job, datasetId));
    if (earlier) return { target: { reuse: results.file(earlier, 'mask') }, id: earlier.id };
    const { id, dir } = results.allocate(newId());
    return { target: { dir }, id };
  };
  const before = target(job.beforeId);
  const after = target(job.datasetId);
  input.scenes = { before: before.target, after: after.target };
  return { input, extraResults: { before: before.id, after: after.id } };
}

/** Remove the folders of a job that did not finish (reused masks are left alone). */
export function discardJob(stores: JobStores, job: JobRecord): void {
  stores.results.discard(job.id);
  for (const id of [job.extraResults?.before, job.extraResults?.after]) if (id) stores.results.discard(id);
}

/**
 * The job's polygon settings, kept with each of its results: polygons made later on request (a job
 * that did not ask for them) follow what the analyst asked for, not the defaults.
 */
function vectorSettings(job: JobRecord): { vector_options?: { min_area_m2?: number; simplify_px?: number } } {
  const { minAreaM2, simplifyPx } = job.options;
  return minAreaM2 === undefined && simplifyPx === undefined ? {} : { vector_options: { min_area_m2: minAreaM2, simplify_px: simplifyPx } };
}

/** Register a finished job's outputs; returns the id of its main result (the change mask for a change job). */
export function registerJob(stores: JobStores, job: JobRecord, output: JobRunOutput): ResultRecord {
  const { results } = stores;
  const model = stores.models.get(job.modelId);
  if (output.kind === 'segment') {
    return results.register({
      id: job.id, datasetId: job.datasetId, modelId: job.modelId,
      name: sceneName(stores, job.datasetId, job.modelId),
      classes: model.classNames, colors: model.classColors,
      summary: { ...output.summary, statistics: output.statistics, area: job.area, ...vectorSettings(job) } as unknown as Record<string, unknown>,
      reuseKey: reuseKey(job, job.datasetId),
    });
  }
  const scene = (datasetId: string, id: string | undefined, out: typeof output.before) => {
    if (!id || out.reused) return;
    results.register({
      id, datasetId, modelId: job.modelId, name: sceneName(stores, datasetId, job.modelId),
      classes: model.classNames, colors: model.classColors,
      summary: { ...out.summary, statistics: out.statistics, area: job.area, change_job: job.id, ...vectorSettings(job) } as unknown as Record<string, unknown>,
      reuseKey: reuseKey(job, datasetId),
    });
  };
  scene(job.beforeId!, job.extraResults?.before, output.before);
  scene(job.datasetId, job.extraResults?.after, output.after);
  return registerChange(results, job.id, model, {
    datasetId: job.datasetId,
    name: `${stores.datasets.get(job.beforeId!).name.replace(/\.[^.]+$/, '')} → ${stores.datasets.get(job.datasetId).name.replace(/\.[^.]+$/, '')} · ${job.modelId} change`,
    summary: { statistics: output.statistics, area: job.area, before_result: job.extraResults?.before ?? null, after_result: job.extraResults?.after ?? null, seconds: output.seconds, ...vectorSettings(job) },
  });
}

/**
 * Register a change mask: its "classes" are the transitions (code from * N + to), named
 * "water → vegetation", coloured like the change COG's table (unchanged grey, changed by "to").
 */
export function registerChange(results: ResultCatalog, id: string, model: ModelSpec, meta: { datasetId: string | null; name: string; summary: Record<string, unknown> }): ResultRecord {
  const classes = { names: model.classNames, colors: model.classColors, model: model.id };
  const transitions = allTransitions(classes);
  const table = changeColorTable(classes);
  const hex = ([r, g, b]: [number, number, number]) => `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`.toUpperCase();
  return results.register({
    id, kind: 'change', datasetId: meta.datasetId, modelId: model.id, name: meta.name,
    classes: transitions.map((t) => transitionName(t)),
    colors: transitions.map((_, code) => hex(table[code] ?? [0, 0, 0])),
    summary: { ...meta.summary, change_classes: model.classNames },
  });
}
