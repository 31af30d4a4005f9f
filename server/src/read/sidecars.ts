/**
 * What GDAL keeps beside a GeoTIFF and reads with it: the nodata value its `.aux.xml` (PAM)
 * declares, and a `.msk` mask file (`gdal_translate -mask`, or a mask made on a read-only file).
 * Ignored, a masked-out area or a zero fill declared there was classified like the rest (probe:
 * 62,200 px of either). Beside local files and URLs alike (a satseg server serves a local
 * dataset's sidecars beside its source.tif, so its workers read what the server reads).
 */
import fs from 'node:fs';
import type { RasterSource } from './raster-source.ts';
import type { ByteSource } from './byte-source.ts';
import { FileByteSource } from './file-byte-source.ts';
import { GeoTiffSource, parseNodata } from './geotiff-source.ts';
import { RasterError } from '../errors.ts';

/** A PAM file larger than this is not read (GDAL's hold statistics, histograms and metadata: kilobytes). */
const MAX_AUX_XML_BYTES = 1 << 20;

export interface Sidecars {
  nodata: number | null;
  mask: RasterSource | null;
}

/**
 * The nodata value a PAM document declares: band 1's, when every band declaring one declares the
 * same (a raster has one nodata value here; bands that disagree leave it undeclared); else null.
 */
export function pamNodata(xml: string): number | null {
  const declared = new Map<string, number | null>();
  for (const m of xml.matchAll(/<PAMRasterBand\b([^>]*[^/>])?>([\s\S]*?)<\/PAMRasterBand>/g)) {
    const band = /\bband="(\d+)"/.exec(m[1] ?? '')?.[1];
    const value = /<NoDataValue\b[^>]*>([^<]*)<\/NoDataValue>/.exec(m[2] ?? '')?.[1];
    if (band !== undefined && value !== undefined) declared.set(band, parseNodata(value));
  }
  const first = declared.get('1');
  if (first === undefined || first === null) return null;
  const same = (v: number | null) => v !== null && (v === first || (Number.isNaN(v) && Number.isNaN(first)));
  return [...declared.values()].every(same) ? first : null;
}

export async function readSidecars(file: string): Promise<Sidecars> {
  const exists = async (f: string) => fs.statSync(f, { throwIfNoEntry: false })?.isFile() ? FileByteSource.open(f) : null;
  return sidecarsFrom(await exists(`${file}.aux.xml`), await exists(`${file}.msk`));
}

/**
 * The same beside a URL: `open` gives the bytes at a URL, or null where there are none (404). The
 * sidecar's name goes on the URL's path, before any query (a signed URL's signature does not
 * cover it, and its server then answers 403, read as none); both are asked for at once.
 */
export async function readRemoteSidecars(url: string, open: (location: string) => Promise<ByteSource | null>): Promise<Sidecars> {
  const beside = (suffix: string) => {
    const u = new URL(url);
    u.hash = '';
    u.pathname += suffix;
    return u.href;
  };
  const [aux, msk] = await Promise.allSettled([open(beside('.aux.xml')), open(beside('.msk'))]);
  if (aux.status === 'rejected' || msk.status === 'rejected') {
    // The one that did open is closed.
    await Promise.all([aux, msk].map((r) => (r.status === 'fulfilled' ? r.value?.close() : undefined)));
    throw aux.status === 'rejected' ? aux.reason : (msk as PromiseRejectedResult).reason;
  }
  return sidecarsFrom(aux.value, msk.value);
}

/** Reads the PAM nodata from `auxBytes` and opens `maskBytes` as the mask; closes what it does not keep. */
async function sidecarsFrom(auxBytes: ByteSource | null, maskBytes: ByteSource | null): Promise<Sidecars> {
  let nodata: number | null = null;
  if (auxBytes) {
    try {
      if (auxBytes.size <= MAX_AUX_XML_BYTES) nodata = pamNodata(Buffer.from(await auxBytes.read(0, auxBytes.size)).toString('utf8'));
    } catch (err) {
      await maskBytes?.close();
      throw err;
    } finally {
      await auxBytes.close();
    }
  }
  if (!maskBytes) return { nodata, mask: null };
  try {
    return { nodata, mask: await GeoTiffSource.openPixels(maskBytes) };
  } catch (err) {
    // openPixels closed the bytes.
    throw new RasterError('corrupt', `its mask file (.msk) cannot be read: ${(err as Error).message.split('\n')[0]}`);
  }
}
