/**
 * Decoders for one compressed TIFF block (tile or strip).
 *
 * geotiff.js decodes most codecs itself. JPEG and WebP go through sharp (libjpeg-turbo, libwebp)
 * instead: geotiff.js's JPEG decoder leaves YCbCr unconverted and upsamples chroma by nearest
 * neighbour, which differs from GDAL by more than a few DN at edges, and its WebP decoder needs a
 * browser canvas. With libjpeg we decode the same way GDAL does. DEFLATE goes through Node's zlib
 * rather than geotiff.js's JavaScript inflate: native, and on libuv's threads, so the blocks of
 * one window inflate in parallel off the event loop.
 */
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { BaseDecoder, getDecoder } from 'geotiff';
import type { ImageFileDirectory } from 'geotiff';
import { RasterError } from '../errors.ts';

export interface BlockDecoder {
  decode(buffer: ArrayBuffer): Promise<ArrayBuffer>;
}

interface DecoderParameters {
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

async function decodeWithSharp(input: Uint8Array, channels: number): Promise<ArrayBuffer> {
  // sharp (libvips) takes a tenth of a second to load; only JPEG and WebP files need it.
  const { default: sharp } = await import('sharp');
  let pipeline = sharp(input, { failOn: 'error', limitInputPixels: false });
  if (channels === 4) pipeline = pipeline.ensureAlpha();
  if (channels === 3) pipeline = pipeline.removeAlpha();
  if (channels === 1) pipeline = pipeline.extractChannel(0);
  const { data } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}

class SharpJpegDecoder extends BaseDecoder {
  constructor(private readonly params: DecoderParameters) {
    super(params as never);
  }
  override async decodeBlock(buffer: ArrayBuffer): Promise<ArrayBuffer> {
    const channels = this.params.planarConfiguration === 2 ? 1 : this.params.samplesPerPixel;
    return decodeWithSharp(joinJpegTables(this.params.JPEGTables, new Uint8Array(buffer)), channels);
  }
}

class ZlibDeflateDecoder extends BaseDecoder {
  override async decodeBlock(buffer: ArrayBuffer): Promise<ArrayBuffer> {
    const out = await inflate(new Uint8Array(buffer));
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength) as ArrayBuffer;
  }
}

class SharpWebpDecoder extends BaseDecoder {
  constructor(private readonly params: DecoderParameters) {
    super(params as never);
  }
  override async decodeBlock(buffer: ArrayBuffer): Promise<ArrayBuffer> {
    return decodeWithSharp(new Uint8Array(buffer), this.params.samplesPerPixel);
  }
}

const compressionNames: Record<number, string> = {
  1: 'none', 5: 'LZW', 6: 'old-style JPEG', 7: 'JPEG', 8: 'DEFLATE', 32946: 'DEFLATE', 32773: 'PackBits',
  34887: 'LERC', 50000: 'ZSTD', 50001: 'WEBP', 34925: 'LZMA', 34712: 'JPEG2000', 50002: 'JPEGXL',
};

export function compressionName(code: number): string {
  return compressionNames[code] ?? `code ${code}`;
}

export async function createBlockDecoder(fd: ImageFileDirectory): Promise<BlockDecoder> {
  const isTiled = !fd.hasTag('StripOffsets');
  const compression = Number(fd.getValue('Compression') ?? 1);
  const bps = fd.getValue('BitsPerSample') as ArrayLike<number> | number | undefined;
  const samplesPerPixel = Number(fd.getValue('SamplesPerPixel') ?? 1);
  const params: DecoderParameters = {
    tileWidth: Number(isTiled ? fd.getValue('TileWidth') : fd.getValue('ImageWidth')),
    tileHeight: Number(isTiled ? fd.getValue('TileLength') : (fd.hasTag('RowsPerStrip') ? fd.getValue('RowsPerStrip') : fd.getValue('ImageLength'))),
    planarConfiguration: Number(fd.getValue('PlanarConfiguration') ?? 1),
    bitsPerSample: typeof bps === 'number' ? [bps] : Array.from(bps ?? [8]),
    predictor: Number(fd.hasTag('Predictor') ? await fd.loadValue('Predictor') : 1) || 1,
    samplesPerPixel,
  };
  switch (compression) {
    case 7:
      params.JPEGTables = fd.hasTag('JPEGTables') ? (await fd.loadValue('JPEGTables')) as Uint8Array : undefined;
      return new SharpJpegDecoder(params) as unknown as BlockDecoder;
    case 50001:
      return new SharpWebpDecoder(params) as unknown as BlockDecoder;
    case 8:
    case 32946:
      return new ZlibDeflateDecoder(params as never) as unknown as BlockDecoder;
    case 34887:
      params.LercParameters = fd.hasTag('LercParameters') ? Array.from((await fd.loadValue('LercParameters')) as ArrayLike<number>) : undefined;
      break;
    case 1: case 5: case 32773: case 50000:
      break;
    default:
      throw new RasterError('unsupported-compression', `unsupported compression: ${compressionName(compression)}`);
  }
  return (await getDecoder(compression, params as never)) as unknown as BlockDecoder;
}
