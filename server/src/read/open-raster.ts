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
  /**
   * URLs under this prefix whose sidecars (.msk, .aux.xml) are read too, as for a local file: a
   * satseg server's `/datasets/` (a prefix, not a predicate: options cross to job threads).
   */
  sidecarsUnder?: string;
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

export async function openRaster(location: string, options: OpenOptions = {}): Promise<RasterSource> {
  const bytes = await openBytes(location, options);
  let sidecars;
  try {
    if (!isRemote(location)) sidecars = await readSidecars(location);
    else if (options.sidecarsUnder && location.startsWith(options.sidecarsUnder)) sidecars = await readRemoteSidecars(location, (url) => openBytes(url, options).catch((err: unknown) => {
      if (err instanceof RasterError && err.code === 'not-found') return null;
      throw err;
    }));
    else sidecars = {};
  } catch (err) {
    await bytes.close();
    throw err;
  }
  return GeoTiffSource.open(bytes, sidecars);
}
