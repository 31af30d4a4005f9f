/**
 * Per-band statistics for the auto stretch and the dataset listing, from the largest overview that
 * is small enough (so a 1-gigapixel raster costs one small read), or from a thinned full-resolution
 * read when there is no overview.
 */
import type { RasterSource } from './raster-source.ts';

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

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))));
  return sorted[i]!;
}

export async function computeStatistics(source: RasterSource): Promise<StatisticsResult> {
  let level = 0;
  for (let l = source.levelCount - 1; l >= 0; l--) {
    const { width, height } = source.levelSize(l);
    level = l;
    if (width * height >= TARGET_PIXELS / 4) break;
  }
  const { width, height } = source.levelSize(level);
  // Thin rows and columns when even the chosen level is large (no overviews).
  const step = Math.max(1, Math.ceil(Math.sqrt((width * height) / TARGET_PIXELS)));
  const bandCount = source.info.bandCount;
  const samples = Array.from({ length: bandCount }, () => [] as number[]);
  let total = 0;
  const stripRows = Math.max(step, 256 - (256 % step));
  for (let y = 0; y < height; y += stripRows) {
    const rows = Math.min(stripRows, height - y);
    const block = await source.read({ x: 0, y, width, height: rows }, { level });
    for (let r = 0; r < rows; r += step) {
      for (let x = 0; x < width; x += step) {
        const i = r * width + x;
        total++;
        if (!block.valid[i]) continue;
        for (let b = 0; b < bandCount; b++) samples[b]!.push(block.bands[b]![i]!);
      }
    }
  }
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
  return { bands, level, sampledWidth: Math.ceil(width / step), sampledHeight: Math.ceil(height / step) };
}
