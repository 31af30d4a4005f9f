/**
 * A TIFF whose image directories loop (crafted here from a valid file): refused at once with the
 * reason, where geotiff.js alone would follow the loop for ever, its memory climbing by gigabytes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { RasterError } from '../../server/src/errors.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-ifd-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A valid little-endian 16 x 16 TIFF whose first directory's next-pointer is set by `next(first)`. */
function tiffPointingTo(name: string, next: (firstIfd: number) => number): string {
  const file = path.join(tmp, name);
  writeTestTiff(file, { width: 16, height: 16, bands: syntheticScene(16, 16), geoTransform: [400000, 5, 0, 5000000, 0, -5] });
  const b = fs.readFileSync(file);
  expect(b.toString('latin1', 0, 2)).toBe('II');
  const first = b.readUInt32LE(4);
  b.writeUInt32LE(next(first), first + 2 + 12 * b.readUInt16LE(first));
  fs.writeFileSync(file, b);
  return file;
}

async function openError(file: string): Promise<RasterError> {
  const err = await openRaster(file).then((s) => { void s.close(); return null; }, (e: unknown) => e);
  expect(err).toBeInstanceOf(RasterError);
  return err as RasterError;
}

describe('image directory chains', () => {
  // Without the check this test never ends (the runner's timeout fails it).
  it('refuses a directory that points back at itself', async () => {
    const err = await openError(tiffPointingTo('loop.tif', (first) => first));
    expect(err.code).toBe('corrupt');
    expect(err.message).toMatch(/image directories loop back on themselves \(directory 2 points to an earlier one at byte \d+\)/);
  });

  it('refuses a next-pointer beyond the end of the file', async () => {
    const err = await openError(tiffPointingTo('beyond.tif', () => 0x7fffff00));
    expect(err.code).toBe('truncated');
    expect(err.message).toMatch(/image directory 2 lies beyond the end of the file/);
  });

  it('refuses a BigTIFF that ends inside its 16-byte header', async () => {
    const file = path.join(tmp, 'short-big.tif');
    fs.writeFileSync(file, Buffer.from([0x49, 0x49, 0x2b, 0x00, 0x08, 0x00, 0x00, 0x00, 0x10, 0x00]));
    const err = await openError(file);
    expect(err.code).toBe('truncated');
    expect(err.message).toMatch(/ends inside the TIFF header/);
  });

  it('still opens the file as written (a chain that ends)', async () => {
    const file = path.join(tmp, 'fine.tif');
    writeTestTiff(file, { width: 16, height: 16, bands: syntheticScene(16, 16), geoTransform: [400000, 5, 0, 5000000, 0, -5] });
    const s = await openRaster(file);
    expect(s.info.width).toBe(16);
    await s.close();
  });
});
