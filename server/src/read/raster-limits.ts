/**
 * Limits on what a raster may claim and cost, checked before its pixels are touched: a 4 MB file
 * can declare 200,000 x 200,000 pixels, and a 400 KB tile can inflate to gigabytes.
 */
import type { RasterInfo } from './raster.ts';
import type { RasterReader } from './raster-reader.ts';
import { bytesPerSample } from './raster.ts';
import { RasterError } from '../errors.ts';

export interface RasterLimits {
  /** Largest raster accepted, in pixels (SATSEG_MAX_PIXELS). */
  maxPixels: number;
  /** Largest decoded block (tile or strip), in bytes (SATSEG_MAX_BLOCK_MB). */
  maxBlockBytes: number;
  /**
   * Most source pixels one map tile may read (SATSEG_MAX_TILE_READ_MPX): a zoomed-out tile of a
   * raster without overviews would otherwise read (and allocate) the whole raster.
   */
  maxTileReadPixels: number;
}

export const DEFAULT_RASTER_LIMITS: RasterLimits = {
  maxPixels: Number(process.env.SATSEG_MAX_PIXELS || 10e9),
  maxBlockBytes: Number(process.env.SATSEG_MAX_BLOCK_MB || 256) * 1024 * 1024,
  maxTileReadPixels: Number(process.env.SATSEG_MAX_TILE_READ_MPX || 16) * 1e6,
};

export function mpx(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)} Gpx` : `${(n / 1e6).toFixed(1)} Mpx`;
}

/** Refuse rasters over the pixel limit, or whose blocks would decode past the block limit. */
export function checkRasterSize(info: RasterInfo, limits: RasterLimits = DEFAULT_RASTER_LIMITS): void {
  const pixels = info.width * info.height;
  if (pixels > limits.maxPixels) {
    throw new RasterError('too-large', `the raster claims ${info.width} x ${info.height} pixels (${mpx(pixels)}), over the ${mpx(limits.maxPixels)} limit (SATSEG_MAX_PIXELS)`);
  }
  const block = info.blockWidth * info.blockHeight * info.bandCount * bytesPerSample(info.dtype);
  if (block > limits.maxBlockBytes) throw blockTooLarge({ blockWidth: info.blockWidth, blockHeight: info.blockHeight, blockBytes: block }, limits.maxBlockBytes);
}

export function blockTooLarge(block: { blockWidth: number; blockHeight: number; blockBytes: number }, maxBlockBytes: number): RasterError {
  return new RasterError('too-large', `its ${block.blockWidth} x ${block.blockHeight} blocks decode to ${(block.blockBytes / 2 ** 20).toFixed(0)} MiB each, over the ${(maxBlockBytes / 2 ** 20).toFixed(0)} MiB limit (SATSEG_MAX_BLOCK_MB); re-tile it, e.g. gdal_translate -co TILED=YES`);
}

/**
 * Decode one block of the coarsest level and one of full resolution (the centre), within a time
 * budget: a file whose blocks are corrupt or bombs is refused at upload, not on its first tile.
 */
export async function probeRaster(reader: RasterReader, timeoutMs = 10_000): Promise<void> {
  const { source, info } = reader;
  const signal = AbortSignal.timeout(timeoutMs);
  const probe = async (level: number) => {
    const { width, height } = source.levelSize(level);
    const w = Math.min(width, info.blockWidth);
    const h = Math.min(height, info.blockHeight);
    await source.read({ x: Math.max(0, Math.floor((width - w) / 2)), y: Math.max(0, Math.floor((height - h) / 2)), width: w, height: h }, { signal });
  };
  const timeout = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new RasterError('decode-failed', `decoding a sample of the raster took over ${timeoutMs / 1000} s`)), { once: true }));
  await Promise.race([(async () => {
    if (source.levelCount > 1) await probe(source.levelCount - 1);
    await probe(0);
  })(), timeout]);
}
