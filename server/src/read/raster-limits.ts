/**
 * Limits on what a raster may claim and cost, checked before its pixels are touched: a 4 MB file
 * can declare 200,000 x 200,000 pixels, and a 400 KB tile can inflate to gigabytes.
 */
import type { RasterInfo } from './raster.ts';
import type { RasterReader } from './raster-reader.ts';
import { bytesPerSample } from './raster.ts';
import { RasterError } from '../errors.ts';
import { amount } from '../amounts.ts';

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
  /** Most bands a raster may have (SATSEG_MAX_BANDS): its description lists every band. */
  maxBands: number;
}

/**
 * Blocks smaller than this many decoded bytes, in a raster of more than SMALL_BLOCKS_ALLOWED of
 * them, are refused: each block costs a read and a decode of its own, so a 4000² raster of
 * 16 x 16 px tiles (62,500 blocks) held the server 4 s on upload and 7 s for one zoomed-out map
 * tile. GDAL's default strips (about 8 KB each) and 64 x 64 px tiles pass.
 */
const SMALL_BLOCK_BYTES = 2048;
const SMALL_BLOCKS_ALLOWED = 16_384;

export const DEFAULT_RASTER_LIMITS: RasterLimits = {
  maxPixels: Number(process.env.SATSEG_MAX_PIXELS || 10e9),
  maxBlockBytes: Number(process.env.SATSEG_MAX_BLOCK_MB || 256) * 1024 * 1024,
  maxTileReadPixels: Number(process.env.SATSEG_MAX_TILE_READ_MPX || 16) * 1e6,
  maxBands: Number(process.env.SATSEG_MAX_BANDS || 1024),
};

export function mpx(n: number): string {
  return n >= 1e9 ? `${amount(n / 1e9)} Gpx` : `${amount(n / 1e6)} Mpx`;
}

/** Refuse rasters over the pixel limit, or whose blocks would decode past the block limit. */
export function checkRasterSize(info: RasterInfo, limits: RasterLimits = DEFAULT_RASTER_LIMITS): void {
  const pixels = info.width * info.height;
  if (pixels > limits.maxPixels) {
    throw new RasterError('too-large', `the raster claims ${info.width} x ${info.height} pixels (${mpx(pixels)}), over the ${mpx(limits.maxPixels)} limit (SATSEG_MAX_PIXELS)`);
  }
  if (info.bandCount > limits.maxBands) {
    throw new RasterError('too-large', `the raster has ${info.bandCount} bands, over the ${limits.maxBands} limit (SATSEG_MAX_BANDS)`);
  }
  const block = info.blockWidth * info.blockHeight * info.bandCount * bytesPerSample(info.dtype);
  if (block > limits.maxBlockBytes) throw blockTooLarge({ blockWidth: info.blockWidth, blockHeight: info.blockHeight, blockBytes: block }, limits.maxBlockBytes);
  const samples = info.blockSamples ?? info.bandCount;
  const stored = info.blockWidth * info.blockHeight * samples * bytesPerSample(info.dtype);
  const blocks = Math.ceil(info.width / info.blockWidth) * Math.ceil(info.height / info.blockHeight) * Math.ceil(info.bandCount / Math.max(1, samples));
  if (stored < SMALL_BLOCK_BYTES && blocks > SMALL_BLOCKS_ALLOWED) {
    throw new RasterError('too-large', `its ${info.blockWidth} x ${info.blockHeight} px blocks are too small to serve: ${blocks.toLocaleString('en-US')} of them, each read and decoded on its own; rewrite it with larger ones, e.g. gdal_translate -co TILED=YES -co BLOCKXSIZE=256 -co BLOCKYSIZE=256`);
  }
}

export function blockTooLarge(block: { blockWidth: number; blockHeight: number; blockBytes: number }, maxBlockBytes: number): RasterError {
  return new RasterError('too-large', `its ${block.blockWidth} x ${block.blockHeight} blocks decode to ${amount(block.blockBytes / 2 ** 20)} MiB each, over the ${amount(maxBlockBytes / 2 ** 20)} MiB limit (SATSEG_MAX_BLOCK_MB); re-tile it, e.g. gdal_translate -co TILED=YES`);
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
