/**
 * Decoders for one compressed TIFF block (tile or strip).
 *
 * geotiff.js decodes most codecs itself. JPEG and WebP go through sharp (libjpeg-turbo, libwebp)
 * instead: geotiff.js's JPEG decoder leaves YCbCr unconverted and upsamples chroma by nearest
 * neighbour, which differs from GDAL by more than a few DN at edges, and its WebP decoder needs a
 * browser canvas. With libjpeg we decode the same way GDAL does. DEFLATE goes through Node's zlib
 * rather than geotiff.js's JavaScript inflate: native, and on libuv's threads, so the blocks of
 * one window inflate in parallel off the event loop.
 *
 * Every decoder is told the decoded size of a block before it starts and stops there: a stream
 * that would expand past it (a corrupt block, or a decompression bomb: 400 KB of LZW or DEFLATE
 * can claim gigabytes) fails with a BlockOverrun instead of growing memory without bound. LZW and
 * PackBits are our own bounded decoders (geotiff.js's grow JavaScript arrays without limit);
 * zlib and ZSTD are given an output capacity; LERC headers and JPEG/WebP dimensions are checked
 * against the block before anything is allocated.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { BaseDecoder } from 'geotiff';
import type { ImageFileDirectory } from 'geotiff';
import { ZSTDDecoder } from 'zstddec';
import Lerc from 'lerc';
import { decodeLzw } from './tiff-lzw.ts';
import { decodePackBits } from './packbits.ts';
import { BlockOverrun } from './block-overrun.ts';
import { decodePool, OFF_THREAD_BYTES } from './decode-pool.ts';
import { RasterError } from '../errors.ts';

export interface BlockDecoder {
  decode(buffer: ArrayBuffer): Promise<ArrayBuffer>;
}

export interface DecoderParameters {
  tileWidth: number;
  tileHeight: number;
  planarConfiguration: number;
  bitsPerSample: number[];
  predictor: number;
  samplesPerPixel: number;
  JPEGTables?: Uint8Array;
  LercParameters?: number[];
}

const SOI = 0xffd8;

/** Join TIFF's shared JPEGTables with an abbreviated block stream into one standalone JPEG. */
export function joinJpegTables(tables: Uint8Array | undefined, block: Uint8Array): Uint8Array {
  if (!tables || tables.length < 4) return block;
  const tableBody = tables.subarray(2, tables.length - 2); // drop SOI and EOI
  const out = new Uint8Array(block.length + tableBody.length);
  out[0] = SOI >> 8;
  out[1] = SOI & 0xff;
  out.set(tableBody, 2);
  out.set(block.subarray(2), 2 + tableBody.length);
  return out;
}

const inflate = promisify(zlib.inflate);

/** The block is corrupt or a bomb: a decoder that reports its output would pass the block. */
function overrun(err: unknown, maxBytes: number): never {
  if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new BlockOverrun(maxBytes);
  throw err;
}

/**
 * One output chunk for the whole block, up to this size. zlib's default 16 KiB chunks make a
 * 256 KiB block sixteen trips to libuv's pool and back plus a concatenation: 3-4x the CPU of
 * inflating it in one (measured on 512 px RLE-deflated class-mask tiles). One byte beyond the
 * block lets zlib see the stream's end without a further, empty trip. Capped so a header that
 * claims a huge block does not allocate it before a single byte has been inflated.
 */
const MAX_INFLATE_CHUNK = 4 << 20;

/**
 * Inflate into at most `maxBytes`: zlib stops as soon as its output would pass them. `fills` says
 * the output is `maxBytes` long when the stream is sound (a block), so one chunk of that size
 * takes it; otherwise (a LERC blob inside a block, of unknown size) zlib's own chunks grow with it.
 */
async function inflateBounded(input: Uint8Array, maxBytes: number, fills = true): Promise<Buffer> {
  const chunkSize = fills ? Math.max(zlib.constants.Z_MIN_CHUNK, Math.min(maxBytes + 1, MAX_INFLATE_CHUNK)) : undefined;
  return inflate(input, { maxOutputLength: maxBytes, chunkSize }).catch((err: unknown) => overrun(err, maxBytes));
}

/** The view's bytes as an ArrayBuffer of their own: its buffer when the view spans all of it, else a copy. */
export function exactBuffer(view: Uint8Array): ArrayBuffer {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength
    ? view.buffer as ArrayBuffer
    : view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
}

async function decodeWithSharp(input: Uint8Array, channels: number, maxPixels: number): Promise<ArrayBuffer> {
  // sharp (libvips) takes a tenth of a second to load; only JPEG and WebP files need it.
  const { default: sharp } = await import('sharp');
  // The image may not claim more pixels than its block holds: libvips would allocate whatever
  // the header says before decoding a single line.
  let pipeline = sharp(input, { failOn: 'error', limitInputPixels: maxPixels });
  if (channels === 4) pipeline = pipeline.ensureAlpha();
  if (channels === 3) pipeline = pipeline.removeAlpha();
  if (channels === 1) pipeline = pipeline.extractChannel(0);
  try {
    const { data } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    return exactBuffer(data);
  } catch (err) {
    if (/exceeds pixel limit/.test((err as Error).message)) throw new BlockOverrun(maxPixels * channels);
    throw err;
  }
}

/** A decoder that knows the size of the blocks it decodes, and never produces more. */
abstract class BoundedDecoder extends BaseDecoder {
  constructor(protected readonly params: DecoderParameters, protected readonly maxBytes: number) {
    super(params as never);
  }
  protected get blockPixels(): number {
    return this.params.tileWidth * this.params.tileHeight;
  }
}

/** The pixel count each frame header (SOF) of a JPEG stream claims, in stream order. */
export function jpegFrames(jpeg: Uint8Array): number[] {
  const frames: number[] = [];
  let i = 2; // after SOI
  while (i + 1 < jpeg.length) {
    if (jpeg[i] !== 0xff) { i++; continue; } // entropy-coded data
    const marker = jpeg[i + 1]!;
    // Stuffed zero, fill byte, restart markers, SOI/EOI: no length follows.
    if (marker === 0x00 || marker === 0xff || (marker >= 0xd0 && marker <= 0xd9) || marker === 0x01) { i += marker === 0xff ? 1 : 2; continue; }
    if (i + 3 >= jpeg.length) break;
    const length = (jpeg[i + 2]! << 8) | jpeg[i + 3]!;
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (sof && i + 8 < jpeg.length) frames.push(((jpeg[i + 5]! << 8) | jpeg[i + 6]!) * ((jpeg[i + 7]! << 8) | jpeg[i + 8]!));
    i += 2 + Math.max(2, length);
  }
  return frames;
}

/** geotiff.js's own JPEG decoder (not exported by the package): raw components, no colour conversion. */
let rawJpegDecoder: Promise<new (params: object) => { decodeBlock(buffer: ArrayBuffer): ArrayBuffer }> | undefined;
function geotiffJpegDecoder(): NonNullable<typeof rawJpegDecoder> {
  rawJpegDecoder ??= (async () => {
    const main = createRequire(import.meta.url).resolve('geotiff');
    const file = path.join(path.dirname(main), '..', 'dist-module', 'compression', 'jpeg.js');
    return ((await import(pathToFileURL(file).href)) as { default: NonNullable<Awaited<typeof rawJpegDecoder>> }).default;
  })();
  return rawJpegDecoder;
}

class SharpJpegDecoder extends BoundedDecoder {
  override async decodeBlock(buffer: ArrayBuffer): Promise<ArrayBuffer> {
    const channels = this.params.planarConfiguration === 2 ? 1 : this.params.samplesPerPixel;
    const jpeg = joinJpegTables(this.params.JPEGTables, new Uint8Array(buffer));
    if (channels === 4) {
      // Four components (a TIFF's RGBN, RGBA or any four bands) are CMYK to libjpeg: sharp turned
      // them into sRGB and band 4 into 255 (probe: NAIP read as (3,1,1,255) where GDAL reads
      // (61,97,73,17)), and kept as CMYK libvips inverts them. Read raw, as libtiff and GDAL do,
      // by geotiff.js's decoder, once sharp's header read says the block is no larger than it may be.
      const { default: sharp } = await import('sharp');
      const meta = await sharp(jpeg, { failOn: 'error', limitInputPixels: this.blockPixels }).metadata().catch((err: Error) => {
        if (/exceeds pixel limit/.test(err.message)) throw new BlockOverrun(this.blockPixels * channels);
        throw err;
      });
      if (meta.channels === 4) {
        // sharp reads the first frame's header only; geotiff.js decodes every frame the stream
        // holds (a second one claiming 8000 x 8000 px took 10 s and 2.6 GB on the event loop).
        const frames = jpegFrames(jpeg);
        if (frames.length !== 1 || frames[0]! > this.blockPixels || (meta.width ?? Infinity) * (meta.height ?? Infinity) > this.blockPixels) throw new BlockOverrun(this.blockPixels * channels);
        const Decoder = await geotiffJpegDecoder();
        return exactBuffer(new Uint8Array(new Decoder({}).decodeBlock(exactBuffer(jpeg))));
      }
    }
    return decodeWithSharp(jpeg, channels, this.blockPixels);
  }
}

class SharpWebpDecoder extends BoundedDecoder {
  override async decodeBlock(buffer: ArrayBuffer): Promise<ArrayBuffer> {
    return decodeWithSharp(new Uint8Array(buffer), this.params.samplesPerPixel, this.blockPixels);
  }
}

class ZlibDeflateDecoder extends BoundedDecoder {
  override async decodeBlock(buffer: ArrayBuffer): Promise<ArrayBuffer> {
    return exactBuffer(await inflateBounded(new Uint8Array(buffer), this.maxBytes));
  }
}

class LzwDecoder extends BoundedDecoder {
  override decodeBlock(buffer: ArrayBuffer): ArrayBuffer {
    return exactBuffer(decodeLzw(new Uint8Array(buffer), this.maxBytes));
  }
}

class PackBitsDecoder extends BoundedDecoder {
  override decodeBlock(buffer: ArrayBuffer): ArrayBuffer {
    return exactBuffer(decodePackBits(new Uint8Array(buffer), this.maxBytes));
  }
}

class RawDecoder extends BoundedDecoder {
  override decodeBlock(buffer: ArrayBuffer): ArrayBuffer {
    // Bytes past the block are never read; the copy keeps them from pinning the file's buffer.
    return buffer.byteLength > this.maxBytes ? buffer.slice(0, this.maxBytes) : buffer;
  }
}

let zstd: Promise<ZSTDDecoder> | undefined;
function zstdDecoder(): Promise<ZSTDDecoder> {
  zstd ??= (async () => {
    const decoder = new ZSTDDecoder();
    await decoder.init();
    return decoder;
  })();
  return zstd;
}

/**
 * zstddec decodes into a buffer of the size it is given (ZSTD_decompress with a capacity); a
 * frame that needs more fails inside the WebAssembly decoder and comes back empty. Without a
 * size, it would trust the frame's declared size, or stream without limit when none is declared.
 */
async function zstdBounded(input: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  const out = (await zstdDecoder()).decode(input, maxBytes);
  if (out.length === 0 && maxBytes > 0) throw new Error('ZSTD stream does not decode within its block (corrupt, or it expands past the block)');
  return out;
}

class ZstdDecoder extends BoundedDecoder {
  override async decodeBlock(buffer: ArrayBuffer): Promise<ArrayBuffer> {
    return exactBuffer(await zstdBounded(new Uint8Array(buffer), this.maxBytes));
  }
}

const LERC_TYPE_BYTES = [1, 1, 2, 2, 4, 4, 4, 8];
// A LERC blob can be a little larger than the pixels it holds (headers, masks, incompressible data).
const lercBlobLimit = (maxBytes: number) => 2 * maxBytes + 65536;

/**
 * Every band of a LERC 2 blob declares its size in its header; the blob is refused when they add
 * up to more than the block before the LERC decoder allocates anything.
 */
export function checkLercBlob(blob: Uint8Array, maxBytes: number, tileWidth: number, tileHeight: number): void {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  let total = 0;
  for (let at = 0; at < blob.length - 10;) {
    if (String.fromCharCode(...blob.subarray(at, at + 6)) !== 'Lerc2 ') throw new Error('not a LERC 2 blob');
    let p = at + 6;
    const version = view.getInt32(p, true);
    p += version >= 3 ? 8 : 4;
    const height = view.getUint32(p, true);
    const width = view.getUint32(p + 4, true);
    p += 8;
    const dims = version >= 4 ? view.getUint32(p, true) : 1;
    if (version >= 4) p += 4;
    const blobSize = view.getInt32(p + 8, true);
    const type = view.getInt32(p + 12, true);
    if (width > tileWidth || height > tileHeight) throw new BlockOverrun(maxBytes);
    total += width * height * dims * (LERC_TYPE_BYTES[type] ?? 8);
    if (total > maxBytes) throw new BlockOverrun(maxBytes);
    if (!(blobSize > 0)) throw new Error('LERC blob with no size');
    at += blobSize;
  }
}

class LercDecoder extends BoundedDecoder {
  override async decodeBlock(buffer: ArrayBuffer): Promise<ArrayBuffer> {
    const addCompression = this.params.LercParameters?.[1] ?? 0;
    let blob: Uint8Array = new Uint8Array(buffer);
    if (addCompression === 1) blob = await inflateBounded(blob, lercBlobLimit(this.maxBytes), false);
    else if (addCompression === 2) blob = await zstdBounded(blob, lercBlobLimit(this.maxBytes));
    else if (addCompression !== 0) throw new Error(`unsupported LERC additional compression ${addCompression}`);
    checkLercBlob(blob, this.maxBytes, this.params.tileWidth, this.params.tileHeight);
    const decoded = Lerc.decode(exactBuffer(blob), { returnPixelInterleavedDims: this.params.planarConfiguration === 1 });
    const pixels = decoded.pixels[0] as Uint8Array;
    return exactBuffer(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
  }
}

const compressionNames: Record<number, string> = {
  1: 'none', 5: 'LZW', 6: 'old-style JPEG', 7: 'JPEG', 8: 'DEFLATE', 32946: 'DEFLATE', 32773: 'PackBits',
  34887: 'LERC', 50000: 'ZSTD', 50001: 'WEBP', 34925: 'LZMA', 34712: 'JPEG2000', 50002: 'JPEGXL',
};

export function compressionName(code: number): string {
  return compressionNames[code] ?? `code ${code}`;
}

/** Codecs that decode on the calling thread (JavaScript or WebAssembly): big blocks go to the decode pool. */
const ON_THREAD_CODECS = new Set([5, 32773, 34887, 50000]);

/**
 * Whether a block decodes on the calling thread: those codecs, and JPEG of four interleaved
 * components, which geotiff.js's JavaScript decoder reads (SharpJpegDecoder).
 */
function decodesOnThread(compression: number, params: DecoderParameters): boolean {
  return ON_THREAD_CODECS.has(compression) || (compression === 7 && params.planarConfiguration !== 2 && params.samplesPerPixel === 4);
}

/**
 * The decoder for one compression and its parameters; with `offThread`, blocks of the codecs that
 * would hold the event loop are decoded in the decode pool when they are large.
 */
export function decoderFor(compression: number, params: DecoderParameters, maxBytes: number, offThread: boolean): BlockDecoder {
  const pool = offThread && decodesOnThread(compression, params) && maxBytes >= OFF_THREAD_BYTES ? decodePool() : null;
  if (pool) return { decode: (buffer) => pool.decode({ compression, params: params as never, maxBytes, buffer }) };
  let decoder: BoundedDecoder;
  switch (compression) {
    case 1: decoder = new RawDecoder(params, maxBytes); break;
    case 5: decoder = new LzwDecoder(params, maxBytes); break;
    case 7: decoder = new SharpJpegDecoder(params, maxBytes); break;
    case 8: case 32946: decoder = new ZlibDeflateDecoder(params, maxBytes); break;
    case 32773: decoder = new PackBitsDecoder(params, maxBytes); break;
    case 34887: decoder = new LercDecoder(params, maxBytes); break;
    case 50000: decoder = new ZstdDecoder(params, maxBytes); break;
    case 50001: decoder = new SharpWebpDecoder(params, maxBytes); break;
    default: throw new RasterError('unsupported-compression', `unsupported compression: ${compressionName(compression)}`);
  }
  return decoder as unknown as BlockDecoder;
}

/**
 * The decoder of a level's blocks. `maxBytes` is the size of one decoded block as stored (before
 * samples narrower than a byte are widened); no decoder produces more, whatever its input claims.
 */
export async function createBlockDecoder(fd: ImageFileDirectory, maxBytes: number): Promise<BlockDecoder> {
  const isTiled = !fd.hasTag('StripOffsets');
  const compression = Number(fd.getValue('Compression') ?? 1);
  const bps = fd.getValue('BitsPerSample') as ArrayLike<number> | number | undefined;
  const imageHeight = Number(fd.getValue('ImageLength'));
  const params: DecoderParameters = {
    tileWidth: Number(isTiled ? fd.getValue('TileWidth') : fd.getValue('ImageWidth')),
    tileHeight: isTiled ? Number(fd.getValue('TileLength')) : Math.min(imageHeight, Number(fd.hasTag('RowsPerStrip') ? fd.getValue('RowsPerStrip') : imageHeight)),
    planarConfiguration: Number(fd.getValue('PlanarConfiguration') ?? 1),
    bitsPerSample: typeof bps === 'number' ? [bps] : Array.from(bps ?? [8]),
    predictor: Number(fd.hasTag('Predictor') ? await fd.loadValue('Predictor') : 1) || 1,
    samplesPerPixel: Number(fd.getValue('SamplesPerPixel') ?? 1),
  };
  // GDAL refuses others; geotiff.js ignored them, decoding such a file as if unpredicted.
  if (![1, 2, 3].includes(params.predictor)) throw new RasterError('unsupported-compression', `predictor ${params.predictor} is not a TIFF predictor (1 none, 2 horizontal, 3 floating point)`);
  if (compression === 7 && fd.hasTag('JPEGTables')) params.JPEGTables = (await fd.loadValue('JPEGTables')) as Uint8Array;
  if (compression === 34887 && fd.hasTag('LercParameters')) params.LercParameters = Array.from((await fd.loadValue('LercParameters')) as ArrayLike<number>);
  return decoderFor(compression, params, maxBytes, true);
}
