/**
 * `satseg segment <input> --model <id> --out <mask.tif>`
 */
import fs from 'node:fs';
import path from 'node:path';
import { SingleBar } from 'cli-progress';
import { ModelRegistry } from '../infer/model-registry.ts';
import type { DeviceRequest } from '../infer/model.ts';
import { segmentScene, type SegmentProgress, type SegmentSummary } from '../segment/segment-scene.ts';
import { UsageError } from './cli-errors.ts';
import { openRaster } from '../read/raster-source.ts';
import { areaOnGrid, AreaError, parseArea, repairArea } from '../segment/segment-area.ts';
import { checkVectorOutput, vectorizeMask } from '../vectorize/vectorize-mask.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import { openCatalogDb } from '../catalog/catalog-db.ts';
import { DatasetCatalog } from '../catalog/dataset-catalog.ts';
import { ResultCatalog } from '../catalog/result-catalog.ts';

export interface SegmentCommandOptions {
  model: string;
  out: string;
  tile?: string;
  overlap?: string;
  batch?: string;
  device?: string;
  threads?: string;
  bands?: string;
  sensor?: string;
  scores?: string;
  json?: boolean;
  progress?: boolean;
  /** Also register the mask as a result in the data folder (served by `satseg serve`). */
  register?: boolean;
  data?: string;
  /** Segment only this lon/lat box: "west,south,east,north". */
  bbox?: string;
  /** Segment only this GeoJSON (Multi)Polygon file, EPSG:4326. */
  area?: string;
  /** Also vectorize the mask into this .geojson / .fgb file. */
  vector?: string;
}

/** The --bbox / --area option as a window and a mask on the scene's grid. */
async function areaOption(input: string, o: SegmentCommandOptions): Promise<Pick<Parameters<typeof segmentScene>[0], 'window' | 'areaMask'>> {
  if (!o.bbox && !o.area) return {};
  if (o.bbox && o.area) throw new UsageError('give --bbox or --area, not both');
  let area;
  try {
    const bbox = o.bbox ? o.bbox.split(',').map((v) => Number(v.trim())) : undefined;
    const geojson = o.area ? JSON.parse(fs.readFileSync(o.area, 'utf8')) : undefined;
    area = parseArea(geojson, bbox);
    if (!area) return {};
    area = repairArea(area).area;
  } catch (err) {
    if (err instanceof AreaError) throw new UsageError(`${o.bbox ? '--bbox' : '--area'}: ${err.message}`);
    if (err instanceof SyntaxError || (err as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`--area: cannot read ${o.area}: ${(err as Error).message}`);
    throw err;
  }
  const source = await openRaster(input);
  try {
    const { info } = source;
    const grid = areaOnGrid(area, info.geoTransform, info.width, info.height, info.crs);
    if (!grid) throw new UsageError(`${o.bbox ? '--bbox' : '--area'} does not overlap ${path.basename(input)}`);
    return { window: grid.window, areaMask: grid.mask };
  } finally {
    await source.close();
  }
}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer (got "${value}")`);
  return n;
}

function checkOutputPath(file: string, flag: string): void {
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new UsageError(`${flag}: output folder does not exist: ${dir}`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UsageError(`${flag}: ${file} is a folder, not a file path`);
}

export function formatSummary(s: SegmentCommandResult): string {
  const shares = Object.entries(s.classShares)
    .sort((a, b) => b[1] - a[1])
    .map(([name, share]) => `${name} ${(share * 100).toFixed(1)}%`)
    .join(', ');
  const skipped = s.tiles.skipped ? ` (${s.tiles.skipped} all-nodata tiles skipped)` : '';
  const nodata = s.nodataPixels ? ` ${(100 * s.nodataPixels / (s.width * s.height)).toFixed(1)}% of pixels are nodata.` : '';
  const resampled = s.resampleFactor ? ` Tiles were resampled ${s.resampleFactor.toFixed(2)}x to the model's resolution.` : '';
  return `Segmented ${path.basename(s.input)} (${s.width} x ${s.height} px, bands ${s.bands.join(',')}: ${s.bandChoice}) with ${s.model} on ${s.device.toUpperCase()}: `
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

/** Copy the outputs into the data folder as a result the server shows. */
async function registerOutputs(summary: SegmentSummary, spec: ModelSpec, dataDir: string): Promise<string> {
  const db = openCatalogDb(dataDir);
  try {
    const datasets = new DatasetCatalog(db, dataDir);
    const inputPath = path.resolve(summary.input);
    const dataset = datasets.list().find((d) => path.resolve(datasets.filePath(d)) === inputPath);
    const record = await new ResultCatalog(db, dataDir).importFiles({ mask: summary.output, scores: summary.scores }, {
      datasetId: dataset?.id ?? null,
      modelId: spec.id,
      name: `${path.basename(summary.input).replace(/\.[^.]+$/, '')} · ${spec.id}`,
      classes: spec.classNames,
      colors: spec.classColors,
      summary: summary as unknown as Record<string, unknown>,
    });
    return record.id;
  } finally {
    db.close();
  }
}

export async function runSegment(input: string, o: SegmentCommandOptions, registry = new ModelRegistry()): Promise<SegmentCommandResult> {
  const device = (o.device ?? 'auto') as DeviceRequest;
  if (!['auto', 'cpu', 'cuda'].includes(device)) throw new UsageError(`--device must be auto, cpu or cuda (got "${o.device}")`);
  checkOutputPath(o.out, '--out');
  if (o.scores) checkOutputPath(o.scores, '--scores');
  if (o.vector) {
    try {
      checkVectorOutput(o.vector);
    } catch (err) {
      throw new UsageError(`--vector: ${(err as Error).message}`);
    }
  }
  if (o.scores && path.resolve(o.scores) === path.resolve(o.out)) throw new UsageError('--scores must differ from --out');
  const bands = o.bands ? o.bands.split(',').map((b) => {
    const n = Number(b.trim());
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--bands must list 1-based band numbers like 1,2,3 (got "${o.bands}")`);
    return n;
  }) : undefined;
  const spec = registry.get(o.model);
  const batch = positiveInt('batch', o.batch);
  if (batch === 0) throw new UsageError('--batch must be at least 1');

  const region = await areaOption(input, o);
  const showProgress = o.progress !== false;
  let bar: SingleBar | null = null;
  let lastLine = 0;
  const onProgress = (p: SegmentProgress) => {
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
      tile: positiveInt('tile', o.tile),
      overlap: positiveInt('overlap', o.overlap),
      batch,
      device,
      threads: positiveInt('threads', o.threads),
      bands,
      sensor: o.sensor,
      scoresOutput: o.scores,
      ...region,
      onProgress,
      onNotice: (m) => process.stderr.write(`satseg: ${m}\n`),
    });
    if (o.vector) {
      const v = await vectorizeMask({ mask: summary.output, out: o.vector });
      summary.vector = { output: v.output, features: v.features, featuresByClass: v.featuresByClass, seconds: v.seconds };
    }
    if (o.register) summary.resultId = await registerOutputs(summary, spec, path.resolve(o.data ?? process.env.SATSEG_DATA ?? 'data'));
    return summary;
  } finally {
    (bar as SingleBar | null)?.stop();
  }
}
