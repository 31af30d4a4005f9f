/**
 * `satseg segment <input> --model <id> --out <mask.tif>`: the input is a local GeoTIFF or an
 * http(s) URL of a COG; it goes through the same preparation as an API job (prepareJob).
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { SingleBar } from 'cli-progress';
import { ModelRegistry } from '../infer/model-registry.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import { segmentScene, type SegmentProgress, type SegmentSummary } from '../segment/segment-scene.ts';
import { prepareJob } from '../segment/prepare-job.ts';
import { openRaster, isRemote } from '../read/open-raster.ts';
import { RasterReader } from '../read/raster-reader.ts';
import { AreaError, UsageError } from '../errors.ts';
import { bandList, bboxFlag, offsetFlag, checkDistinctFiles, checkOutputPath, deviceFlag, cliMaxFeatures, intFlag, openCommandRaster, parseFlags, readAreaFile } from './cli-options.ts';

export const SegmentFlags = z.object({
  model: z.string().min(1),
  out: z.string().min(1),
  tile: intFlag(16).optional(),
  overlap: intFlag(0).optional(),
  batch: intFlag(1).default(4),
  device: deviceFlag.default('auto'),
  threads: intFlag(1, 1024).optional(),
  bands: bandList.optional(),
  sensor: z.string().min(1).optional(),
  offset: offsetFlag.optional(),
  scores: z.string().min(1).optional(),
  json: z.boolean().optional(),
  progress: z.boolean().optional(),
  register: z.boolean().optional(),
  data: z.string().optional(),
  bbox: bboxFlag.optional(),
  area: z.string().optional(),
  vector: z.string().optional(),
  tta: z.boolean().optional(),
  force: z.boolean().optional(),
});

export type SegmentCommandOptions = z.input<typeof SegmentFlags>;

/**
 * The working memory a run's tiles and batch may take: SATSEG_MAX_JOB_MEMORY_MB where set, else
 * half this machine's memory. Without it, --tile 100000 or --batch 100000 died on an allocation
 * ("Invalid typed array length") instead of saying what to lower.
 */
export function cliMemoryLimit(): number {
  const mb = Number(process.env.SATSEG_MAX_JOB_MEMORY_MB);
  return mb > 0 ? mb * 2 ** 20 : os.totalmem() / 2;
}

export function formatSummary(s: SegmentCommandResult): string {
  const shares = Object.entries(s.classShares)
    .sort((a, b) => b[1] - a[1])
    .map(([name, share]) => `${name} ${(share * 100).toFixed(1)}%`)
    .join(', ');
  const skipped = s.tiles.skipped ? ` (${s.tiles.skipped} all-nodata tiles skipped)` : '';
  const nodata = s.nodataPixels ? ` ${(100 * s.nodataPixels / (s.width * s.height)).toFixed(1)}% of pixels are nodata.` : '';
  const r = s.resampled;
  const resampled = !r ? '' : Math.abs(r.x - r.y) < 0.005
    ? ` Tiles were resampled ${r.x.toFixed(2)}x to the model's resolution.`
    : ` Tiles were resampled ${r.x.toFixed(2)}x across and ${r.y.toFixed(2)}x down to the model's square pixels.`;
  const tta = s.tta ? ' with 4-flip test-time augmentation' : '';
  const c = s.coarsened;
  const averaged = c ? `averaged in ${c.x} x ${c.y} blocks to ` : '';
  return `Segmented ${path.basename(s.input)} (${averaged}${s.width} x ${s.height} px, bands ${s.bands.join(',')}: ${s.bandChoice}) with ${s.model}${tta} on ${s.device.toUpperCase()}: `
    + `${s.tiles.total} tile${s.tiles.total === 1 ? '' : 's'} of ${s.tile} px with ${s.overlap} px overlap${skipped} in ${s.seconds.toFixed(1)} s, `
    + `${s.mpxPerSec.toFixed(2)} Mpx/s, peak memory ${s.peakRssMb} MB.${resampled} Class shares: ${shares || 'none'}.${nodata} `
    + `Wrote ${s.output}${s.scores ? ` and ${s.scores}` : ''} (COG, ${s.overviews} overview${s.overviews === 1 ? '' : 's'}).`
    + (s.vector ? ` Vectorized ${s.vector.features} polygon${s.vector.features === 1 ? '' : 's'} into ${s.vector.output}.` : '')
    + (s.resultId ? ` Registered as result ${s.resultId}.` : '');
}

export interface SegmentCommandResult extends SegmentSummary {
  /** The result id when --register was given. */
  resultId?: string;
  /** Polygons written by --vector. */
  vector?: { output: string; features: number; featuresByClass: Record<string, number>; seconds: number };
}

/** Copy the outputs into the data folder as a result the server shows, with its statistics. */
async function registerOutputs(summary: SegmentSummary, spec: ModelSpec, dataDir: string): Promise<string> {
  // Loaded only for --register (SQLite and the catalogs), as the vectorizer only for --vector: a
  // plain run starts that much sooner.
  const [{ openCatalogDb }, { DatasetCatalog }, { ResultCatalog }, { maskStatistics }] = await Promise.all([
    import('../catalog/catalog-db.ts'), import('../catalog/dataset-catalog.ts'), import('../catalog/result-catalog.ts'), import('../segment/class-statistics.ts'),
  ]);
  const db = openCatalogDb(dataDir);
  try {
    const datasets = new DatasetCatalog(db, dataDir);
    const inputPath = isRemote(summary.input) ? summary.input : path.resolve(summary.input);
    const dataset = datasets.list().find((d) => (d.origin === 'url' ? d.path : path.resolve(datasets.location(d))) === inputPath);
    const mask = await openRaster(summary.output);
    const statistics = await maskStatistics(mask, spec.classNames, spec.classColors).finally(() => mask.close());
    const record = await new ResultCatalog(db, dataDir).importFiles({ mask: summary.output, scores: summary.scores, stats: JSON.stringify(statistics, null, 2) }, {
      datasetId: dataset?.id ?? null,
      modelId: spec.id,
      name: `${path.basename(summary.input).split('?')[0]!.replace(/\.[^.]+$/, '')} · ${spec.id}`,
      classes: spec.classNames,
      colors: spec.classColors,
      summary: { ...summary, statistics } as unknown as Record<string, unknown>,
    });
    return record.id;
  } finally {
    db.close();
  }
}

/**
 * `yieldToModel`: the process ends with this scene, so its threads other than the model's may take
 * the lowest priority (thread-priority.ts); the `satseg` command sets it, an in-process caller
 * (a test beside a server) does not.
 */
export async function runSegment(input: string, options: SegmentCommandOptions, registry = new ModelRegistry(), { yieldToModel = false } = {}): Promise<SegmentCommandResult> {
  const o = parseFlags(SegmentFlags, options);
  checkOutputPath(o.out, '--out');
  if (o.scores) checkOutputPath(o.scores, '--scores');
  if (o.vector) {
    try {
      const { checkVectorOutput } = await import('../vectorize/vectorize-mask.ts');
      checkVectorOutput(o.vector);
    } catch (err) {
      throw new UsageError(`--vector: ${(err as Error).message}`);
    }
  }
  // Outputs are renamed into place: --out naming the scene replaced it with its own mask.
  checkDistinctFiles(isRemote(input) ? [] : [input], [['--out', o.out], ['--scores', o.scores], ['--vector', o.vector]]);
  if (o.bbox && o.area) throw new UsageError('give --bbox or --area, not both');
  const spec = registry.get(o.model);

  const reader = new RasterReader(await openCommandRaster(input));
  let prepared;
  try {
    prepared = await prepareJob(reader, spec, {
      area: o.area ? readAreaFile(o.area) : undefined, bbox: o.bbox,
      tile: o.tile, overlap: o.overlap, batch: o.batch, bands: o.bands, sensor: o.sensor, allowUnsuitable: o.force,
    }, { maxJobMemoryBytes: cliMemoryLimit() });
  } catch (err) {
    if (err instanceof AreaError) throw new UsageError(`${o.bbox ? '--bbox' : '--area'}: ${err.message}`);
    if (err instanceof Error && /does not suit/.test(err.message)) throw new UsageError(err.message.replace('options.allow_unsuitable', '--force'));
    throw err;
  } finally {
    await reader.close();
  }
  const region = o.area || o.bbox ? { window: prepared.window, areaMask: prepared.areaMask } : {};
  for (const notice of prepared.notices) if (!prepared.geometry.notices.includes(notice)) process.stderr.write(`satseg: ${notice}\n`);

  const showProgress = o.progress !== false;
  let bar: SingleBar | null = null;
  let lastLine = 0;
  // What the run says as it starts (e.g. 'CUDA not available; running on CPU') is printed once its
  // first tiles are done: a run that fails before then ends with its one error line alone.
  const held: string[] = [];
  let running = false;
  const say = (m: string) => process.stderr.write(`satseg: ${m}\n`);
  const startRunning = () => { if (!running) { running = true; held.splice(0).forEach(say); } };
  const onProgress = (p: SegmentProgress) => {
    if (p.tilesDone > 0) startRunning();
    if (!showProgress) return;
    if (process.stderr.isTTY) {
      bar ??= new SingleBar({
        stream: process.stderr,
        format: 'segmenting [{bar}] {value}/{total} tiles | {mpx} Mpx/s | ETA {eta_s}',
        hideCursor: true,
      });
      if (!bar.isActive) bar.start(p.tilesTotal, 0, { mpx: '0.00', eta_s: '?' });
      bar.update(p.tilesDone, { mpx: p.mpxPerSec.toFixed(2), eta_s: p.etaSeconds === null ? '?' : `${Math.ceil(p.etaSeconds)}s` });
    } else if (p.tilesDone === p.tilesTotal || Date.now() - lastLine > 5000) {
      lastLine = Date.now();
      process.stderr.write(`segmenting: ${p.tilesDone}/${p.tilesTotal} tiles, ${p.mpxPerSec.toFixed(2)} Mpx/s, ETA ${p.etaSeconds === null ? '?' : `${Math.ceil(p.etaSeconds)} s`}\n`);
    }
  };
  try {
    const summary: SegmentCommandResult = await segmentScene({
      input,
      output: o.out,
      model: spec,
      tile: o.tile,
      overlap: o.overlap,
      batch: o.batch,
      device: o.device,
      threads: o.threads,
      bandChoice: prepared.bands,
      bandOffset: o.offset,
      scoresOutput: o.scores,
      tta: o.tta,
      yieldToModel,
      ...region,
      onProgress,
      onNotice: (m) => (running ? say(m) : held.push(m)),
    });
    startRunning();
    if (o.vector) {
      const { vectorizeMask } = await import('../vectorize/vectorize-mask.ts');
      const v = await vectorizeMask({ mask: summary.output, out: o.vector, maxFeatures: cliMaxFeatures() });
      summary.vector = { output: v.output, features: v.features, featuresByClass: v.featuresByClass, seconds: v.seconds };
    }
    if (o.register) summary.resultId = await registerOutputs(summary, spec, path.resolve(o.data ?? process.env.SATSEG_DATA ?? 'data'));
    return summary;
  } finally {
    (bar as SingleBar | null)?.stop();
  }
}
