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
 * Scanned with indexOf, each character once: an .aux.xml beside a URL is anyone's text, and the
 * regular expressions this replaced took minutes on a megabyte of repeated "<PAMRasterBand ".
 */
export function pamNodata(xml: string): number | null {
  const declared = new Map<string, number | null>();
  for (const band of elements(xml, 'PAMRasterBand')) {
    const index = /\bband="(\d+)"/.exec(band.attributes)?.[1];
    const value = elements(band.body, 'NoDataValue').next().value;
    if (index !== undefined && value && !value.body.includes('<')) declared.set(index, parseNodata(value.body));
  }
  const first = declared.get('1');
  if (first === undefined || first === null) return null;
  const same = (v: number | null) => v !== null && (v === first || (Number.isNaN(v) && Number.isNaN(first)));
  return [...declared.values()].every(same) ? first : null;
}

/**
 * Each `<name ...>body</name>` of `xml` in turn, its attributes and body; self-closing ones have no
 * body and are passed over. Found with indexOf alone, each character looked at once.
 */
function* elements(xml: string, name: string): Generator<{ attributes: string; body: string }> {
  const open = `<${name}`;
  const close = `</${name}>`;
  for (let at = xml.indexOf(open); at >= 0; at = xml.indexOf(open, at + 1)) {
    // A tag of that name, not a longer one: space, '>' or '/' follows.
    if (!/[\s>/]/.test(xml[at + open.length] ?? '')) continue;
    const tagEnd = xml.indexOf('>', at);
    if (tagEnd < 0) return;
    // Self-closing: passed over whole (what lies inside a tag starts no element; stepping one
    // character looked for its end again from each "<name" inside it).
    if (xml[tagEnd - 1] === '/') { at = tagEnd; continue; }
    const end = xml.indexOf(close, tagEnd);
    if (end < 0) return;
    yield { attributes: xml.slice(at + open.length, tagEnd), body: xml.slice(tagEnd + 1, end) };
    at = end;
  }
}

export async function readSidecars(file: string): Promise<Sidecars> {
  const exists = async (f: string) => fs.statSync(f, { throwIfNoEntry: false })?.isFile() ? FileByteSource.open(f) : null;
  return sidecarsFrom(await settle([exists(`${file}.aux.xml`), exists(`${file}.msk`)]));
}

/**
 * Both opens settled: their byte sources, or the first failure once whichever did open is closed
 * (a .msk that could not be opened left the .aux.xml's file handle open).
 */
async function settle(opens: [Promise<ByteSource | null>, Promise<ByteSource | null>]): Promise<[ByteSource | null, ByteSource | null]> {
  const [aux, msk] = await Promise.allSettled(opens);
  if (aux.status === 'rejected' || msk.status === 'rejected') {
    await Promise.all([aux, msk].map((r) => (r.status === 'fulfilled' ? r.value?.close() : undefined)));
    throw aux.status === 'rejected' ? aux.reason : (msk as PromiseRejectedResult).reason;
  }
  return [aux.value, msk.value];
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
  return sidecarsFrom(await settle([open(beside('.aux.xml')), open(beside('.msk'))]));
}

/**
 * Reads the PAM nodata from the .aux.xml and opens the .msk as the mask; closes what it does not
 * keep. A .msk that is no TIFF at all is no mask file (a web host that answers every missing path
 * with its HTML page, as single-page sites do), as GDAL takes it; a TIFF that is no usable mask is
 * refused.
 */
async function sidecarsFrom([auxBytes, maskBytes]: [ByteSource | null, ByteSource | null]): Promise<Sidecars> {
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
    if (err instanceof RasterError && err.code === 'not-tiff') return { nodata, mask: null };
    throw new RasterError('corrupt', `its mask file (.msk) cannot be read: ${(err as Error).message.split('\n')[0]}`);
  }
}
