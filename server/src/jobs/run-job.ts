/**
 * One job, start to finish: place the area on the dataset's grid, segment only the window it
 * covers with the pixels outside masked to nodata, measure the classes, and (optionally)
 * vectorize. Runs inside a job worker thread; writes only into the job's own result folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openRaster } from '../read/raster-source.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import { segmentScene, type SegmentProgress, type SegmentSummary } from '../segment/segment-scene.ts';
import { maskStatistics, type MaskStatistics } from '../segment/class-statistics.ts';
import { RESULT_FILES } from '../catalog/result-catalog.ts';
import { areaOnGrid, AreaError } from '../segment/segment-area.ts';
import type { JobRequest } from './job-types.ts';

export interface JobRunInput {
  request: JobRequest;
  datasetPath: string;
  model: ModelSpec;
  resultDir: string;
  threads?: number;
}

export interface JobRunOutput {
  summary: SegmentSummary;
  statistics: MaskStatistics;
  features: string | null;
}

export type VectorizeHook = (mask: string, out: string, opts: { minAreaM2?: number; simplifyPx?: number; signal?: AbortSignal }) => Promise<void>;

async function writeJson(file: string, value: unknown): Promise<void> {
  await fs.promises.writeFile(`${file}.tmp`, JSON.stringify(value, null, 2));
  await fs.promises.rename(`${file}.tmp`, file);
}

export async function runJob(input: JobRunInput, hooks: {
  signal: AbortSignal;
  onProgress: (p: SegmentProgress, stage: string) => void;
  onNotice?: (text: string) => void;
  vectorize?: VectorizeHook;
}): Promise<JobRunOutput> {
  const { request, model } = input;
  const source = await openRaster(input.datasetPath);
  const { info } = source;
  await source.close();
  let window;
  let areaMask;
  if (request.area) {
    const grid = areaOnGrid(request.area, info.geoTransform, info.width, info.height, info.crs);
    if (!grid) throw new AreaError('the area does not overlap the dataset');
    window = grid.window;
    areaMask = grid.mask;
  }
  const mask = path.join(input.resultDir, RESULT_FILES.mask);
  const summary = await segmentScene({
    input: input.datasetPath,
    output: mask,
    model,
    tile: request.options.tile,
    overlap: request.options.overlap,
    batch: request.options.batch,
    device: request.options.device,
    threads: input.threads,
    bands: request.options.bands,
    sensor: request.options.sensor,
    window,
    areaMask,
    signal: hooks.signal,
    onNotice: hooks.onNotice,
    onProgress: (p) => hooks.onProgress(p, 'segmenting'),
  });
  const maskSource = await openRaster(mask);
  const statistics = await maskStatistics(maskSource, model.classNames, model.classColors);
  await maskSource.close();
  await writeJson(path.join(input.resultDir, RESULT_FILES.stats), statistics);
  let features: string | null = null;
  if (request.options.vector && hooks.vectorize) {
    hooks.onProgress({ tilesDone: summary.tiles.total, tilesTotal: summary.tiles.total, mpxPerSec: summary.mpxPerSec, etaSeconds: null, elapsedSeconds: summary.seconds }, 'vectorizing');
    features = path.join(input.resultDir, RESULT_FILES.features);
    await hooks.vectorize(mask, features, { minAreaM2: request.options.minAreaM2, simplifyPx: request.options.simplifyPx, signal: hooks.signal });
  }
  return { summary, statistics, features };
}
