/**
 * The whole path for one scene: read → plan tiles → infer → blend → write, as named parts:
 * tileGeometry() plans, a TileBatcher reads and cuts, the model runs, a RowBlender blends, and the
 * class-mask writers write. This file is the loop that drives them.
 *
 * Reading, cutting and blending happen on this thread while the model runs the previous batch in
 * its worker, so the model is the only thing the wall time should be waiting on.
 */
import path from 'node:path';
import { windowTransform, type Window } from '../read/raster.ts';
import type { RasterSource } from '../read/raster-source.ts';
import { openRaster, type OpenOptions } from '../read/open-raster.ts';
import { tileCount } from '../plan/plan-tiles.ts';
import type { Normalisation } from '../plan/cut-tile.ts';
import { bandOffsets } from './band-offset.ts';
import { startNotices, valueNotices } from './input-hints.ts';
import { resamplePlanes } from '../plan/resize.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import type { DeviceRequest, Model } from '../infer/model.ts';
import { WorkerModel } from '../infer/worker-model.ts';
import { FlipTtaModel } from '../infer/flip-tta.ts';
import { RowBlender, NODATA_CLASS, type Strip } from '../blend/row-blender.ts';
import type { CogWriter } from '../write/cog-writer.ts';
import { createClassMaskWriter, createConfidenceWriter } from '../write/class-mask.ts';
import { selectBands, type BandChoice } from './band-selection.ts';
import { tileGeometry } from './tile-geometry.ts';
import { coarsenedBy, coarseningNotice, onModelGrid } from './model-grid.ts';
import { TileBatcher, type AreaMask, type Batch } from './tile-batcher.ts';
import { SegmentAbortedError } from '../errors.ts';
import { addByteCounts } from '../byte-histogram.ts';

export interface SegmentProgress {
  tilesDone: number;
  tilesTotal: number;
  /** Scene megapixels per second so far. */
  mpxPerSec: number;
  etaSeconds: number | null;
  elapsedSeconds: number;
}

export interface SegmentOptions {
  /** A path or an http(s) URL. */
  input: string;
  /** The scene's name for the mask's SOURCE tag; default the input's file name (a worker reads a URL that ends in source.tif). */
  sourceName?: string;
  /** How a URL input is read (timeouts, SSRF guard). */
  openOptions?: OpenOptions;
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
  /** More GDAL metadata items for the mask, beside its classes, MODEL and SOURCE (what else made it). */
  metadata?: Record<string, string>;
  /**
   * Process only this pixel window (the output covers just the window): in pixels of the grid the
   * model segments on (prepareJob's `info`), which is the scene's own unless it is much finer than
   * the model (model-grid.ts).
   */
  window?: Window;
  /** 1 = inside the area, for `rows` full-width rows of the window starting at row `y`. */
  areaMask?: AreaMask;
  /** Bands already chosen (by prepareJob); else chosen here from bands / sensor. */
  bandChoice?: BandChoice;
  /**
   * Segment on the scene's own grid even where it is much finer than the model (model-grid.ts):
   * for measuring what averaging first changes (models/aerial-landcover/check-drone-pixels.ts).
   */
  sceneGrid?: boolean;
  /** Added to every chosen band's values before the model; default what the file declares (band-offset.ts). */
  bandOffset?: number;
  /** Average each tile's probabilities over its four flips (test-time augmentation, 4x inference). */
  tta?: boolean;
  /** Use this model instead of opening one (tests, long-lived servers). */
  modelInstance?: Model;
  /**
   * Once the model this call opens is running on the CPU, give the process's other threads the
   * lowest priority, so that the model's threads get the cores first (thread-priority.ts). For a
   * command that ends with its work: never in a server. Ignored with `modelInstance`.
   */
  yieldToModel?: boolean;
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
  /** Added to each band's values before the model (band-offset.ts): one per band, 0 for none. */
  bandOffsets: number[];
  tile: number;
  overlap: number;
  batch: number;
  tta: boolean;
  /**
   * Scene pixels averaged into one pixel of the mask along x and y, for a scene much finer than the
   * model (model-grid.ts); else null, and the mask is on the scene's grid.
   */
  coarsened: { x: number; y: number } | null;
  /** Model pixels per pixel of the mask's grid along x and y when tiles were resampled, else null. */
  resampled: { x: number; y: number } | null;
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

function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

export async function segmentScene(opts: SegmentOptions): Promise<SegmentSummary> {
  const started = performance.now();
  const spec = opts.model;
  const scene: RasterSource = await openRaster(opts.input, opts.openOptions);
  const source = opts.sceneGrid ? scene : onModelGrid(spec, scene);
  let opening: Promise<Model> | null = null;
  let closing: Promise<void> | null = null;
  // The model this call opened is closed as soon as its last batch is back, so that its thread
  // winds down while the last rows are blended and written.
  const closeOwnModel = () => (closing ??= opening ? opening.then((m) => m.close(), () => undefined) : Promise.resolve());
  const writers: CogWriter[] = [];
  try {
    const info = source.info;
    const win: Window = opts.window ?? { x: 0, y: 0, width: info.width, height: info.height };
    if (win.x < 0 || win.y < 0 || win.width < 1 || win.height < 1 || win.x + win.width > info.width || win.y + win.height > info.height) {
      throw new Error(`window ${JSON.stringify(win)} is outside the ${info.width}x${info.height} scene`);
    }
    const choice = opts.bandChoice ?? selectBands(spec, info, opts.bands, opts.sensor);
    const averaged = coarseningNotice(spec, scene.info, source);
    const coarsened = coarsenedBy(source);
    // Speeds count the scene's pixels, averaged or not (what a user's file holds).
    const scenePixels = win.width * win.height * (coarsened ? coarsened.x * coarsened.y : 1);
    if (averaged) opts.onNotice?.(averaged);
    const geometry = tileGeometry(spec, info, win, { tile: opts.tile, overlap: opts.overlap });
    for (const notice of geometry.notices) opts.onNotice?.(notice);
    const { plan, resampled, modelTile } = geometry;
    const total = tileCount(plan);
    const batchSize = Math.max(1, opts.batch ?? 4);

    // The model's thread starts and loads while this thread creates the outputs and reads and cuts
    // the first batch: each takes about a tenth of a second at the start of every scene.
    if (!opts.modelInstance) {
      opening = WorkerModel.open(spec, { device: opts.device, threads: opts.threads, onNotice: opts.onNotice, yieldCores: opts.yieldToModel });
      opening.catch(() => undefined); // awaited below, or in finally if something fails first
    }
    let runner: Model | null = opts.modelInstance ?? null;

    const classes = spec.classNames.length;
    const target = { width: win.width, height: win.height, geoTransform: windowTransform(info.geoTransform, win), crs: info.crs };
    const maskWriter = await createClassMaskWriter(opts.output, target, {
      classNames: spec.classNames, classColors: spec.classColors, model: spec.id, source: opts.sourceName ?? opts.input.split('/').pop()?.split('?')[0] ?? null,
    }, opts.metadata);
    writers.push(maskWriter);
    const scoresWriter = opts.scoresOutput ? await createConfidenceWriter(opts.scoresOutput, target) : null;
    if (scoresWriter) writers.push(scoresWriter);

    const shift = bandOffsets(info, choice.bands, opts.bandOffset);
    const modelSensors = Object.keys(spec.bands.sensors);
    const sceneName = opts.sourceName ?? path.basename(opts.input.split('?')[0]!);
    for (const notice of startNotices({ info, choice, shift, modelSensors, sceneName })) opts.onNotice?.(notice);
    const norm: Normalisation = { scale: spec.inputScale, mean: spec.mean, std: spec.std, offset: shift.offsets };
    const blender = new RowBlender(plan, classes, scoresWriter !== null);
    const batcher = new TileBatcher({ source, window: win, bands: choice.bands, geometry, channels: spec.inputChannels, norm, batchSize, buffers: () => runner, areaMask: opts.areaMask, signal: opts.signal });
    const counts = new Float64Array(256);
    const inputPlane = modelTile * modelTile;
    let inferredCount = 0;

    const writeStrip = async (strip: Strip) => {
      addByteCounts(strip.labels, counts);
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
            batcher.release(currentRow);
          }
          currentRow = t.r;
          const band = batcher.rowBand(t.r);
          blender.beginRow(t.r, { y: band.window.y, rows: band.height, data: band.valid });
        }
        let tileProbs: Float32Array | null = null;
        if (t.slot >= 0 && probs) {
          tileProbs = probs.subarray(t.slot * outPlane, (t.slot + 1) * outPlane);
          if (t.sampling) tileProbs = resamplePlanes(tileProbs, classes, modelTile, modelTile, t.sampling.x.toScene, t.sampling.y.toScene);
        }
        blender.addTile(t.c, tileProbs);
        tilesDone++;
      }
      const elapsed = (performance.now() - started) / 1000;
      const mpx = (tilesDone / total) * scenePixels / 1e6;
      opts.onProgress?.({ tilesDone, tilesTotal: total, mpxPerSec: elapsed > 0 ? mpx / elapsed : 0, etaSeconds: tilesDone > 0 ? (elapsed * (total - tilesDone)) / tilesDone : null, elapsedSeconds: elapsed });
    };

    const infer = (batch: Batch): Promise<Float32Array | null> => {
      if (batch.count === 0) return Promise.resolve(null);
      inferredCount += batch.count;
      const input = batch.count === batchSize ? batch.data : batch.data.slice(0, batch.count * spec.inputChannels * inputPlane);
      const result = runner!.run(input, batch.count, modelTile, modelTile);
      // Awaited later; if preparing the next batch fails first, this must not surface as unhandled.
      result.catch(() => undefined);
      return result;
    };

    // One batch in flight while the next is prepared.
    let pending = await batcher.next();
    const engine = opts.modelInstance ?? await opening!;
    runner = opts.tta ? new FlipTtaModel(engine) : engine;
    let inflight = pending ? infer(pending) : null;
    // The blender keeps reading a batch's last tile until the next batch's first tile arrives, so
    // a batch's probabilities go back to the model only once the batch after it is blended.
    let blended: Float32Array | null = null;
    while (pending) {
      const next = await batcher.next();
      const probs = await inflight!;
      const nextInflight = next ? infer(next) : null;
      await blendBatch(pending, probs);
      if (blended) runner.recycle?.(blended);
      blended = probs;
      if (opts.signal?.aborted) throw new SegmentAbortedError();
      pending = next;
      inflight = nextInflight;
    }
    closeOwnModel().catch(() => undefined); // awaited in finally, which reports a failure
    // A scene written over in place mid-run gave a mask of two images, without a word (probe:
    // rows of the old one above, of the new one below). Checked before the mask is committed.
    await source.checkUnchanged?.();
    if (currentRow >= 0) await writeStrip(blender.endRow());
    // Values that do not look like the model's input (input-hints.ts).
    const offsetApplied = opts.bandOffset !== undefined || shift.offsets.some((o) => o !== 0);
    for (const notice of valueNotices({ choice, modelSensors, offsetApplied, quantile: (c, q) => batcher.quantile(c, q) })) opts.onNotice?.(notice);

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
      device: engine.device,
      width: win.width,
      height: win.height,
      bands: choice.bands,
      bandChoice: choice.how,
      bandOffsets: shift.offsets,
      tile: modelTile,
      overlap: geometry.modelOverlap,
      batch: batchSize,
      tta: Boolean(opts.tta),
      coarsened,
      resampled,
      tiles: { total, inferred: inferredCount, skipped: total - inferredCount },
      seconds,
      mpxPerSec: scenePixels / 1e6 / seconds,
      peakRssMb: peakRssMb(),
      classShares: Object.fromEntries(spec.classNames.map((n, i) => [n, validPixels > 0 ? counts[i]! / validPixels : 0])),
      classPixels: Object.fromEntries(spec.classNames.map((n, i) => [n, counts[i]!])),
      nodataPixels: counts[NODATA_CLASS]!,
      overviews: maskWriter.overviewCount,
    };
  } finally {
    for (const w of writers) await w.abort();
    await closeOwnModel();
    await source.close();
  }
}
