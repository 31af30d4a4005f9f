/**
 * The embedded RasterSource: a local GeoTIFF read with geotiff.js, one window at a time.
 *
 * We parse IFDs with geotiff.js but assemble windows from decoded blocks ourselves, through a shared
 * LRU of decoded blocks. geotiff.js's readRasters decodes every block a window touches on every call;
 * overlapping model tiles and map tiles touch the same blocks many times, and a wide stripped file
 * would decode each strip once per tile column.
 */
import { GeoTIFF, type GeoTIFFImage, type ImageFileDirectory } from 'geotiff';
import { LRUCache } from 'lru-cache';
import {
  allocate, bytesPerSample, windowTransform,
  type BandInfo, type ColorInterp, type DType, type GeoTransform, type PixelBlock, type RasterInfo, type TypedArray, type Window,
} from './raster.ts';
import { crsFromEpsg, crsFromGeoKeys } from './crs.ts';
import { geoTransformFromTags } from './georef.ts';
import { compressionName, createBlockDecoder, exactBuffer, type BlockDecoder } from './block-decoders.ts';
import { BlockOverrun } from './block-overrun.ts';
import { blockTooLarge, DEFAULT_RASTER_LIMITS } from './raster-limits.ts';
import type { ReadOptions, RasterSource } from './raster-source.ts';
import { checkDirectoryChain } from './tiff-directory-chain.ts';
import type { ByteSource } from './byte-source.ts';
import { InFlight } from '../in-flight.ts';
import { RasterError, SatsegError } from '../errors.ts';
import { cacheBytes } from '../cache-size.ts';

const KNOWN_COLOR_INTERPS = ['gray', 'red', 'green', 'blue', 'alpha', 'palette', 'undefined'] as const;
const SUBFILE_REDUCED = 1;
const SUBFILE_MASK = 4;
const MAX_WINDOW_PIXELS = 2 ** 30;

/** Decoded blocks shared by every open source; bounded in bytes, not entries. */
const blockCache = new LRUCache<string, ArrayBuffer>({
  maxSize: Math.max(1, cacheBytes('SATSEG_BLOCK_CACHE_MB', 128)),
  sizeCalculation: (v) => Math.max(1, v.byteLength),
});
/** Decodes under way, by the same keys as blockCache. */
const decodesInFlight = new InFlight<ArrayBuffer>();
let nextSourceId = 1;

interface Level {
  image: GeoTIFFImage;
  fd: ImageFileDirectory;
  width: number;
  height: number;
  blockWidth: number;
  blockHeight: number;
  blocksAcross: number;
  blocksDown: number;
  isTiled: boolean;
  planar: 1 | 2;
  samplesPerPixel: number;
  dtype: DType;
  littleEndian: boolean;
  /** Bytes of one decoded block as stored (samples narrower than a byte still packed). */
  blockBytes: number;
  /** Names the level in the block cache ("i0" image levels, "m0" masks). */
  key: string;
  decoder?: Promise<BlockDecoder>;
  /** The level's block offset and byte-count arrays, loaded whole on first use. */
  blockIndex?: Promise<[ArrayLike<number>, ArrayLike<number>]>;
  mask?: Level;
}

/**
 * The most compressed bytes a block may take: compression can make incompressible data a little
 * larger (LZW up to 1.5 x), never several times; a larger count is a corrupt index, and reading it
 * would allocate whatever the file claims.
 */
function maxCompressedBytes(blockBytes: number): number {
  return 4 * blockBytes + 65536;
}

function dtypeOf(format: number, bits: number): DType {
  // Blocks are decoded here into arrays of the sample's own width: widths without a typed array
  // (16- and 24-bit floats, 64-bit integers) are refused by name, not as blocks that "fail to decode".
  if (format === 3) {
    if (bits === 64) return 'float64';
    if (bits === 32) return 'float32';
    throw new RasterError('unsupported-dtype', `${bits}-bit floating-point samples are not supported; convert them, e.g. gdal_translate -ot Float32`);
  }
  if ((format === 1 || format === 2 || format === 4) && bits > 32) {
    throw new RasterError('unsupported-dtype', `${bits}-bit integer samples are not supported; convert them, e.g. gdal_translate -ot Float64`);
  }
  if (format === 2) return bits <= 8 ? 'int8' : bits <= 16 ? 'int16' : 'int32';
  if (format === 1 || format === 4) return bits <= 8 ? 'uint8' : bits <= 16 ? 'uint16' : 'uint32';
  // A complex sample's BitsPerSample counts both parts: CFloat32 is 64 bits.
  if (format === 5 || format === 6) throw new RasterError('unsupported-dtype', `complex samples (${format === 5 ? 'CInt' : 'CFloat'}${bits / 2}) are not supported`);
  throw new RasterError('unsupported-dtype', `unsupported sample format ${format}`);
}

function arrayView(dtype: DType, buffer: ArrayBuffer): TypedArray {
  switch (dtype) {
    case 'uint8': return new Uint8Array(buffer);
    case 'int8': return new Int8Array(buffer);
    case 'uint16': return new Uint16Array(buffer, 0, buffer.byteLength >> 1);
    case 'int16': return new Int16Array(buffer, 0, buffer.byteLength >> 1);
    case 'uint32': return new Uint32Array(buffer, 0, buffer.byteLength >> 2);
    case 'int32': return new Int32Array(buffer, 0, buffer.byteLength >> 2);
    case 'float32': return new Float32Array(buffer, 0, buffer.byteLength >> 2);
    case 'float64': return new Float64Array(buffer, 0, buffer.byteLength >> 3);
  }
}

function swapBytes(buffer: ArrayBuffer, size: number): void {
  const b = new Uint8Array(buffer);
  for (let i = 0; i + size <= b.length; i += size) {
    for (let j = 0; j < size >> 1; j++) {
      const t = b[i + j]!;
      b[i + j] = b[i + size - 1 - j]!;
      b[i + size - 1 - j] = t;
    }
  }
}

/** The TIFF header (up to 16 bytes, a BigTIFF's), or the reason the bytes are not a TIFF. */
async function checkTiffMagic(bytes: ByteSource): Promise<Buffer> {
  const size = bytes.size;
  const head = Buffer.from(await bytes.read(0, 16));
  const bom = head.toString('latin1', 0, 2);
  const magic = head.length < 8 ? -1 : bom === 'II' ? head.readUInt16LE(2) : bom === 'MM' ? head.readUInt16BE(2) : -1;
  if (size < 8 || (magic !== 42 && magic !== 43)) {
    const kind = head[0] === 0x89 && head[1] === 0x50 ? 'a PNG image'
      : head[0] === 0xff && head[1] === 0xd8 ? 'a JPEG image'
        : head[0] === 0x50 && head[1] === 0x4b ? 'a ZIP archive'
          : size === 0 ? 'an empty file' : `starts with bytes ${[...head.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
    throw new RasterError('not-tiff', `not a TIFF file (${kind})`);
  }
  return head;
}

/** geotiff.js's source interface over a ByteSource (geotiff.js does not export its BaseSource). */
function geotiffBytes(bytes: ByteSource) {
  return {
    // A byte source's reads are the caller's own arrays, so one that spans its buffer is handed on
    // as it is: copying every compressed block again cost a pass over the file.
    fetch: (slices: Array<{ offset: number; length: number }>, signal?: AbortSignal) => Promise.all(slices.map(async (s) => exactBuffer(await bytes.read(s.offset, s.length, signal)))),
    get fileSize() { return bytes.size; },
    close: async () => undefined,
  };
}

export function parseNodata(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const t = text.replace(/\0/g, '').trim();
  if (!t) return null;
  if (/^nan$/i.test(t)) return Number.NaN;
  const v = Number(t);
  return Number.isFinite(v) || /inf/i.test(t) ? v : null;
}

interface GdalMetadata {
  dataset: Record<string, string>;
  bandDescriptions: Map<number, string>;
  /** GDAL's per-band colour interpretation overrides (role="colorinterp"). */
  colorInterps: Map<number, string>;
  /** Per-band unit conversion (role="scale", role="offset"), finite numbers only. */
  scales: Map<number, number>;
  offsets: Map<number, number>;
}

/** Longest GeoAsciiParams accepted (the CRS citations; GDAL's are under 1 KB). */
const GEO_ASCII_MAX_CHARS = 65_536;

/**
 * GDAL_METADATA's items, read by a scanner that only moves forward. The tag comes from the file:
 * the regular expressions this replaced took time growing with the square of its length when its
 * `<Item ` had no `>` (2.4 MB of them held the server for minutes).
 */
function parseGdalMetadata(xml: unknown): GdalMetadata {
  const out: GdalMetadata = { dataset: {}, bandDescriptions: new Map(), colorInterps: new Map(), scales: new Map(), offsets: new Map() };
  if (typeof xml !== 'string') return out;
  const decode = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
  for (let pos = 0; ;) {
    const open = xml.indexOf('<Item', pos);
    if (open < 0) break;
    pos = open + 5;
    if (!/\s/.test(xml[pos] ?? '')) continue;
    const gt = xml.indexOf('>', pos);
    const close = gt < 0 ? -1 : xml.indexOf('</Item>', gt);
    if (close < 0) break; // no complete item after this one either
    const attrs = itemAttributes(xml.slice(pos, gt), decode);
    // GDAL escapes an item's value twice (once itself, once as XML text) and unescapes it twice.
    const value = decode(decode(xml.slice(gt + 1, close)));
    pos = close + 7;
    if (attrs.sample !== undefined) {
      if (attrs.role === 'description') out.bandDescriptions.set(Number(attrs.sample), value);
      if (attrs.role === 'colorinterp') out.colorInterps.set(Number(attrs.sample), value.toLowerCase());
      const number = value.trim() === '' ? Number.NaN : Number(value);
      if ((attrs.role === 'scale' || attrs.role === 'offset') && Number.isFinite(number)) (attrs.role === 'scale' ? out.scales : out.offsets).set(Number(attrs.sample), number);
    } else if (attrs.name && !attrs.domain) {
      out.dataset[attrs.name] = value;
    }
  }
  return out;
}

/** `name="value"` pairs of an item's opening tag, in one pass. */
function itemAttributes(text: string, decode: (s: string) => string): Record<string, string> {
  const attrs: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const start = i;
    while (i < text.length && /\w/.test(text[i]!)) i++;
    if (i > start && text[i] === '=' && text[i + 1] === '"') {
      const end = text.indexOf('"', i + 2);
      if (end < 0) break;
      attrs[text.slice(start, i)] = decode(text.slice(i + 2, end));
      i = end + 1;
    } else if (i === start) {
      i++;
    }
  }
  return attrs;
}

/**
 * What escapes parsing: our own errors as they are; anything else (geotiff.js reading a tag that
 * points past the end of the file, a GeoKey naming a tag that is not there, a LONG8 beyond 2^53)
 * means a file it cannot read, said as one (fuzzing found each as a raw TypeError or RangeError).
 */
function corruptUnlessOurs(err: unknown): unknown {
  // Ours, an abort, or the system failing to read the file (EIO, EACCES): not the TIFF's fault.
  const code = (err as NodeJS.ErrnoException)?.code;
  if (err instanceof SatsegError || (err as Error)?.name === 'AbortError' || (typeof code === 'string' && /^E[A-Z]+$/.test(code))) return err;
  return new RasterError('corrupt', `the TIFF is corrupt: ${String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 200)}`);
}

async function loadTag<T>(fd: ImageFileDirectory, name: string): Promise<T | undefined> {
  return fd.hasTag(name as never) ? (await fd.loadValue(name as never)) as T : undefined;
}

async function describeLevel(image: GeoTIFFImage, key: string): Promise<Level> {
  const fd = image.getFileDirectory();
  const bits = Array.from((fd.getValue('BitsPerSample') as ArrayLike<number> | undefined) ?? [1]);
  const formats = Array.from((fd.getValue('SampleFormat') as ArrayLike<number> | undefined) ?? [1]);
  if (new Set(bits).size > 1) throw new RasterError('unsupported-dtype', `bands with different bit depths (${bits.join(', ')}) are not supported`);
  const width = image.getWidth();
  const height = image.getHeight();
  const blockWidth = image.getTileWidth();
  const blockHeight = image.getTileHeight();
  const samplesPerPixel = image.getSamplesPerPixel();
  // Sizes come from tags any writer may have mangled: an array, a float (fuzzing: a TileLength of
  // 5e-324 made billions of blocks), a count beyond what a TIFF can hold (SamplesPerPixel is a
  // SHORT; 2^31 bands exhausted the heap describing them).
  const whole = (v: unknown, most: number) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= most;
  const sizes: Array<[string, unknown, number]> = [['ImageWidth', width, 2 ** 32], ['ImageLength', height, 2 ** 32], [image.isTiled ? 'TileWidth' : 'ImageWidth', blockWidth, 2 ** 32], [image.isTiled ? 'TileLength' : 'RowsPerStrip', blockHeight, 2 ** 32], ['SamplesPerPixel', samplesPerPixel, 65535]];
  for (const [tag, value, most] of sizes) {
    if (whole(value, most)) continue;
    if (value === 0 && ['ImageWidth', 'ImageLength', 'SamplesPerPixel'].includes(tag)) throw new RasterError('no-bands', 'the image has zero bands or zero size');
    const shown = typeof value === 'object' && value !== null && 'length' in value ? `a list of ${(value as ArrayLike<unknown>).length}` : String(value).slice(0, 40);
    throw new RasterError('corrupt', `the file is corrupt: its ${tag} is ${shown}, not a whole number from 1 to ${most.toLocaleString('en-US')}`);
  }
  const samplesPerBlock = image.planarConfiguration === 2 ? 1 : samplesPerPixel;
  return {
    image, fd, width, height, blockWidth, blockHeight,
    blockBytes: Math.ceil((blockWidth * samplesPerBlock * (bits[0] ?? 8)) / 8) * blockHeight,
    blocksAcross: Math.ceil(width / blockWidth),
    blocksDown: Math.ceil(height / blockHeight),
    isTiled: image.isTiled,
    planar: image.planarConfiguration,
    samplesPerPixel,
    dtype: dtypeOf(formats[0] ?? 1, bits[0] ?? 8),
    littleEndian: image.littleEndian,
    key,
  };
}

export class GeoTiffSource implements RasterSource {
  readonly info: RasterInfo;
  private readonly uid = nextSourceId++;
  private readonly alphaIndex: number | null;

  /** `externalMask`: a mask held beside the file (GDAL's `.msk`), used where the file has none inside. */
  private constructor(info: RasterInfo, private readonly levels: Level[], private readonly bytes: ByteSource, private readonly externalMask: RasterSource | null = null) {
    this.info = info;
    const alpha = info.bands.find((b) => b.colorInterp === 'alpha');
    this.alphaIndex = alpha ? alpha.index - 1 : null;
  }

  /** The bytes' version: a source is stale once its ByteSource reports another. */
  get version(): string {
    return this.bytes.version;
  }

  async checkUnchanged(): Promise<void> {
    const now = await this.bytes.currentVersion?.();
    if (now !== undefined && now !== this.bytes.version) {
      throw new RasterError('source-changed', `${this.bytes.label} was written over while it was being read (its size, modification or change time changed): what was read before and after is not one raster; run it again`);
    }
  }

  /**
   * Parse a GeoTIFF from its bytes; takes ownership of `bytes` (closed on failure and by close())
   * and of `sidecars.mask`. `sidecars`: what GDAL keeps beside a file and reads with it, the
   * nodata value of its `.aux.xml` and its `.msk` mask (sidecars.ts).
   */
  static async open(bytes: ByteSource, sidecars: { nodata?: number | null; mask?: RasterSource | null } = {}): Promise<GeoTiffSource> {
    try {
      const source = await GeoTiffSource.parse(bytes, { nodata: sidecars.nodata ?? null, mask: sidecars.mask ?? null }, false);
      // A .msk the file has no use for (it has a mask of its own) is closed now.
      if (sidecars.mask && source.externalMask !== sidecars.mask) await sidecars.mask.close();
      return source;
    } catch (err) {
      await bytes.close();
      await sidecars.mask?.close();
      throw corruptUnlessOurs(err);
    }
  }

  /**
   * A TIFF read for its pixels alone (a `.msk`: GDAL writes it without georeferencing, which it
   * shares with its image); its geotransform is the identity and its CRS a placeholder.
   */
  static async openPixels(bytes: ByteSource): Promise<GeoTiffSource> {
    try {
      return await GeoTiffSource.parse(bytes, { nodata: null, mask: null }, true);
    } catch (err) {
      await bytes.close();
      throw corruptUnlessOurs(err);
    }
  }

  private static async parse(bytes: ByteSource, sidecars: { nodata: number | null; mask: RasterSource | null }, pixelsOnly: boolean): Promise<GeoTiffSource> {
    await checkDirectoryChain(bytes, await checkTiffMagic(bytes));
    let tiff: GeoTIFF;
    let images: GeoTIFFImage[] = [];
    try {
      tiff = await GeoTIFF.fromSource(geotiffBytes(bytes) as never);
      const count = await tiff.getImageCount();
      for (let i = 0; i < count; i++) images.push(await tiff.getImage(i));
    } catch (err) {
      if (err instanceof RasterError) throw err;
      throw new RasterError('truncated', `cannot read the TIFF structure (file truncated or corrupt?): ${(err as Error).message}`);
    }
    images = images.filter(Boolean);
    if (images.length === 0) throw new RasterError('no-bands', 'the TIFF has no images');

    const subfileType = (im: GeoTIFFImage) => Number(im.getFileDirectory().getValue('NewSubfileType') ?? 0);
    const isMask = (im: GeoTIFFImage) => (subfileType(im) & SUBFILE_MASK) !== 0
      && Number(im.getFileDirectory().getValue('PhotometricInterpretation')) === 4;
    const mainImage = images.find((im) => !isMask(im) && (subfileType(im) & SUBFILE_REDUCED) === 0) ?? images[0]!;
    // Georeferencing first: a file we cannot place is useless whatever its pixels are.
    const geoKeys = mainImage.getGeoKeys() as Record<string, number | string> | null;
    const mainFd = mainImage.getFileDirectory();
    const geoTransform: GeoTransform = pixelsOnly ? [0, 1, 0, 0, 0, -1] : geoTransformFromTags({
      ModelPixelScale: await loadTag(mainFd, 'ModelPixelScale'),
      ModelTiepoint: await loadTag(mainFd, 'ModelTiepoint'),
      ModelTransformation: await loadTag(mainFd, 'ModelTransformation'),
      rasterType: geoKeys ? Number(geoKeys.GTRasterTypeGeoKey ?? 1) : 1,
    });
    const crs = pixelsOnly ? crsFromEpsg(4326) : crsFromGeoKeys(geoKeys);
    // The raw GeoKey tags travel with the CRS, so writers copy it byte for byte.
    const keyDirectory = await loadTag<ArrayLike<number>>(mainFd, 'GeoKeyDirectory');
    if (keyDirectory) {
      const dbl = await loadTag<ArrayLike<number>>(mainFd, 'GeoDoubleParams');
      const ascii = await loadTag<string>(mainFd, 'GeoAsciiParams');
      // Citations are names (GDAL's are under 1 KB): these are copied into every mask made from the file.
      if (ascii && ascii.length > GEO_ASCII_MAX_CHARS) throw new RasterError('unsupported-crs', `its GeoAsciiParams (the CRS citations) are ${ascii.length.toLocaleString('en-US')} characters, over ${GEO_ASCII_MAX_CHARS.toLocaleString('en-US')}`);
      crs.geoKeys = { GeoKeyDirectory: Array.from(keyDirectory), GeoDoubleParams: dbl ? Array.from(dbl) : undefined, GeoAsciiParams: ascii };
    }
    const main = await describeLevel(mainImage, 'i0');
    if (main.samplesPerPixel < 1 || main.width < 1 || main.height < 1) throw new RasterError('no-bands', 'the image has zero bands or zero size');

    const masks: Level[] = [];
    for (const im of images) if (isMask(im)) masks.push(await describeLevel(im, `m${masks.length}`));
    const levels: Level[] = [main];
    for (const im of images) {
      if (im === mainImage || isMask(im) || (subfileType(im) & SUBFILE_REDUCED) === 0) continue;
      const level = await describeLevel(im, `i${levels.length}`);
      if (level.samplesPerPixel !== main.samplesPerPixel || level.width >= main.width) continue;
      // An overview is the image at a coarser scale, both sides by the same factor (GDAL rounds
      // each side up, so a side may be a pixel and a fraction off). One that is not (a probe's
      // 256 x 100,000,000 under a 512²) is no view of the image: it is ignored, not read.
      const expectedHeight = (main.height * level.width) / main.width;
      if (Math.abs(level.height - expectedHeight) > main.height / main.width + 1) continue;
      levels.push(level);
    }
    levels.sort((a, b) => b.width - a.width);
    for (const level of levels) level.mask = masks.find((m) => m.width === level.width && m.height === level.height);

    const fd = main.fd;

    const photometric = Number(fd.getValue('PhotometricInterpretation') ?? 1);
    const extraSamples = Array.from((await loadTag<ArrayLike<number>>(fd, 'ExtraSamples')) ?? []);
    const gdalMeta = parseGdalMetadata(await loadTag(fd, 'GDAL_METADATA'));
    const spp = main.samplesPerPixel;
    const colorBands = photometric === 2 || photometric === 6 ? 3 : 1;
    const bands: BandInfo[] = [];
    for (let i = 0; i < spp; i++) {
      let colorInterp: ColorInterp = 'undefined';
      if (i < colorBands && spp - extraSamples.length > i) {
        if (photometric === 2 || photometric === 6) colorInterp = (['red', 'green', 'blue'] as const)[i]!;
        else if (photometric === 3) colorInterp = 'palette';
        else if (photometric === 0 || photometric === 1) colorInterp = 'gray';
      }
      const extra = extraSamples[i - (spp - extraSamples.length)];
      if (i >= spp - extraSamples.length && (extra === 1 || extra === 2)) colorInterp = 'alpha';
      // GDAL writes its own colour interpretation when it differs from what the TIFF tags imply
      // (an RGBN scene stored as RGB + extra sample is gray, undefined x 3 to GDAL); it wins.
      const override = gdalMeta.colorInterps.get(i);
      if (override !== undefined) colorInterp = (KNOWN_COLOR_INTERPS as readonly string[]).includes(override) ? override as ColorInterp : 'undefined';
      const scale = gdalMeta.scales.get(i);
      const offset = gdalMeta.offsets.get(i);
      bands.push({ index: i + 1, description: gdalMeta.bandDescriptions.get(i) ?? null, colorInterp, ...(scale !== undefined ? { scale } : {}), ...(offset !== undefined ? { offset } : {}) });
    }

    let colorMap: RasterInfo['colorMap'] = null;
    if (photometric === 3) {
      const cm = await loadTag<ArrayLike<number>>(fd, 'ColorMap');
      if (cm) {
        const n = cm.length / 3;
        colorMap = [];
        for (let i = 0; i < n; i++) colorMap.push([cm[i]! >> 8, cm[n + i]! >> 8, cm[2 * n + i]! >> 8]);
      }
    }

    // The file's own value first; else the one its .aux.xml declares (GDAL's PAM).
    const nodata = parseNodata(fd.getValue('GDAL_NODATA')) ?? sidecars.nodata;
    // A .msk counts where the file has no mask of its own.
    const externalMask = main.mask ? null : sidecars.mask;
    if (externalMask && (externalMask.info.width !== main.width || externalMask.info.height !== main.height || externalMask.info.bandCount < 1)) {
      throw new RasterError('corrupt', `its mask file (.msk) is ${externalMask.info.width} x ${externalMask.info.height} px, not the image's ${main.width} x ${main.height}`);
    }
    const info: RasterInfo = {
      width: main.width,
      height: main.height,
      bandCount: spp,
      dtype: main.dtype,
      nodata,
      geoTransform,
      crs,
      bands,
      overviews: levels.slice(1).map((l) => ({ width: l.width, height: l.height, resolution: Math.abs(geoTransform[1]) * main.width / l.width })),
      maskKind: main.mask || externalMask ? 'mask' : bands.some((b) => b.colorInterp === 'alpha') ? 'alpha' : nodata !== null ? 'nodata' : 'none',
      colorMap,
      metadata: gdalMeta.dataset,
      blockWidth: main.blockWidth,
      blockHeight: main.blockHeight,
      blockSamples: main.planar === 2 ? 1 : spp,
      compression: compressionName(Number(fd.getValue('Compression') ?? 1)),
    };
    return new GeoTiffSource(info, levels, bytes, externalMask);
  }

  get levelCount(): number {
    return this.levels.length;
  }

  levelSize(level: number): { width: number; height: number } {
    const l = this.levels[level];
    if (!l) throw new RasterError('bad-window', `no overview level ${level}`);
    return { width: l.width, height: l.height };
  }

  async read(win: Window, opts: ReadOptions = {}): Promise<PixelBlock> {
    const levelIndex = opts.level ?? 0;
    const level = this.levels[levelIndex];
    if (!level) throw new RasterError('bad-window', `no overview level ${levelIndex}`);
    const bands = opts.bands ?? this.info.bands.map((b) => b.index);
    for (const b of bands) {
      if (!Number.isInteger(b) || b < 1 || b > this.info.bandCount) {
        throw new RasterError('bad-window', `band ${b} does not exist (the raster has ${this.info.bandCount} band${this.info.bandCount === 1 ? '' : 's'})`);
      }
    }
    if (!(win.width > 0 && win.height > 0 && Number.isInteger(win.x) && Number.isInteger(win.y))) {
      throw new RasterError('bad-window', `invalid window ${JSON.stringify(win)}`);
    }
    const n = win.width * win.height;
    // A bound on any one read: a window this large cannot be held (typed arrays stop at 4 G
    // elements); callers read large areas in pieces.
    if (n > MAX_WINDOW_PIXELS) throw new RasterError('too-large', `a window of ${win.width} x ${win.height} pixels is too large to read at once (over ${MAX_WINDOW_PIXELS / 2 ** 20} Mpx)`);
    const out = bands.map(() => allocate(level.dtype, n));
    const valid = new Uint8Array(n);
    const samples = bands.map((b) => b - 1);
    const alphaSample = this.alphaIndex;
    const alpha = alphaSample !== null ? (samples.includes(alphaSample) ? null : allocate(level.dtype, n)) : null;
    const readSamples = alpha ? [...samples, alphaSample!] : samples;
    const targets = alpha ? [...out, alpha] : out;

    await this.copyWindow(level, win, readSamples, targets, valid, opts.signal);

    if (level.mask) {
      const mask = new Uint8Array(n);
      await this.copyWindow(level.mask, win, [0], [mask], null, opts.signal);
      for (let i = 0; i < n; i++) if (mask[i] === 0) valid[i] = 0;
    } else if (this.externalMask) {
      // The .msk level of this level's size (gdaladdo builds them together); a level without one
      // is read unmasked.
      const m = this.externalMask;
      const maskLevel = Array.from({ length: m.levelCount }, (_, l) => m.levelSize(l)).findIndex((s) => s.width === level.width && s.height === level.height);
      if (maskLevel >= 0) {
        const mask = (await m.read(win, { level: maskLevel, bands: [1], nodataInvalid: false, signal: opts.signal })).bands[0]!;
        for (let i = 0; i < n; i++) if (mask[i] === 0) valid[i] = 0;
      }
    }
    if (alphaSample !== null) {
      const a = alpha ?? out[samples.indexOf(alphaSample)]!;
      for (let i = 0; i < n; i++) if (a[i] === 0) valid[i] = 0;
    }
    if (opts.nodataInvalid !== false) this.applyNodata(out, valid, opts.anyBandNodata ?? false);

    return {
      window: win,
      width: win.width,
      height: win.height,
      dtype: level.dtype,
      bands: out,
      valid,
      geoTransform: windowTransform(this.info.geoTransform, win, this.info.width / level.width, this.info.height / level.height),
      crs: this.info.crs,
    };
  }

  /** Pixels holding the nodata value (or NaN) become invalid: where every band does, or with `anyBand` where one does. */
  private applyNodata(bands: TypedArray[], valid: Uint8Array, anyBand: boolean): void {
    const nodata = this.info.nodata;
    const isFloat = this.info.dtype.startsWith('float');
    if (nodata === null && !isFloat) return;
    const n = valid.length;
    const nanNodata = nodata !== null && Number.isNaN(nodata);
    const nd = nodata === null || nanNodata ? Number.NaN : nodata;
    if (bands.length === 1 || anyBand) {
      // One band (class masks, DEMs), or any band: one comparison per pixel and band.
      for (const band of bands) {
        for (let i = 0; i < n; i++) {
          const v = band[i]!;
          if (v === nd || v !== v) valid[i] = 0;
        }
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      if (!valid[i]) continue;
      let allNodata = true;
      for (const band of bands) {
        const v = band[i]!;
        if (v !== v) continue; // NaN is never a usable value
        if (v === nd) continue;
        allNodata = false;
        break;
      }
      if (allNodata) valid[i] = 0;
    }
  }

  /** Copy the requested samples of a window from decoded blocks; marks in-image pixels valid. */
  private async copyWindow(level: Level, win: Window, samples: number[], targets: TypedArray[], valid: Uint8Array | null, signal?: AbortSignal): Promise<void> {
    const x0 = Math.max(0, win.x);
    const y0 = Math.max(0, win.y);
    const x1 = Math.min(level.width, win.x + win.width);
    const y1 = Math.min(level.height, win.y + win.height);
    if (x1 <= x0 || y1 <= y0) return;
    const bx0 = Math.floor(x0 / level.blockWidth);
    const bx1 = Math.floor((x1 - 1) / level.blockWidth);
    const by0 = Math.floor(y0 / level.blockHeight);
    const by1 = Math.floor((y1 - 1) / level.blockHeight);

    const jobs: Array<Promise<void>> = [];
    for (let by = by0; by <= by1; by++) {
      for (let bx = bx0; bx <= bx1; bx++) {
        const planes = level.planar === 2 ? samples.map((s, i) => ({ sample: s, targets: [targets[i]!], offsets: [0] })) : [{ sample: 0, targets, offsets: samples }];
        for (const plane of planes) {
          jobs.push(this.block(level, bx, by, plane.sample, signal).then((data) => {
            const stride = level.planar === 2 ? 1 : level.samplesPerPixel;
            const bxStart = bx * level.blockWidth;
            const byStart = by * level.blockHeight;
            const cx0 = Math.max(x0, bxStart);
            const cx1 = Math.min(x1, bxStart + level.blockWidth);
            const cy0 = Math.max(y0, byStart);
            const cy1 = Math.min(y1, byStart + level.blockHeight);
            for (let t = 0; t < plane.targets.length; t++) {
              const target = plane.targets[t]!;
              const sampleOffset = plane.offsets[t]!;
              for (let y = cy0; y < cy1; y++) {
                let src = ((y - byStart) * level.blockWidth + (cx0 - bxStart)) * stride + sampleOffset;
                let dst = (y - win.y) * win.width + (cx0 - win.x);
                if (stride === 1) {
                  target.set(data.subarray(src, src + (cx1 - cx0)) as never, dst);
                } else {
                  for (let x = cx0; x < cx1; x++, src += stride, dst++) target[dst] = data[src]!;
                }
              }
            }
            if (valid) {
              for (let y = cy0; y < cy1; y++) valid.fill(1, (y - win.y) * win.width + (cx0 - win.x), (y - win.y) * win.width + (cx1 - win.x));
            }
          }));
        }
      }
    }
    await Promise.all(jobs);
  }

  private block(level: Level, bx: number, by: number, sample: number, signal?: AbortSignal): Promise<TypedArray> {
    const index = level.planar === 2 ? sample * level.blocksAcross * level.blocksDown + by * level.blocksAcross + bx : by * level.blocksAcross + bx;
    const key = `${this.uid}:${level.key}:${index}`;
    const cached = blockCache.get(key);
    if (cached) return Promise.resolve(arrayView(level.dtype, cached));
    // Concurrent readers of a block that is not cached yet share one decode: without this, a burst
    // of tile requests over the same area decodes each block once per request and floods the
    // thread pool. The shared decode ignores any one reader's abort signal; each reader checks
    // its own afterwards.
    const decoding = decodesInFlight.run(key, () => this.decodeBlock(level, bx, by, sample, index).then((buffer) => {
      blockCache.set(key, buffer);
      return buffer;
    }));
    return decoding.then((buffer) => {
      signal?.throwIfAborted();
      return arrayView(level.dtype, buffer);
    });
  }

  private async decodeBlock(level: Level, bx: number, by: number, sample: number, index: number): Promise<ArrayBuffer> {
    const what = level.isTiled ? 'tile' : 'strip';
    const offsetTag = level.isTiled ? 'TileOffsets' : 'StripOffsets';
    const countTag = level.isTiled ? 'TileByteCounts' : 'StripByteCounts';
    // One read for the whole index instead of two small reads per block: on a cold server every
    // block read otherwise waits for those reads, one after another, behind the thread pool.
    if (!level.blockIndex) {
      const loading = Promise.all([level.fd.loadValue(offsetTag as never), level.fd.loadValue(countTag as never)]) as Promise<[ArrayLike<number>, ArrayLike<number>]>;
      level.blockIndex = loading;
      // A failed read is not kept: the next block tries again (a transient error must not
      // poison the whole level).
      loading.catch(() => { if (level.blockIndex === loading) level.blockIndex = undefined; });
    }
    let offsets: ArrayLike<number>;
    let counts: ArrayLike<number>;
    try {
      [offsets, counts] = await level.blockIndex;
    } catch (err) {
      if (err instanceof RasterError) throw err; // the bytes could not be fetched (a remote source): not a truncated file
      throw new RasterError('truncated', `the ${what} index (${offsetTag}) cannot be read (file truncated?): ${(err as Error).message}`);
    }
    // A table shorter than the image's blocks (fuzzing: "Index 4 out of bounds for length 4").
    if (!(index < (offsets?.length ?? 0) && index < (counts?.length ?? 0))) {
      throw new RasterError('corrupt', `the file is corrupt: ${what} ${index} is missing from its ${offsetTag} (${offsets?.length ?? 0} entries) or ${countTag} (${counts?.length ?? 0})`);
    }
    const offset = Number(await level.fd.loadValueIndexed(offsetTag as never, index));
    const count = Number(await level.fd.loadValueIndexed(countTag as never, index));
    if (count > 0 && offset + count > this.bytes.size) {
      throw new RasterError('truncated', `${what} ${index} failed to decode: its bytes run past the end of the file (file truncated?)`);
    }
    // Checked before a byte is read or decoded, at every level (overviews and masks have their
    // own block sizes), for the CLI as well as the server.
    if (level.blockBytes > DEFAULT_RASTER_LIMITS.maxBlockBytes) throw blockTooLarge(level, DEFAULT_RASTER_LIMITS.maxBlockBytes);
    if (count > maxCompressedBytes(level.blockBytes)) {
      throw new RasterError('decode-failed', `${what} ${index} is corrupt: ${count} compressed bytes for a block of ${level.blockBytes} bytes`);
    }
    level.decoder ??= createBlockDecoder(level.fd, level.blockBytes);
    let decoder: BlockDecoder;
    try {
      decoder = await level.decoder;
    } catch (err) {
      if (err instanceof RasterError) throw err;
      throw new RasterError('unsupported-compression', `cannot decode ${compressionName(Number(level.fd.getValue('Compression')))}: ${(err as Error).message}`);
    }
    let result: { data: ArrayBufferLike };
    try {
      result = await level.image.getTileOrStrip(bx, by, sample, decoder as never);
    } catch (err) {
      if (err instanceof RasterError) throw err; // as above: a remote read failed, or the file changed under us
      if (err instanceof BlockOverrun) {
        throw new RasterError('decode-failed', `${what} ${index} is corrupt: ${err.message} (${level.blockWidth} x ${level.blockHeight} px; a decompression bomb?)`);
      }
      throw new RasterError('decode-failed', `${what} ${index} failed to decode (file truncated or corrupt?): ${(err as Error).message}`);
    }
    const expected = level.blockWidth * level.image.getBlockHeight(by) * (level.planar === 2 ? 1 : level.samplesPerPixel) * bytesPerSample(level.dtype);
    let buffer = result.data as ArrayBuffer;
    if (buffer.byteLength < expected) {
      throw new RasterError('decode-failed', `${what} ${index} failed to decode (file truncated or corrupt?): ${buffer.byteLength} of ${expected} bytes`);
    }
    if (!level.littleEndian && bytesPerSample(level.dtype) > 1) {
      buffer = buffer.slice(0);
      swapBytes(buffer, bytesPerSample(level.dtype));
    }
    return buffer;
  }

  async close(): Promise<void> {
    // Decoded blocks of this source are left to age out of the shared LRU.
    await this.bytes.close();
    await this.externalMask?.close();
  }
}
