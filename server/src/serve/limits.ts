/**
 * The server's limits, in one place, each with its setting, its default and the error it gives
 * (README, "Limits"). A request over a limit gets a 4xx naming it; nothing grows without bound.
 */
import fs from 'node:fs';
import type { RasterReader } from '../read/raster-reader.ts';
import { checkRasterSize, probeRaster, type RasterLimits } from '../read/raster-limits.ts';
import { LimitError } from '../errors.ts';
import { megabytes } from '../amounts.ts';

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
  /** Uploads received at once (SATSEG_MAX_UPLOADS); 429 beyond. */
  maxUploads: number;
  /** Longest an upload may go without a byte arriving, ms (SATSEG_UPLOAD_IDLE_S); its connection is then closed. */
  uploadIdleMs: number;
  /** Least an upload must send on average over each uploadIdleMs, bytes/s (SATSEG_UPLOAD_MIN_KBPS). */
  uploadMinBytesPerSecond: number;
  /** Longest a JSON request body may take to arrive, ms; the connection is closed then. */
  jsonBodyMs: number;
  /** Connections open at once (SATSEG_MAX_CONNECTIONS); more are closed as they come. */
  maxConnections: number;
  /** Job event streams open at once (SATSEG_MAX_EVENT_STREAMS); 429 beyond. */
  maxEventStreams: number;
  /** Longest the checks of a URL registration may take, ms; 400 then. */
  registrationTimeoutMs: number;
  /** Longest GET /datasets waits for its page's datasets to open, ms; those not open by then are listed unusable for now. */
  listingDeadlineMs: number;
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
    maxUploads: env('SATSEG_MAX_UPLOADS', 16),
    uploadIdleMs: env('SATSEG_UPLOAD_IDLE_S', 60) * 1000,
    registrationTimeoutMs: 60_000,
    listingDeadlineMs: 10_000,
    jsonBodyMs: 30_000,
    maxConnections: env('SATSEG_MAX_CONNECTIONS', 512),
    // Half the connections: streams alone cannot take them all, so the API keeps answering.
    maxEventStreams: env('SATSEG_MAX_EVENT_STREAMS', Math.max(1, Math.floor(env('SATSEG_MAX_CONNECTIONS', 512) / 2))),
    uploadMinBytesPerSecond: env('SATSEG_UPLOAD_MIN_KBPS', 1) * 1024,
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

  /** Uploads being received, each with the bytes it declared and has written so far. */
  private readonly uploads = new Set<{ declared: number; received: number }>();

  /**
   * Admit an upload of `declared` bytes (0: not declared), or refuse it: over SATSEG_MAX_UPLOADS at
   * once (429), or when it would leave the disk under its reserve counting what the uploads already
   * admitted have still to write (507). Checking each alone let five uploads that fitted one at a
   * time in together, past the reserve. The ticket is told the bytes as they arrive (received(),
   * which checks the disk again every 64 MB: a chunked upload declares nothing) and ended in all cases.
   */
  admitUpload(dir: string, declared: number): { received(bytes: number): void; end(): void } {
    if (this.uploads.size >= this.values.maxUploads) {
      throw new LimitError('too-many-uploads', `${this.uploads.size} uploads are being received, the most at once (SATSEG_MAX_UPLOADS is ${this.values.maxUploads}); try again when one has finished`);
    }
    this.checkDisk(dir, declared + this.pendingUploadBytes());
    const upload = { declared, received: 0 };
    this.uploads.add(upload);
    let checkedAt = 0;
    return {
      received: (bytes: number) => {
        upload.received = bytes;
        if (bytes - checkedAt < 64 * 2 ** 20) return;
        checkedAt = bytes;
        this.checkDisk(dir, Math.max(0, upload.declared - bytes) + this.pendingUploadBytes(upload), bytes);
      },
      end: () => { this.uploads.delete(upload); },
    };
  }

  /** URL registrations being checked: each holds sockets to its server until it ends. */
  private registrations = 0;

  /**
   * Admit a URL registration, or refuse it past SATSEG_MAX_UPLOADS at once (429): abandoned ones
   * kept their sockets to a stalled server, 300 of them in a probe, with no limit.
   */
  admitRegistration(): { end(): void } {
    if (this.registrations >= this.values.maxUploads) {
      throw new LimitError('too-many-uploads', `${this.registrations} URL registrations are being checked, the most at once (SATSEG_MAX_UPLOADS is ${this.values.maxUploads}); try again when one has finished`);
    }
    this.registrations++;
    let ended = false;
    return { end: () => { if (!ended) { ended = true; this.registrations--; } } };
  }

  /** Job event streams open now. */
  private eventStreams = 0;

  /**
   * Admit a job event stream, or refuse it past SATSEG_MAX_EVENT_STREAMS at once (429): streams
   * need no key and last as long as their job, and 949 of them once took every file descriptor;
   * the connection limit alone let them take every connection, so no other request got in.
   */
  admitEventStream(): { end(): void } {
    if (this.eventStreams >= this.values.maxEventStreams) {
      throw new LimitError('too-many-streams', `${this.eventStreams} job event streams are open, the most at once (SATSEG_MAX_EVENT_STREAMS is ${this.values.maxEventStreams}); close one, or poll GET /jobs/{id} instead`);
    }
    this.eventStreams++;
    let ended = false;
    return { end: () => { if (!ended) { ended = true; this.eventStreams--; } } };
  }

  /** What admitted uploads (but `except`) have declared and not yet written. */
  private pendingUploadBytes(except?: object): number {
    let n = 0;
    for (const u of this.uploads) if (u !== except) n += Math.max(0, u.declared - u.received);
    return n;
  }

  /**
   * Refuse when the disk has less than the reserve beyond `bytes` still to be written; `received`:
   * what this upload has written already (for the message).
   */
  checkDisk(dir: string, bytes: number, received = 0): void {
    let free: number;
    try {
      const st = fs.statfsSync(dir);
      free = st.bavail * st.bsize;
    } catch {
      return; // a file system that cannot say: the write itself will fail with the reason
    }
    if (free - bytes < this.values.minFreeDiskBytes) {
      const reserve = `${megabytes(this.values.minFreeDiskBytes)} reserve to keep (SATSEG_MIN_FREE_DISK_MB)`;
      throw new LimitError('disk-full', `not enough free disk for this upload: ${bytes > 0
        ? `${megabytes(free)} free, ${megabytes(bytes)} still to be written (this upload's and others' being received), and a ${reserve}`
        : `${megabytes(free)} free${received > 0 ? ` after its ${megabytes(received)}` : ''}, under the ${reserve}`}`);
    }
  }

  checkQueue(queued: number): void {
    if (queued >= this.values.maxQueuedJobs) {
      throw new LimitError('too-many-jobs', `${queued} jobs are already waiting, the limit (SATSEG_MAX_QUEUED_JOBS is ${this.values.maxQueuedJobs}); try again when some have run`);
    }
  }
}
