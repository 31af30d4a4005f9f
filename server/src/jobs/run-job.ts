/**
 * One job, start to finish: prepare it (the same path the API checked it with), segment only the
 * window its area covers with the pixels outside masked to nodata, measure the classes, and
 * (optionally) vectorize. Runs inside a job worker thread, or in a remote worker process; writes
 * only into the job's own result folder.
 */
import path from 'node:path';
import type { ModelSpec } from '../infer/model-spec.ts';
import { openRaster, type OpenOptions } from '../read/open-raster.ts';
import { RasterReader } from '../read/raster-reader.ts';
import { segmentScene, type SegmentProgress, type SegmentSummary } from '../segment/segment-scene.ts';
import { prepareJob } from '../segment/prepare-job.ts';
import { maskStatistics, type MaskStatistics } from '../segment/class-statistics.ts';
import { RESULT_FILES } from '../catalog/result-catalog.ts';
import type { JobRequest } from './job-types.ts';
import { writeFileAtomic } from '../write/atomic-file.ts';
import { compareMasks } from '../change/compare-masks.ts';
import type { ChangeStatistics } from '../change/change-statistics.ts';
import { changePolygons } from '../change/change-polygons.ts';
import { maxFeaturesFromEnv } from '../vectorize/vectorize-mask.ts';

export interface JobRunInput {
  request: JobRequest;
  /** Where the dataset's bytes are: a local path or a URL. */
  datasetPath: string;
  /** The datasets' names, for the masks' SOURCE tags (their paths may be URLs ending in source.tif). */
  names?: { after: string; before?: string };
  /** A change job's BEFORE scene. */
  beforePath?: string | null;
  model: ModelSpec;
  /** The job's own result folder (the class mask, or for a change job the change mask). */
  resultDir: string;
  /** A change job's folders for the two class masks, or masks made earlier to reuse instead. */
  scenes?: { before: SceneTarget; after: SceneTarget };
  threads?: number;
  openOptions?: OpenOptions;
}

/** Where a change job's class mask goes, or the finished mask to reuse. */
export type SceneTarget = { dir: string } | { reuse: string };

export interface SceneOutput {
  summary: SegmentSummary | null;
  statistics: MaskStatistics | null;
  /** The mask the comparison used. */
  mask: string;
  reused: boolean;
}

export type JobRunOutput =
  | { kind: 'segment'; summary: SegmentSummary; statistics: MaskStatistics; features: string | null }
  | { kind: 'change'; before: SceneOutput; after: SceneOutput; statistics: ChangeStatistics; features: string | null; seconds: number };

export type VectorizeHook = (mask: string, out: string, opts: { minAreaM2?: number; simplifyPx?: number; signal?: AbortSignal; maxFeatures?: number }) => Promise<void>;

/**
 * A step's progress: the tiles of the scene being segmented (the last scene's once none is), and
 * `fraction`, the share of the whole job done (0..1), where a job has several steps.
 */
export type JobStepProgress = SegmentProgress & { fraction?: number };

export interface JobHooks {
  signal: AbortSignal;
  onProgress: (p: JobStepProgress, stage: string) => void;
  onNotice?: (text: string) => void;
  vectorize?: VectorizeHook;
}

/**
 * Segment one scene of a job into `mask` (in the job's result folder) and measure it. `scene.name`
 * is the dataset's name for the mask's SOURCE tag (its location may be a server URL).
 */
export async function segmentForJob(scene: { location: string; name?: string }, mask: string, input: JobRunInput, hooks: JobHooks, stage = 'segmenting'): Promise<{ summary: SegmentSummary; statistics: MaskStatistics }> {
  const { request, model } = input;
  // The job's cancel reaches the reads of a remote scene: it waited for a stalled server's deadlines.
  const openOptions = { ...input.openOptions, signal: hooks.signal };
  const reader = new RasterReader(await openRaster(scene.location, openOptions));
  let prepared;
  try {
    prepared = await prepareJob(reader, model, {
      area: request.area ?? undefined,
      tile: request.options.tile, overlap: request.options.overlap, batch: request.options.batch,
      bands: request.options.bands, sensor: request.options.sensor, allowUnsuitable: request.options.allowUnsuitable,
    });
  } finally {
    await reader.close();
  }
  const summary = await segmentScene({
    input: scene.location,
    sourceName: scene.name,
    openOptions,
    output: mask,
    model,
    tile: request.options.tile,
    overlap: request.options.overlap,
    batch: request.options.batch,
    device: request.options.device,
    threads: input.threads,
    bandChoice: prepared.bands,
    bandOffset: request.options.bandOffset,
    tta: request.options.tta,
    window: prepared.window,
    areaMask: prepared.areaMask,
    signal: hooks.signal,
    onNotice: hooks.onNotice,
    onProgress: (p) => hooks.onProgress(p, stage),
  });
  const maskSource = await openRaster(mask);
  try {
    return { summary, statistics: await maskStatistics(maskSource, model.classNames, model.classColors) };
  } finally {
    await maskSource.close();
  }
}

/** Share of a job's time that vectorizing its mask is counted as, when asked (an estimate). */
const VECTORIZE_SHARE = 0.05;

export async function runJob(input: JobRunInput, hooks: JobHooks): Promise<JobRunOutput> {
  if (input.beforePath) return runChangeJob(input, hooks);
  const mask = path.join(input.resultDir, RESULT_FILES.mask);
  const vector = Boolean(input.request.options.vector && hooks.vectorize);
  const share = vector ? 1 - VECTORIZE_SHARE : 1;
  const { summary, statistics } = await segmentForJob({ location: input.datasetPath, name: input.names?.after }, mask, input, {
    ...hooks,
    onProgress: (p, stage) => hooks.onProgress({ ...p, fraction: share * (p.tilesTotal ? p.tilesDone / p.tilesTotal : 0) }, stage),
  });
  await writeFileAtomic(path.join(input.resultDir, RESULT_FILES.stats), JSON.stringify(statistics, null, 2));
  let features: string | null = null;
  if (vector) {
    hooks.onProgress({ tilesDone: summary.tiles.total, tilesTotal: summary.tiles.total, mpxPerSec: summary.mpxPerSec, etaSeconds: null, elapsedSeconds: summary.seconds, fraction: share }, 'vectorizing');
    features = path.join(input.resultDir, RESULT_FILES.features);
    await hooks.vectorize!(mask, features, { minAreaM2: input.request.options.minAreaM2, simplifyPx: input.request.options.simplifyPx, signal: hooks.signal, maxFeatures: maxFeaturesFromEnv() });
  }
  return { kind: 'segment', summary, statistics, features };
}

/**
 * A change job: segment the before and the after scene over the same area (or reuse masks made
 * earlier with the same model, area and options), then compare them on the before grid.
 *
 * Progress runs over all the steps. Each scene to segment counts 1, the comparison 0.1 (it takes
 * about 1-2 % of a scene's segmentation on the CPU) and vectorizing, when asked, 0.05 of the whole;
 * a reused mask counts nothing. The time left while the before scene is segmented counts the after
 * scene as long again (both cover the same area); the comparison's and the vectorizing's are left
 * out until they run.
 */
async function runChangeJob(input: JobRunInput, hooks: JobHooks): Promise<JobRunOutput> {
  const started = performance.now();
  const scenes = input.scenes;
  if (!scenes || !input.beforePath) throw new Error('internal: a change job needs its before scene and scene folders');
  const toSegment = [scenes.before, scenes.after].filter((t) => !('reuse' in t)).length;
  const vector = Boolean(input.request.options.vector);
  const weights = toSegment + 0.1;
  const stepsShare = vector ? 1 - VECTORIZE_SHARE : 1;
  let done = 0; // weight of the steps finished
  let tiles = { tilesDone: 0, tilesTotal: 0, mpxPerSec: 0 };
  const report = (weightDone: number, p: Omit<SegmentProgress, 'tilesDone' | 'tilesTotal' | 'mpxPerSec'>, stage: string) => hooks.onProgress({
    ...tiles, ...p, fraction: (stepsShare * weightDone) / weights,
  }, stage);
  const sceneMask = async (scene: { location: string; name?: string }, target: SceneTarget, stage: string, scenesAfter: number): Promise<SceneOutput> => {
    if ('reuse' in target) {
      hooks.onNotice?.(`${stage.replace('segmenting ', '')} scene: reusing the mask made earlier with the same model, area and options`);
      return { summary: null, statistics: null, mask: target.reuse, reused: true };
    }
    const mask = path.join(target.dir, RESULT_FILES.mask);
    const { summary, statistics } = await segmentForJob(scene, mask, input, {
      ...hooks,
      onProgress: (p) => {
        tiles = { tilesDone: p.tilesDone, tilesTotal: p.tilesTotal, mpxPerSec: p.mpxPerSec };
        const f = p.tilesTotal ? p.tilesDone / p.tilesTotal : 0;
        const eta = p.etaSeconds === null ? null : p.etaSeconds + scenesAfter * (p.elapsedSeconds + p.etaSeconds);
        report(done + f, { etaSeconds: eta, elapsedSeconds: (performance.now() - started) / 1000 }, stage);
      },
    }, stage);
    await writeFileAtomic(path.join(target.dir, RESULT_FILES.stats), JSON.stringify(statistics, null, 2));
    done += 1;
    return { summary, statistics, mask, reused: false };
  };
  const before = await sceneMask({ location: input.beforePath, name: input.names?.before }, scenes.before, 'segmenting before', 'reuse' in scenes.after ? 0 : 1);
  const after = await sceneMask({ location: input.datasetPath, name: input.names?.after }, scenes.after, 'segmenting after', 0);
  const change = path.join(input.resultDir, RESULT_FILES.mask);
  const compared = await compareMasks({
    before: before.mask, after: after.mask, beforeName: input.names?.before ?? 'before', afterName: input.names?.after ?? 'after',
    area: input.request.area, out: change, signal: hooks.signal,
    onProgress: (p) => {
      const f = p.rowsTotal ? p.rowsDone / p.rowsTotal : 0;
      report(done + 0.1 * f, { etaSeconds: f > 0 ? (p.elapsedSeconds * (1 - f)) / f : null, elapsedSeconds: (performance.now() - started) / 1000 }, 'comparing');
    },
  });
  done += 0.1;
  await writeFileAtomic(path.join(input.resultDir, RESULT_FILES.stats), JSON.stringify(compared.statistics, null, 2));
  let features: string | null = null;
  if (vector) {
    report(done, { etaSeconds: null, elapsedSeconds: (performance.now() - started) / 1000 }, 'vectorizing');
    features = path.join(input.resultDir, RESULT_FILES.features);
    await changePolygons(change, features, { minAreaM2: input.request.options.minAreaM2, simplifyPx: input.request.options.simplifyPx, signal: hooks.signal, maxFeatures: maxFeaturesFromEnv() });
  }
  return { kind: 'change', before, after, statistics: compared.statistics, features, seconds: (performance.now() - started) / 1000 };
}
