/**
 * The server's limits, in one place, each with its setting, its default and the error it gives
 * (README, "Limits"). A request over a limit gets a 4xx naming it; nothing grows without bound.
 */
import fs from 'node:fs';
import type { RasterReader } from '../read/raster-reader.ts';
import { checkRasterSize, probeRaster, type RasterLimits } from '../read/raster-limits.ts';
import { LimitError } from '../errors.ts';

export interface ServerLimits extends RasterLimits {
  /** Largest area a job may cover, km² (SATSEG_MAX_AREA_KM2), measured over the dataset (place-area.ts). */
  maxAreaKm2: number;
  /** Most pixels a job may segment, area or whole scene (SATSEG_MAX_JOB_PIXELS). */
  maxJobPixels: number;
  /** Most vertices in a job's area (SATSEG_MAX_AREA_VERTICES). */
  maxAreaVertices: number;
  /** Largest model tile a job may ask for, px. */
  maxTile: number;
  /** Working memory a job's tiles may take, bytes (SATSEG_MAX_JOB_MEMORY_MB). */
  maxJobMemoryBytes: number;
  /** Most jobs waiting to run (SATSEG_MAX_QUEUED_JOBS); 429 beyond. */
  maxQueuedJobs: number;
  /** Free disk the data folder must keep after an upload, bytes (SATSEG_MIN_FREE_DISK_MB); 507 below. */
  minFreeDiskBytes: number;
  /** Time to decode the sample blocks of an upload, ms. */
  probeTimeoutMs: number;
}

const env = (name: string, fallback: number) => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? fallback : Number(v);
  if (!(n > 0)) throw new Error(`${name} must be a positive number (got "${v}")`);
  return n;
};

export function limitsFromEnv(overrides: Partial<ServerLimits> = {}): ServerLimits {
  return {
    maxPixels: env('SATSEG_MAX_PIXELS', 10e9),
    maxBlockBytes: env('SATSEG_MAX_BLOCK_MB', 256) * 2 ** 20,
    maxTileReadPixels: env('SATSEG_MAX_TILE_READ_MPX', 16) * 1e6,
    maxBands: env('SATSEG_MAX_BANDS', 1024),
    maxAreaKm2: env('SATSEG_MAX_AREA_KM2', 500),
    maxJobPixels: env('SATSEG_MAX_JOB_PIXELS', 1e9),
    maxAreaVertices: env('SATSEG_MAX_AREA_VERTICES', 10_000),
    maxTile: 2048,
    maxJobMemoryBytes: env('SATSEG_MAX_JOB_MEMORY_MB', 2048) * 2 ** 20,
    maxQueuedJobs: env('SATSEG_MAX_QUEUED_JOBS', 100),
    minFreeDiskBytes: env('SATSEG_MIN_FREE_DISK_MB', 1024) * 2 ** 20,
    probeTimeoutMs: 10_000,
    ...overrides,
  };
}

export class Limits {
  constructor(readonly values: ServerLimits) {}

  /** Size checks for any raster before it is used (every open of a dataset), and the limit its tiles read under. */
  admit(reader: RasterReader): void {
    checkRasterSize(reader.info, this.values);
    reader.tileReadLimit = this.values.maxTileReadPixels;
  }

  /**
   * What an upload or a URL registration passes beyond admit(), which the dataset catalog applies
   * to every raster it opens: a decode of sample blocks within the time budget.
   */
  async probe(reader: RasterReader): Promise<void> {
    // An Earth CRS whose extent gives no lon/lat box (an origin at 1e300, pixels of 1e-300) can be
    // neither drawn nor placed: refused here, as the listing marks such a file in the data folder
    // unusable. Rasters of other bodies have no lon/lat box and stay.
    if (!reader.info.crs.nonEarth) reader.earthBounds();
    await probeRaster(reader, this.values.probeTimeoutMs);
  }

  /** Refuse an upload of `bytes` (0: unknown yet) that would leave the disk under its reserve. */
  checkDisk(dir: string, bytes: number): void {
    let free: number;
    try {
      const st = fs.statfsSync(dir);
      free = st.bavail * st.bsize;
    } catch {
      return; // a file system that cannot say: the write itself will fail with the reason
    }
    if (free - bytes < this.values.minFreeDiskBytes) {
      throw new LimitError('disk-full', `not enough free disk for this upload: ${(free / 2 ** 20).toFixed(0)} MB free, ${(bytes / 2 ** 20).toFixed(0)} MB needed plus a ${(this.values.minFreeDiskBytes / 2 ** 20).toFixed(0)} MB reserve (SATSEG_MIN_FREE_DISK_MB)`);
    }
  }

  checkQueue(queued: number): void {
    if (queued >= this.values.maxQueuedJobs) {
      throw new LimitError('too-many-jobs', `${queued} jobs are already waiting, the limit (SATSEG_MAX_QUEUED_JOBS is ${this.values.maxQueuedJobs}); try again when some have run`);
    }
  }
}
