/**
 * Opening a raster by location: a local path, or an http(s) URL read in ranges. Only these two
 * kinds: other schemes (file:, s3:, ftp:) are refused with the reason.
 */
import type { RasterSource } from './raster-source.ts';
import type { ByteSource } from './byte-source.ts';
import { FileByteSource } from './file-byte-source.ts';
import { HttpByteSource, type HttpSourceOptions } from './http-byte-source.ts';
import { GeoTiffSource } from './geotiff-source.ts';
import { readRemoteSidecars, readSidecars } from './sidecars.ts';
import { RasterError } from '../errors.ts';

export interface OpenOptions {
  http?: HttpSourceOptions;
  /** Ends the open and, for a remote raster, every later read of it (a job's cancel reaches its HTTP requests). */
  signal?: AbortSignal;
}

export function isRemote(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

export function openBytes(location: string, options: OpenOptions = {}): Promise<ByteSource> {
  if (isRemote(location)) return HttpByteSource.open(location, options.http, options.signal);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1];
  if (scheme) return Promise.reject(new RasterError('bad-url', `only local paths and http(s) URLs can be opened (got ${scheme}://)`));
  return FileByteSource.open(location);
}

/**
 * Opens a raster with its sidecars (sidecars.ts), beside a local file or a URL, as GDAL does
 * (for a URL, GDAL's /vsicurl/ probes them too): a nodata value declared only in an .aux.xml was
 * otherwise classified when the same file was registered by URL. A URL's sidecars are asked for
 * while the raster itself is opened, so they add no round trip to the open.
 */
export async function openRaster(location: string, options: OpenOptions = {}): Promise<RasterSource> {
  if (!isRemote(location)) {
    const bytes = await openBytes(location, options);
    let sidecars;
    try {
      sidecars = await readSidecars(location);
    } catch (err) {
      await bytes.close();
      throw err;
    }
    // Closes both on failure.
    return GeoTiffSource.open(bytes, sidecars);
  }
  // A raster that fails to open stops its sidecars' requests (a 404 waited on a slow sidecar).
  const sidecarsAbort = new AbortController();
  const sidecarSignal = options.signal ? AbortSignal.any([options.signal, sidecarsAbort.signal]) : sidecarsAbort.signal;
  const main = openBytes(location, options);
  main.catch(() => sidecarsAbort.abort());
  const [bytes, sidecars] = await Promise.allSettled([
    main,
    readRemoteSidecars(location, (url) => openBytes(url, { ...options, signal: sidecarSignal }).catch((err: unknown) => {
      // Nothing there, or nothing we may see (S3 answers 403 for a key that does not exist).
      if (err instanceof RasterError && err.code === 'not-found') return null;
      throw err;
    })),
  ]);
  if (bytes.status === 'rejected' || sidecars.status === 'rejected') {
    if (bytes.status === 'fulfilled') await bytes.value.close();
    if (sidecars.status === 'fulfilled') await sidecars.value.mask?.close();
    // The raster's own failure first: a sidecar's would only repeat it (the same server).
    throw bytes.status === 'rejected' ? bytes.reason : (sidecars as PromiseRejectedResult).reason;
  }
  return GeoTiffSource.open(bytes.value, sidecars.value);
}
