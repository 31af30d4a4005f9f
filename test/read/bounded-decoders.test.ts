/**
 * Decoding is bounded: every codec stops at the decoded size of its block. Crafted streams (LZW,
 * DEFLATE, ZSTD and PackBits bombs, LERC and JPEG headers claiming huge images) fail as a corrupt
 * block, quickly and without allocating what they claim; honest streams of the same codecs still
 * decode to the right pixels. The LZW decoder is checked against geotiff.js's (an independent
 * implementation) on streams from our libtiff-style encoder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { getDecoder } from 'geotiff';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeLzw } from '../../server/src/read/tiff-lzw.ts';
import { decodePackBits } from '../../server/src/read/packbits.ts';
import { BlockOverrun } from '../../server/src/read/block-overrun.ts';
import { checkLercBlob } from '../../server/src/read/block-decoders.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { RasterError } from '../../server/src/errors.ts';
import { COMPRESSION, deflateBomb, lzwBomb, lzwEncode, packBitsEncode, writeTiledTiff } from '../fixtures/hostile-tiff.ts';
import { seededRandom } from '../fixtures/seeded-random.ts';

const execFileAsync = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-decoders-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TILE = 256;
const TILE_BYTES = TILE * TILE;

/** Test data with the structures codecs meet: noise, runs, gradients, long constant stretches. */
function sampleData(n: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n;) {
    const kind = Math.floor(random() * 4);
    const len = Math.min(n - i, 1 + Math.floor(random() * (kind === 3 ? 5000 : 300)));
    const v = Math.floor(random() * 256);
    for (let k = 0; k < len; k++, i++) {
      out[i] = kind === 0 ? Math.floor(random() * 256) : kind === 1 ? v : kind === 2 ? (v + k) & 255 : 0;
    }
  }
  return out;
}

/** A zstd frame of RLE blocks (the format allows them; 4 bytes make up to 128 KiB). */
function zstdRleFrame(blockSizes: number[], value: number): Uint8Array {
  const out = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]; // magic; no content size; 128 KiB window
  blockSizes.forEach((size, i) => {
    const header = (i === blockSizes.length - 1 ? 1 : 0) | (1 << 1) | (size << 3);
    out.push(header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff, value);
  });
  return Uint8Array.from(out);
}

async function readError(file: string): Promise<RasterError> {
  const source = await openRaster(file);
  try {
    const err = await source.read({ x: 0, y: 0, width: TILE, height: TILE }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(RasterError);
    return err as RasterError;
  } finally {
    await source.close();
  }
}

async function readTile(file: string): Promise<Uint8Array> {
  const source = await openRaster(file);
  try {
    return (await source.read({ x: 0, y: 0, width: TILE, height: TILE })).bands[0] as Uint8Array;
  } finally {
    await source.close();
  }
}

function oneTileTiff(name: string, compression: number, tile: Uint8Array, size = TILE): string {
  const file = path.join(tmp, name);
  writeTiledTiff(file, { width: size, height: size, tileSize: size, compression, tile: () => tile });
  return file;
}

describe('LZW', () => {
  it('decodes libtiff-style streams exactly as geotiff.js does, across table resets', async () => {
    const theirs = await getDecoder(5, { tileWidth: 1, tileHeight: 1, predictor: 1, bitsPerSample: [8], planarConfiguration: 1 } as never);
    for (const [n, seed] of [[1, 1], [300, 2], [TILE_BYTES, 3], [3 * TILE_BYTES, 4], [1_000_000, 5]] as const) {
      const data = sampleData(n, seed);
      const stream = lzwEncode(data);
      const ours = decodeLzw(stream, n);
      expect(Buffer.from(ours).equals(Buffer.from(data)), `n=${n}`).toBe(true);
      const reference = new Uint8Array(await (theirs as unknown as { decodeBlock(b: ArrayBuffer): ArrayBuffer }).decodeBlock(stream.slice().buffer));
      expect(Buffer.from(reference).equals(Buffer.from(data)), `geotiff.js n=${n}`).toBe(true);
    }
  });

  it('stops a bomb at the block size: 439 KB that would expand to over half a gigabyte', () => {
    const bomb = lzwBomb(439_000);
    const rss = process.memoryUsage().rss;
    const t0 = performance.now();
    expect(() => decodeLzw(bomb, TILE_BYTES)).toThrow(BlockOverrun);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(process.memoryUsage().rss - rss).toBeLessThan(50 * 2 ** 20);
    // The bomb is real: the first of its ~80 tables alone decodes to 7 MB.
    expect(decodeLzw(bomb.subarray(0, 5800), 8 << 20).length).toBeGreaterThan(7_000_000);
  });

  it('refuses codes that are not in the table, and returns what a stream without EOI holds', () => {
    // CLEAR, then code 300 while the table ends at 258.
    expect(() => decodeLzw(Uint8Array.from([0x80, 0x4b, 0x00]), 100)).toThrow(/code 300 is not in the table \(258 entries\)/);
    const stream = lzwEncode(Uint8Array.from([1, 2, 3, 4]));
    expect(Array.from(decodeLzw(stream.subarray(0, stream.length - 1), 100))).toEqual([1, 2, 3, 4]);
  });
});

describe('PackBits', () => {
  it('round-trips and treats -128 as a no-op', () => {
    for (const seed of [1, 2, 3]) {
      const data = sampleData(TILE_BYTES, seed);
      expect(Buffer.from(decodePackBits(packBitsEncode(data), TILE_BYTES)).equals(Buffer.from(data))).toBe(true);
    }
    expect(Array.from(decodePackBits(Uint8Array.from([0x80, 0x01, 7, 8, 0xfe, 9]), 10))).toEqual([7, 8, 9, 9, 9]);
  });

  it('stops a run that passes the block', () => {
    const bomb = new Uint8Array(200_000);
    for (let i = 0; i < bomb.length; i += 2) bomb[i] = 0x81; // 128 x byte 0, 100,000 times: 12.8 MB
    expect(() => decodePackBits(bomb, TILE_BYTES)).toThrow(BlockOverrun);
  });
});

describe('LERC', () => {
  it('refuses a blob whose header claims more than its block, before decoding it', () => {
    const header = Buffer.alloc(58);
    header.write('Lerc2 ', 0, 'latin1');
    header.writeInt32LE(2, 6); // version 2: no checksum, one dimension
    header.writeUInt32LE(100_000, 10); // rows
    header.writeUInt32LE(100_000, 14); // columns
    header.writeInt32LE(58, 26); // blob size
    header.writeInt32LE(1, 30); // uchar
    expect(() => checkLercBlob(header, TILE_BYTES, TILE, TILE)).toThrow(BlockOverrun);
    header.writeUInt32LE(TILE, 10);
    header.writeUInt32LE(TILE, 14);
    expect(() => checkLercBlob(header, TILE_BYTES, TILE, TILE)).not.toThrow();
    // Eight planes of a full block each add up past it.
    expect(() => checkLercBlob(Buffer.concat(Array(8).fill(header)), 4 * TILE_BYTES, TILE, TILE)).toThrow(BlockOverrun);
  });
});

describe('a GeoTIFF whose tile is a bomb is a corrupt tile, not a crash', () => {
  it.each([
    ['LZW', COMPRESSION.lzw, () => lzwBomb(439_000)],
    ['DEFLATE', COMPRESSION.deflate, () => deflateBomb(512 * 2 ** 20)],
    ['ZSTD', COMPRESSION.zstd, () => zstdRleFrame(Array(5000).fill(128 * 1024), 0)],
    ['PackBits', COMPRESSION.packbits, () => new Uint8Array(400_000).map((_, i) => (i % 2 ? 0 : 0x81))],
  ] as const)('%s', async (name, compression, make) => {
    // 512 x 512 tiles (256 KiB): the bombs are smaller than 4 blocks, so the decoder itself must
    // stop them (larger streams are refused by their byte count before they are read).
    const file = oneTileTiff(`bomb-${name}.tif`, compression, await make(), 512);
    const rss = process.memoryUsage().rss;
    const t0 = performance.now();
    const err = await readError(file);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(process.memoryUsage().rss - rss).toBeLessThan(100 * 2 ** 20);
    expect(err.code).toBe('decode-failed');
    if (name !== 'ZSTD') expect(err.message).toBe('tile 0 is corrupt: it decodes to more than the 262144 bytes of its block (512 x 512 px; a decompression bomb?)');
    else expect(err.message).toMatch(/^tile 0 failed to decode .*does not decode within its block/);
  });

  it('JPEG whose header claims 60000 x 60000 pixels', async () => {
    const jpeg = await sharp(Buffer.alloc(16 * 16, 128), { raw: { width: 16, height: 16, channels: 1 } }).jpeg().toBuffer();
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    jpeg.writeUInt16BE(60000, sof + 5);
    jpeg.writeUInt16BE(60000, sof + 7);
    const err = await readError(oneTileTiff('bomb-jpeg.tif', 7, jpeg));
    expect(err.code).toBe('decode-failed');
    expect(err.message).toMatch(/^tile 0 is corrupt: it decodes to more than/);
  });

  it('four-component JPEG (RGBN, RGBA) whose header claims 60000 x 60000 pixels', async () => {
    // Four components are decoded by geotiff.js's decoder (raw, as GDAL reads them), after
    // sharp's header read: the claim is refused before anything is allocated.
    const jpeg = await sharp(Buffer.alloc(16 * 16 * 4, 128), { raw: { width: 16, height: 16, channels: 4 } }).toColourspace('cmyk').jpeg().toBuffer();
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    jpeg.writeUInt16BE(60000, sof + 5);
    jpeg.writeUInt16BE(60000, sof + 7);
    const file = path.join(tmp, 'bomb-jpeg4.tif');
    writeTiledTiff(file, { width: TILE, height: TILE, tileSize: TILE, compression: 7, samples: 4, tile: () => jpeg });
    const err = await readError(file);
    expect(err.code).toBe('decode-failed');
    expect(err.message).toMatch(/^tile 0 is corrupt: it decodes to more than/);
  });

  it('four-component JPEG with a second frame header claiming 8000 x 8000 pixels (sharp reads the first only)', async () => {
    // 204 bytes that took 10 s and 2.6 GB on the event loop in geotiff.js's decoder (review).
    const jpeg = await sharp(Buffer.alloc(16 * 16 * 4, 128), { raw: { width: 16, height: 16, channels: 4 } }).toColourspace('cmyk').jpeg().toBuffer();
    const at = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    const sof = Buffer.from(jpeg.subarray(at, at + 2 + jpeg.readUInt16BE(at + 2)));
    sof.writeUInt16BE(8000, 5);
    sof.writeUInt16BE(8000, 7);
    const eoi = jpeg.lastIndexOf(Buffer.from([0xff, 0xd9]));
    const bomb = Buffer.concat([jpeg.subarray(0, eoi), sof, jpeg.subarray(eoi)]);
    const file = path.join(tmp, 'bomb-jpeg4-second-frame.tif');
    writeTiledTiff(file, { width: TILE, height: TILE, tileSize: TILE, compression: 7, samples: 4, tile: () => bomb });
    const t0 = performance.now();
    const err = await readError(file);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(err.message).toMatch(/^tile 0 is corrupt: it decodes to more than/);
  });

  it('a tile whose byte count is far beyond its block is refused before it is read', async () => {
    const file = path.join(tmp, 'huge-count.tif');
    const stored = Buffer.alloc(2 * 2 ** 20, 1);
    writeTiledTiff(file, { width: TILE, height: TILE, tileSize: TILE, compression: COMPRESSION.deflate, tile: () => stored });
    const err = await readError(file);
    expect(err.message).toBe('tile 0 is corrupt: 2097152 compressed bytes for a block of 65536 bytes');
  });

  it('a block over SATSEG_MAX_BLOCK_MB is refused when read, also outside the server (CLI)', async () => {
    const file = path.join(tmp, 'one-giant-tile.tif');
    writeTiledTiff(file, { width: 20000, height: 20000, tileSize: 20000, compression: COMPRESSION.deflate, tile: () => null });
    const source = await openRaster(file);
    try {
      const err = await source.read({ x: 0, y: 0, width: 10, height: 10 }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(RasterError);
      expect((err as RasterError).code).toBe('too-large');
      expect((err as RasterError).message).toMatch(/20000 x 20000 blocks decode to 381 MiB each, over the 256 MiB limit \(SATSEG_MAX_BLOCK_MB\)/);
    } finally {
      await source.close();
    }
  });
});

describe('honest tiles of every bounded codec decode to their pixels', () => {
  const data = sampleData(TILE_BYTES, 7);
  it.each([
    ['LZW', COMPRESSION.lzw, () => lzwEncode(data)],
    ['DEFLATE', COMPRESSION.deflate, () => zlib.deflateSync(data)],
    ['PackBits', COMPRESSION.packbits, () => packBitsEncode(data)],
    ['none', COMPRESSION.none, () => data],
  ] as const)('%s', async (name, compression, make) => {
    const pixels = await readTile(oneTileTiff(`ok-${name}.tif`, compression, make()));
    expect(Buffer.from(pixels).equals(Buffer.from(data))).toBe(true);
  });

  it('ZSTD (RLE blocks, exactly the block)', async () => {
    const pixels = await readTile(oneTileTiff('ok-zstd.tif', COMPRESSION.zstd, zstdRleFrame([TILE_BYTES], 42)));
    expect(pixels.every((v) => v === 42)).toBe(true);
  });

  it('a stream that ends short of its block is a truncated tile', async () => {
    const err = await readError(oneTileTiff('short-lzw.tif', COMPRESSION.lzw, lzwEncode(data.subarray(0, 1000))));
    expect(err.message).toBe('tile 0 failed to decode (file truncated or corrupt?): 1000 of 65536 bytes');
  });
});

describe('large blocks of on-thread codecs decode in the decode pool, with the same bounds', () => {
  const SIZE = 1024; // 1 MiB blocks: OFF_THREAD_BYTES
  it('an honest 1024 x 1024 LZW tile', async () => {
    const data = sampleData(SIZE * SIZE, 11);
    const source = await openRaster(oneTileTiff('pool-ok.tif', COMPRESSION.lzw, lzwEncode(data), SIZE));
    try {
      const block = await source.read({ x: 0, y: 0, width: SIZE, height: SIZE });
      expect(Buffer.from(block.bands[0] as Uint8Array).equals(Buffer.from(data))).toBe(true);
    } finally {
      await source.close();
    }
  });

  it('lets a process that used the pool exit once its reads are done (a CLI run ended 30 s late)', async () => {
    const file = oneTileTiff('pool-exit.tif', COMPRESSION.lzw, lzwEncode(sampleData(SIZE * SIZE, 12)), SIZE);
    const script = path.join(tmp, 'pool-exit.mts');
    fs.writeFileSync(script, `
      import { openRaster } from ${JSON.stringify(path.resolve('server/src/read/open-raster.ts'))};
      const source = await openRaster(${JSON.stringify(file)});
      const block = await source.read({ x: 0, y: 0, width: ${SIZE}, height: ${SIZE} });
      await source.close();
      console.log(block.bands[0].length);`);
    const started = performance.now();
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', script], { cwd: path.resolve('.'), timeout: 25_000 });
    expect(stdout.trim()).toBe(String(SIZE * SIZE));
    // The worker's idle timer is 30 s; start-up and the read take about a second.
    expect(performance.now() - started).toBeLessThan(15_000);
  });

  it('an LZW bomb in a 1024 x 1024 tile fails in the worker and comes back as a corrupt tile', async () => {
    const err = await readError(oneTileTiff('pool-bomb.tif', COMPRESSION.lzw, lzwBomb(439_000), SIZE));
    expect(err.message).toBe('tile 0 is corrupt: it decodes to more than the 1048576 bytes of its block (1024 x 1024 px; a decompression bomb?)');
  });
});
