/**
 * What GDAL keeps beside a GeoTIFF and reads with it: the nodata value its `.aux.xml` (PAM)
 * declares, and a `.msk` mask file (`gdal_translate -mask`, or a mask made on a read-only file).
 * Ignored, a masked-out area or a zero fill declared there was classified like the rest (probe:
 * 62,200 px of either). Local files, and URLs the caller says have them (a satseg server serves a
 * local dataset's sidecars beside its source.tif, so its workers read what the server reads);
 * other remote datasets' sidecars are not fetched.
 */
import fs from 'node:fs';
import path from 'node:path';
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
  return sidecarsFrom(`${file}.aux.xml`, `${file}.msk`, exists);
}

/**
 * The same beside a URL: `open` gives the bytes at a URL, or null where there are none (404).
 */
export async function readRemoteSidecars(url: string, open: (location: string) => Promise<ByteSource | null>): Promise<Sidecars> {
  return sidecarsFrom(`${url}.aux.xml`, `${url}.msk`, open);
}

async function sidecarsFrom(aux: string, msk: string, open: (location: string) => Promise<ByteSource | null>): Promise<Sidecars> {
  let nodata: number | null = null;
  const auxBytes = await open(aux);
  if (auxBytes) {
    try {
      if (auxBytes.size <= MAX_AUX_XML_BYTES) nodata = pamNodata(Buffer.from(await auxBytes.read(0, auxBytes.size)).toString('utf8'));
    } finally {
      await auxBytes.close();
    }
  }
  const maskBytes = await open(msk);
  if (!maskBytes) return { nodata, mask: null };
  try {
    return { nodata, mask: await GeoTiffSource.openPixels(maskBytes) };
  } catch (err) {
    throw new RasterError('corrupt', `its mask file ${path.basename(msk)} cannot be read: ${(err as Error).message.split('\n')[0]}`);
  }
}
