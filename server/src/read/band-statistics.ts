/**
 * Per-band statistics for the auto stretch and the dataset listing, from the largest overview that
 * is small enough (so a 1-gigapixel raster costs one small read). A level of up to FULL_READ_PIXELS
 * is read whole (thinned to about a megapixel); a larger one, a raster without usable overviews,
 * is sampled: at most SAMPLE_WINDOWS block-sized windows spread over it, so the cost is bounded
 * whatever the raster claims (a 200,000 x 200,000 sparse TIFF used to stall the server for minutes
 * reading thinned rows across the whole of it).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { RasterSource } from './raster-source.ts';
import type { Window } from './raster.ts';
import { RasterError } from '../errors.ts';

export interface BandStatistics {
  band: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  /** 2nd and 98th percentiles: the default contrast stretch. */
  p2: number;
  p98: number;
  validPercent: number;
}

export interface StatisticsResult {
  bands: BandStatistics[];
  /** Where the numbers come from. */
  level: number;
  sampledWidth: number;
  sampledHeight: number;
}

const TARGET_PIXELS = 1 << 20;
/** Levels up to this size are read whole; larger ones are sampled by windows. */
const FULL_READ_PIXELS = 16 << 20;
const SAMPLE_WINDOWS = 64;
/** The largest side of a sample window, so a wide strip does not make one window huge. */
const MAX_WINDOW_SIDE = 1024;

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))));
  return sorted[i]!;
}

/** A piece of the level to read, and the step its pixels are sampled at. */
interface Sample {
  window: Window;
  step: number;
}

/** Whole rows in strips, thinned by one step (the level is small enough to read). */
function wholeLevel(width: number, height: number): Sample[] {
  const step = Math.max(1, Math.ceil(Math.sqrt((width * height) / TARGET_PIXELS)));
  const stripRows = Math.max(step, 256 - (256 % step));
  const out: Sample[] = [];
  for (let y = 0; y < height; y += stripRows) out.push({ window: { x: 0, y, width, height: Math.min(stripRows, height - y) }, step });
  return out;
}

/** Up to SAMPLE_WINDOWS block-aligned windows on a regular grid over the level. */
function spreadWindows(width: number, height: number, blockWidth: number, blockHeight: number): Sample[] {
  const ww = Math.min(width, blockWidth, MAX_WINDOW_SIDE);
  const wh = Math.min(height, blockHeight, MAX_WINDOW_SIDE);
  const across = Math.ceil(width / ww);
  const down = Math.ceil(height / wh);
  const nx = Math.min(across, Math.ceil(Math.sqrt(SAMPLE_WINDOWS)));
  const ny = Math.min(down, Math.floor(SAMPLE_WINDOWS / nx));
  const step = Math.max(1, Math.ceil(Math.sqrt((ww * wh) / (TARGET_PIXELS / SAMPLE_WINDOWS))));
  const out: Sample[] = [];
  for (let j = 0; j < ny; j++) {
    const y = Math.floor(((j + 0.5) * down) / ny) * wh;
    for (let i = 0; i < nx; i++) {
      const x = Math.floor(((i + 0.5) * across) / nx) * ww;
      out.push({ window: { x, y, width: Math.min(ww, width - x), height: Math.min(wh, height - y) }, step });
    }
  }
  return out;
}

export async function computeStatistics(source: RasterSource): Promise<StatisticsResult> {
  let level = 0;
  for (let l = source.levelCount - 1; l >= 0; l--) {
    const { width, height } = source.levelSize(l);
    level = l;
    if (width * height >= TARGET_PIXELS / 4) break;
  }
  const { width, height } = source.levelSize(level);
  const sampled = width * height > FULL_READ_PIXELS;
  const plan = sampled ? spreadWindows(width, height, source.info.blockWidth, source.info.blockHeight) : wholeLevel(width, height);
  const bandCount = source.info.bandCount;
  const samples = Array.from({ length: bandCount }, () => [] as number[]);
  let total = 0;
  let read = 0;
  let failure: unknown = null;
  for (const { window: win, step } of plan) {
    let block;
    try {
      block = await source.read(win, { level });
    } catch (err) {
      // One corrupt block does not hide the rest of the raster; a raster with no readable
      // sample fails with its first error.
      if (!(err instanceof RasterError && (err.code === 'decode-failed' || err.code === 'truncated'))) throw err;
      failure ??= err;
      continue;
    }
    read++;
    for (let r = 0; r < win.height; r += step) {
      for (let x = 0; x < win.width; x += step) {
        const i = r * win.width + x;
        total++;
        if (!block.valid[i]) continue;
        for (let b = 0; b < bandCount; b++) samples[b]!.push(block.bands[b]![i]!);
      }
    }
    // Other requests go between windows: this runs on the server's one thread.
    await yieldToEventLoop();
  }
  if (read === 0 && failure) throw failure;
  const bands = samples.map((values, b): BandStatistics => {
    const sorted = Float64Array.from(values).sort();
    let sum = 0;
    let sq = 0;
    for (const v of sorted) { sum += v; sq += v * v; }
    const n = sorted.length;
    const mean = n ? sum / n : Number.NaN;
    return {
      band: b + 1,
      min: n ? sorted[0]! : Number.NaN,
      max: n ? sorted[n - 1]! : Number.NaN,
      mean,
      std: n ? Math.sqrt(Math.max(0, sq / n - mean * mean)) : Number.NaN,
      p2: percentile(sorted, 2),
      p98: percentile(sorted, 98),
      validPercent: total ? (100 * n) / total : 0,
    };
  });
  // The grid of pixels sampled: the whole level thinned, or the windows' thinned pixels side by side.
  const step = plan[0]?.step ?? 1;
  const across = new Set(plan.map((p) => p.window.x)).size;
  const down = new Set(plan.map((p) => p.window.y)).size;
  return sampled
    ? { bands, level, sampledWidth: across * Math.ceil(plan[0]!.window.width / step), sampledHeight: down * Math.ceil(plan[0]!.window.height / step) }
    : { bands, level, sampledWidth: Math.ceil(width / step), sampledHeight: Math.ceil(height / step) };
}
