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

export interface JobRunInput {
  request: JobRequest;
  /** Where the dataset's bytes are: a local path or a URL. */
  datasetPath: string;
  /** A change job's BEFORE scene. */
  beforePath?: string | null;
  model: ModelSpec;
  resultDir: string;
  threads?: number;
  openOptions?: OpenOptions;
}

export interface JobRunOutput {
  summary: SegmentSummary;
  statistics: MaskStatistics;
  features: string | null;
}

export type VectorizeHook = (mask: string, out: string, opts: { minAreaM2?: number; simplifyPx?: number; signal?: AbortSignal }) => Promise<void>;

export interface JobHooks {
  signal: AbortSignal;
  onProgress: (p: SegmentProgress, stage: string) => void;
  onNotice?: (text: string) => void;
  vectorize?: VectorizeHook;
}

/** Segment one scene of a job into `mask` (in the job's result folder) and measure it. */
export async function segmentForJob(location: string, mask: string, input: JobRunInput, hooks: JobHooks, stage = 'segmenting'): Promise<{ summary: SegmentSummary; statistics: MaskStatistics }> {
  const { request, model } = input;
  const reader = new RasterReader(await openRaster(location, input.openOptions));
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
    input: location,
    openOptions: input.openOptions,
    output: mask,
    model,
    tile: request.options.tile,
    overlap: request.options.overlap,
    batch: request.options.batch,
    device: request.options.device,
    threads: input.threads,
    bandChoice: prepared.bands,
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

export async function runJob(input: JobRunInput, hooks: JobHooks): Promise<JobRunOutput> {
  const mask = path.join(input.resultDir, RESULT_FILES.mask);
  const { summary, statistics } = await segmentForJob(input.datasetPath, mask, input, hooks);
  await writeFileAtomic(path.join(input.resultDir, RESULT_FILES.stats), JSON.stringify(statistics, null, 2));
  let features: string | null = null;
  if (input.request.options.vector && hooks.vectorize) {
    hooks.onProgress({ tilesDone: summary.tiles.total, tilesTotal: summary.tiles.total, mpxPerSec: summary.mpxPerSec, etaSeconds: null, elapsedSeconds: summary.seconds }, 'vectorizing');
    features = path.join(input.resultDir, RESULT_FILES.features);
    await hooks.vectorize(mask, features, { minAreaM2: input.request.options.minAreaM2, simplifyPx: input.request.options.simplifyPx, signal: hooks.signal });
  }
  return { summary, statistics, features };
}
