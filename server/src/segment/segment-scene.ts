/**
 * The whole path for one scene: read → plan tiles → infer → blend → write.
 *
 * Reading, cutting and blending happen on this thread while the model runs the previous batch in
 * its worker, so the model is the only thing the wall time should be waiting on.
 */
import type { PixelBlock, Window } from '../read/raster.ts';
import { openRaster, type RasterSource } from '../read/raster-source.ts';
import { GeoTiffSource } from '../read/geotiff-source.ts';
import { groundResolutionMetres } from '../read/georef.ts';
import { planTiles, tileCount, type TilePlan } from '../plan/plan-tiles.ts';
import { cutTile, rowsNeeded, type Normalisation } from '../plan/cut-tile.ts';
import { resizePlanes } from '../plan/resize.ts';
import { hexToRgb, type ModelSpec } from '../infer/model-spec.ts';
import type { DeviceRequest, Model } from '../infer/model.ts';
import { WorkerModel } from '../infer/worker-model.ts';
import { RowBlender, NODATA_CLASS, type Strip } from '../blend/row-blender.ts';
import { CogWriter, type CogOptions } from '../write/cog-writer.ts';
import { selectBands } from './band-selection.ts';

/** Beyond this ratio between scene and model resolution, tiles are resampled to the model's. */
export const RESAMPLE_THRESHOLD = 1.5;

export interface SegmentProgress {
  tilesDone: number;
  tilesTotal: number;
  /** Scene megapixels per second so far. */
  mpxPerSec: number;
  etaSeconds: number | null;
  elapsedSeconds: number;
}

export interface SegmentOptions {
  input: string;
  output: string;
  model: ModelSpec;
  /** Model tile size in model pixels; default from the model. */
  tile?: number;
  /** Overlap in model pixels; default from the model's tiles_overlap. */
  overlap?: number;
  batch?: number;
  device?: DeviceRequest;
  threads?: number;
  bands?: number[];
  sensor?: string;
  /** Also write a confidence COG (max probability x 255) here. */
  scoresOutput?: string;
  /** Process only this pixel window of the scene (the output covers just the window). */
  window?: Window;
  /** 1 = inside the area, for `rows` full-width rows of the window starting at row `y`. */
  areaMask?: (y: number, rows: number, width: number) => Uint8Array;
  /** Use this model instead of opening one (tests, long-lived servers). */
  modelInstance?: Model;
  signal?: AbortSignal;
  onProgress?: (p: SegmentProgress) => void;
  onNotice?: (message: string) => void;
}

export interface SegmentSummary {
  input: string;
  output: string;
  scores: string | null;
  model: string;
  device: string;
  width: number;
  height: number;
  bands: number[];
  bandChoice: string;
  tile: number;
  overlap: number;
  batch: number;
  /** Scene pixels per model pixel along an axis when tiles were resampled, else null. */
  resampleFactor: number | null;
  tiles: { total: number; inferred: number; skipped: number };
  seconds: number;
  mpxPerSec: number;
  peakRssMb: number;
  /** Share of valid output pixels per class name (0..1). */
  classShares: Record<string, number>;
  classPixels: Record<string, number>;
  nodataPixels: number;
  overviews: number;
}

export class SegmentAbortedError extends Error {
  constructor() {
    super('segmentation cancelled');
    this.name = 'AbortError';
  }
}

interface PreparedTile {
  r: number;
  c: number;
  /** Index in the batch, or -1 when the tile is all nodata and skipped. */
  slot: number;
}

interface Batch {
  tiles: PreparedTile[];
  count: number;
  data: Float32Array;
}

function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

export async function segmentScene(opts: SegmentOptions): Promise<SegmentSummary> {
  const started = performance.now();
  const spec = opts.model;
  const source: RasterSource = await openRaster(opts.input);
  let model: Model | null = null;
  const writers: CogWriter[] = [];
  try {
    const info = source.info;
    const win: Window = opts.window ?? { x: 0, y: 0, width: info.width, height: info.height };
    if (win.x < 0 || win.y < 0 || win.width < 1 || win.height < 1 || win.x + win.width > info.width || win.y + win.height > info.height) {
      throw new Error(`window ${JSON.stringify(win)} is outside the ${info.width}x${info.height} scene`);
    }
    const choice = selectBands(spec, info, opts.bands, opts.sensor);

    // Tile geometry: in model pixels from the options or the model, then in scene pixels.
    const modelTile = spec.fixedTileSize ? spec.tileSize : (opts.tile ?? spec.tileSize);
    if (spec.fixedTileSize && opts.tile && opts.tile !== spec.tileSize) {
      opts.onNotice?.(`model ${spec.id} has a fixed ${spec.tileSize}px input; ignoring --tile ${opts.tile}`);
    }
    const modelOverlap = opts.overlap ?? 2 * Math.round((modelTile * spec.overlapPercent) / 200);
    let factor = 1;
    if (spec.resolutionCm) {
      const scene = groundResolutionMetres(info.geoTransform, info.height, info.crs);
      const ratio = scene / (spec.resolutionCm / 100);
      if (Math.max(ratio, 1 / ratio) > RESAMPLE_THRESHOLD && !info.crs.nonEarth) {
        factor = ratio;
        opts.onNotice?.(`scene resolution ${scene.toPrecision(3)} m differs from model ${spec.id}'s ${(spec.resolutionCm / 100).toPrecision(3)} m by ${Math.max(ratio, 1 / ratio).toFixed(1)}x; resampling tiles to the model's resolution and back${ratio > 2 ? '; upsampling adds no detail, so expect worse results than at the model\'s own resolution' : ''}`);
      }
    }
    const sceneTile = factor === 1 ? modelTile : Math.max(16, Math.round(modelTile / factor));
    const sceneOverlap = factor === 1 ? modelOverlap : Math.min(Math.floor((sceneTile - 1) / 2), Math.round(modelOverlap / factor));
    const plan: TilePlan = planTiles(win.width, win.height, sceneTile, sceneOverlap);
    const total = tileCount(plan);
    const batchSize = Math.max(1, opts.batch ?? 4);

    model = opts.modelInstance ?? await WorkerModel.open(spec, { device: opts.device, threads: opts.threads, onNotice: opts.onNotice });

    const classes = spec.classNames.length;
    const cogBase: Omit<CogOptions, 'nodata' | 'overviewResampling'> = {
      width: win.width,
      height: win.height,
      geoTransform: [info.geoTransform[0] + win.x * info.geoTransform[1], info.geoTransform[1], 0, info.geoTransform[3] + win.y * info.geoTransform[5], 0, info.geoTransform[5]],
      geoKeys: (source instanceof GeoTiffSource ? await source.geoKeyTags() : null) ?? { epsg: info.crs.epsg ?? 4326, geographic: info.crs.geographic },
      blockSize: 512,
    };
    const maskWriter = await CogWriter.create(opts.output, {
      ...cogBase,
      nodata: NODATA_CLASS,
      overviewResampling: 'mode',
      colorMap: spec.classColors.map(hexToRgb),
      bandDescription: 'class',
      metadata: {
        CLASS_NAMES: JSON.stringify(spec.classNames),
        CLASS_COLORS: JSON.stringify(spec.classColors),
        MODEL: spec.id,
        SOURCE: opts.input.split('/').pop() ?? opts.input,
        ...Object.fromEntries(spec.classNames.map((n, i) => [`CLASS_${i}`, n])),
      },
    });
    writers.push(maskWriter);
    const scoresWriter = opts.scoresOutput
      ? await CogWriter.create(opts.scoresOutput, { ...cogBase, nodata: 0, overviewResampling: 'average', bandDescription: 'confidence (max probability x 255)' })
      : null;
    if (scoresWriter) writers.push(scoresWriter);

    const norm: Normalisation = { scale: spec.inputScale, mean: spec.mean, std: spec.std };
    const blender = new RowBlender(plan, classes, scoresWriter !== null);
    const counts = new Float64Array(256);
    const bandsByRow = new Map<number, PixelBlock>();
    const inputPlane = modelTile * modelTile;

    const readRowBand = async (r: number): Promise<PixelBlock> => {
      const { lo, hi } = rowsNeeded(plan.ys[r]!, sceneTile, win.height);
      const block = await source.read({ x: win.x, y: win.y + lo, width: win.width, height: hi - lo }, { bands: choice.bands, signal: opts.signal });
      // Scene coordinates inside the window from here on.
      block.window = { x: 0, y: lo, width: win.width, height: hi - lo };
      if (opts.areaMask) {
        const inside = opts.areaMask(lo, hi - lo, win.width);
        for (let i = 0; i < inside.length; i++) if (!inside[i]) block.valid[i] = 0;
      }
      return block;
    };

    // Tiles in row-major order, cut into batches of `batchSize` non-empty tiles.
    let nextR = 0;
    let nextC = 0;
    let inferredCount = 0;
    const sceneTilePlane = sceneTile * sceneTile;
    const scratch = factor === 1 ? null : new Float32Array(spec.inputChannels * sceneTilePlane);
    const prepareBatch = async (): Promise<Batch | null> => {
      if (nextR >= plan.ys.length) return null;
      const length = batchSize * spec.inputChannels * inputPlane;
      const data = model!.inputBuffer?.(length) ?? new Float32Array(length);
      const tiles: PreparedTile[] = [];
      let count = 0;
      while (nextR < plan.ys.length && count < batchSize) {
        if (opts.signal?.aborted) throw new SegmentAbortedError();
        if (!bandsByRow.has(nextR)) bandsByRow.set(nextR, await readRowBand(nextR));
        const band = bandsByRow.get(nextR)!;
        const x0 = plan.xs[nextC]!;
        const y0 = plan.ys[nextR]!;
        let valid: number;
        if (scratch) {
          valid = cutTile(band, win.width, win.height, x0, y0, sceneTile, norm, scratch, 0);
          if (valid > 0) data.set(resizePlanes(scratch, spec.inputChannels, sceneTile, sceneTile, modelTile, modelTile), count * spec.inputChannels * inputPlane);
        } else {
          valid = cutTile(band, win.width, win.height, x0, y0, sceneTile, norm, data, count * spec.inputChannels * inputPlane);
        }
        tiles.push({ r: nextR, c: nextC, slot: valid > 0 ? count : -1 });
        if (valid > 0) count++;
        if (++nextC === plan.xs.length) { nextC = 0; nextR++; }
      }
      return { tiles, count, data };
    };

    const writeStrip = async (strip: Strip) => {
      for (let i = 0; i < strip.labels.length; i++) counts[strip.labels[i]!]++;
      await maskWriter.writeRows(strip.labels, strip.rows);
      if (scoresWriter && strip.confidence) await scoresWriter.writeRows(strip.confidence, strip.rows);
    };

    let currentRow = -1;
    let tilesDone = 0;
    const blendBatch = async (batch: Batch, probs: Float32Array | null) => {
      const outPlane = classes * inputPlane;
      for (const t of batch.tiles) {
        if (t.r !== currentRow) {
          if (currentRow >= 0) {
            await writeStrip(blender.endRow());
            bandsByRow.delete(currentRow);
          }
          currentRow = t.r;
          const band = bandsByRow.get(t.r)!;
          blender.beginRow(t.r, { y: band.window.y, rows: band.height, data: band.valid });
        }
        let tileProbs: Float32Array | null = null;
        if (t.slot >= 0 && probs) {
          tileProbs = probs.subarray(t.slot * outPlane, (t.slot + 1) * outPlane);
          if (factor !== 1) tileProbs = resizePlanes(tileProbs, classes, modelTile, modelTile, sceneTile, sceneTile);
        }
        blender.addTile(t.c, tileProbs);
        tilesDone++;
      }
      const elapsed = (performance.now() - started) / 1000;
      const mpx = (tilesDone / total) * (win.width * win.height) / 1e6;
      opts.onProgress?.({ tilesDone, tilesTotal: total, mpxPerSec: elapsed > 0 ? mpx / elapsed : 0, etaSeconds: tilesDone > 0 ? (elapsed * (total - tilesDone)) / tilesDone : null, elapsedSeconds: elapsed });
    };

    const infer = (batch: Batch): Promise<Float32Array | null> => {
      if (batch.count === 0) return Promise.resolve(null);
      inferredCount += batch.count;
      const input = batch.count === batchSize ? batch.data : batch.data.slice(0, batch.count * spec.inputChannels * inputPlane);
      const result = model!.run(input, batch.count, modelTile, modelTile);
      // Awaited later; if preparing the next batch fails first, this must not surface as unhandled.
      result.catch(() => undefined);
      return result;
    };

    // One batch in flight while the next is prepared.
    let pending = await prepareBatch();
    let inflight = pending ? infer(pending) : null;
    while (pending) {
      const next = await prepareBatch();
      const probs = await inflight!;
      const nextInflight = next ? infer(next) : null;
      await blendBatch(pending, probs);
      if (opts.signal?.aborted) throw new SegmentAbortedError();
      pending = next;
      inflight = nextInflight;
    }
    if (currentRow >= 0) await writeStrip(blender.endRow());

    await maskWriter.finish();
    if (scoresWriter) await scoresWriter.finish();
    writers.length = 0;

    const seconds = (performance.now() - started) / 1000;
    const validPixels = win.width * win.height - counts[NODATA_CLASS]!;
    return {
      input: opts.input,
      output: opts.output,
      scores: opts.scoresOutput ?? null,
      model: spec.id,
      device: model.device,
      width: win.width,
      height: win.height,
      bands: choice.bands,
      bandChoice: choice.how,
      tile: modelTile,
      overlap: modelOverlap,
      batch: batchSize,
      resampleFactor: factor === 1 ? null : factor,
      tiles: { total, inferred: inferredCount, skipped: total - inferredCount },
      seconds,
      mpxPerSec: (win.width * win.height) / 1e6 / seconds,
      peakRssMb: peakRssMb(),
      classShares: Object.fromEntries(spec.classNames.map((n, i) => [n, validPixels > 0 ? counts[i]! / validPixels : 0])),
      classPixels: Object.fromEntries(spec.classNames.map((n, i) => [n, counts[i]!])),
      nodataPixels: counts[NODATA_CLASS]!,
      overviews: maskWriter.overviewCount,
    };
  } finally {
    for (const w of writers) await w.abort();
    if (model && !opts.modelInstance) await model.close();
    await source.close();
  }
}
