/**
 * What GDAL keeps beside a GeoTIFF and reads with it: the nodata value its `.aux.xml` (PAM)
 * declares, and a `.msk` mask file (`gdal_translate -mask`, or a mask made on a read-only file).
 * Ignored, a masked-out area or a zero fill declared there was classified like the rest (probe:
 * 62,200 px of either). Local files only: a remote dataset's sidecars are not fetched.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RasterSource } from './raster-source.ts';
import { FileByteSource } from './file-byte-source.ts';
import { GeoTiffSource, parseNodata } from './geotiff-source.ts';
import { RasterError } from '../errors.ts';

/** A PAM file larger than this is not read (GDAL's hold statistics, histograms and metadata: kilobytes). */
const MAX_AUX_XML_BYTES = 1 << 20;

export interface Sidecars {
  nodata: number | null;
  mask: RasterSource | null;
}

/** The first band's NoDataValue of a PAM document, or null. */
export function pamNodata(xml: string): number | null {
  const band = /<PAMRasterBand\b[^>]*>([\s\S]*?)<\/PAMRasterBand>/.exec(xml)?.[1] ?? '';
  const value = /<NoDataValue\b[^>]*>([^<]*)<\/NoDataValue>/.exec(band)?.[1];
  return value === undefined ? null : parseNodata(value);
}

export async function readSidecars(file: string): Promise<Sidecars> {
  let nodata: number | null = null;
  const aux = `${file}.aux.xml`;
  const auxSize = fs.statSync(aux, { throwIfNoEntry: false })?.size;
  if (auxSize !== undefined && auxSize <= MAX_AUX_XML_BYTES) nodata = pamNodata(await fs.promises.readFile(aux, 'utf8').catch(() => ''));
  let mask: RasterSource | null = null;
  const msk = `${file}.msk`;
  if (fs.statSync(msk, { throwIfNoEntry: false })?.isFile()) {
    try {
      mask = await GeoTiffSource.openPixels(await FileByteSource.open(msk));
    } catch (err) {
      throw new RasterError('corrupt', `its mask file ${path.basename(msk)} cannot be read: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { nodata, mask };
}
