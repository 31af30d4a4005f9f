/**
 * The reader against GDAL, file by file over every raster of the shared corpus: the pixels of
 * windows (exact for lossless codecs, within 2 DN for JPEG/WebP), the validity mask, the origin,
 * the pixel size and the CRS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { gdalPython, gdalRead, gdalSkipReason, hasGdal as hasGdalHere, hasShared, proj4Params, readManifest, sharedSkipReason, type ManifestRow, skipWithoutShared, skipWithoutGdal } from '../helpers/shared-data.ts';
import { RasterError } from '../../server/src/errors.ts';

// Every file of the corpus: REAL ones from other tools, and the synthetic/derived layouts
// (LERC, floating-point predictor, ZSTD, big-endian, BigTIFF, ModelTransformation, bad inputs).
const rows = hasShared ? readManifest() : [];

function windowsFor(row: ManifestRow) {
  const w = Math.min(300, row.width);
  const h = Math.min(300, row.height);
  return [
    // Off the block grid, so the window straddles block edges.
    { x: Math.floor((row.width - w) / 3) + (row.width > w ? 1 : 0), y: Math.floor((row.height - h) / 3) + (row.height > h ? 1 : 0), width: w - (row.width > w ? 1 : 0), height: h - (row.height > h ? 1 : 0) },
    // The last, partial blocks.
    { x: row.width - Math.min(97, row.width), y: row.height - Math.min(61, row.height), width: Math.min(97, row.width), height: Math.min(61, row.height) },
  ];
}

async function expectRasterError(promise: Promise<unknown>, code: string): Promise<RasterError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err, `expected a RasterError with code ${code}`).toBeInstanceOf(RasterError);
  expect((err as RasterError).code).toBe(code);
  expect((err as RasterError).message).not.toContain('\n');
  return err as RasterError;
}

describe.skipIf(skipWithoutShared || skipWithoutGdal)(`reader equals GDAL on every file of the shared corpus ${sharedSkipReason || gdalSkipReason}`, () => {
  for (const row of rows) {
    it(row.file, async () => {
      if (row.georef.startsWith('GCPs only')) {
        const err = await expectRasterError(openRaster(row.path), 'gcps-only');
        expect(err.message).toMatch(/GCPs only, no geotransform/);
        return;
      }
      if (row.georef === 'rotated geotransform') {
        const err = await expectRasterError(openRaster(row.path), 'rotated');
        expect(err.message).toMatch(/rotated geotransform not supported/);
        return;
      }
      if (row.georef === 'none') {
        await expectRasterError(openRaster(row.path), 'no-georeference');
        return;
      }
      const gdal = gdalRead(row.path);
      const source = await openRaster(row.path);
      try {
        const { info } = source;
        expect([info.width, info.height, info.bandCount]).toEqual([gdal.width, gdal.height, gdal.bands]);
        for (let i = 0; i < 6; i++) expect(info.geoTransform[i]).toBeCloseTo(gdal.geotransform[i]!, 6);
        expect(info.overviews.length).toBe(gdal.overviews);
        expect(info.bands.map((b) => b.colorInterp)).toEqual(gdal.color_interps);
        if (gdal.epsg) {
          expect(info.crs.epsg).toBe(gdal.epsg);
        } else {
          const ours = proj4Params(info.crs.proj4);
          const theirs = proj4Params(gdal.proj4!);
          for (const [k, v] of theirs) {
            if (k === 'units' || k === 'towgs84') continue;
            const o = ours.get(k);
            expect(o, `proj4 +${k} (ours: ${info.crs.proj4}; GDAL: ${gdal.proj4})`).toBeDefined();
            if (Number.isFinite(Number(v))) expect(Number(o)).toBeCloseTo(Number(v), 6);
            else expect(o).toBe(v);
          }
        }

        if (row.kind === 'REAL-corrupted') {
          // GDAL fails on full-resolution tile 3 (of 2x2 512-px tiles); so must we, with a reason.
          const err = await expectRasterError(source.read({ x: 512, y: 512, width: 512, height: 512 }), 'truncated');
          expect(err.message).toMatch(/^tile 3 failed to decode/);
          expect(() => gdalRead(row.path, { x: 512, y: 512, width: 512, height: 512 })).toThrow();
          return;
        }

        if (row.kind === 'TRUNCATED') {
          const err = await expectRasterError(source.read({ x: 0, y: 0, width: info.width, height: info.height }), 'truncated');
          expect(err.message).toMatch(/^tile \d+ failed to decode: .*file truncated\?/);
          return;
        }

        const lossy = /JPEG|WEBP/.test(row.compression);
        for (const win of windowsFor(row)) {
          const g = gdalRead(row.path, win);
          const ours = await source.read(win);
          for (let b = 0; b < gdal.bands; b++) {
            const expected = g.pixels![b]!;
            const actual = ours.bands[b]!;
            let worst = 0;
            let worstAt = -1;
            for (let i = 0; i < expected.length; i++) {
              const e = expected[i]!;
              const a = actual[i]!;
              const d = Number.isNaN(e) && Number.isNaN(a) ? 0 : Math.abs(a - e);
              if (!(d <= worst)) { worst = Number.isNaN(d) ? Infinity : d; worstAt = i; }
            }
            expect(worst, `band ${b + 1} window ${JSON.stringify(win)}: max |ours - GDAL| at pixel ${worstAt}`).toBeLessThanOrEqual(lossy ? 2 : 0);
          }
          if (g.mask) {
            let mismatches = 0;
            for (let i = 0; i < g.mask.length; i++) if ((g.mask[i]! > 0 ? 1 : 0) !== ours.valid[i]) mismatches++;
            expect(mismatches, `mask pixels that differ from GDAL's, window ${JSON.stringify(win)}`).toBe(0);
          }
        }
      } finally {
        await source.close();
      }
    });
  }
});

describe.skipIf(skipWithoutGdal)(`sample types without a typed array are refused by name ${gdalSkipReason}`, () => {
  // Before: 16-bit floats and 64-bit integers opened, then every block "failed to decode (file
  // truncated or corrupt?)".
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-dtypes-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const make = (name: string, gdalType: string, options: string[]) => {
    const file = path.join(dir, name);
    execFileSync(gdalPython, ['-c', `
from osgeo import gdal, osr
ds = gdal.GetDriverByName('GTiff').Create(${JSON.stringify(file)}, 16, 16, 1, gdal.${gdalType}, ${JSON.stringify(options)})
ds.SetGeoTransform([485899, 1, 0, 5209246, 0, -1])
s = osr.SpatialReference(); s.ImportFromEPSG(26914); ds.SetProjection(s.ExportToWkt())
ds.GetRasterBand(1).Fill(1); ds = None`]);
    return file;
  };
  it('16-bit floats', async () => {
    const err = await expectRasterError(openRaster(make('f16.tif', 'GDT_Float32', ['NBITS=16'])), 'unsupported-dtype');
    expect(err.message).toBe('16-bit floating-point samples are not supported; convert them, e.g. gdal_translate -ot Float32');
  });
  it('complex samples, named by the size of each part', async () => {
    expect((await expectRasterError(openRaster(make('cf32.tif', 'GDT_CFloat32', [])), 'unsupported-dtype')).message).toBe('complex samples (CFloat32) are not supported');
    expect((await expectRasterError(openRaster(make('ci16.tif', 'GDT_CInt16', [])), 'unsupported-dtype')).message).toBe('complex samples (CInt16) are not supported');
  });
  it('64-bit integers', async () => {
    const err = await expectRasterError(openRaster(make('i64.tif', 'GDT_Int64', [])), 'unsupported-dtype');
    expect(err.message).toBe('64-bit integer samples are not supported; convert them, e.g. gdal_translate -ot Float64');
  });
});

describe.skipIf(skipWithoutGdal)(`four-band JPEG, as GDAL writes it ${gdalSkipReason}`, () => {
  // RGBN (NAIP) or RGBA in one JPEG stream of four components: read as sRGB from CMYK, with band 4
  // set to 255 everywhere (probe: spectral-water on a JPEG NAIP COG found 0 % water for 24.9 %).
  it.each(['COG', 'GTiff'])('reads the bands GDAL reads, to within JPEG decoders\' rounding (%s)', async (driver) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-jpeg4-'));
    try {
      const plain = path.join(dir, 'rgbn.tif');
      const w = 300;
      const h = 200;
      const bands = [0, 1, 2, 3].map((b) => Uint8Array.from({ length: w * h }, (_, i) => (((i % w) * (b + 1) + Math.floor(i / w) * (4 - b)) % 200) + 20));
      const { writeTestTiff } = await import('../fixtures/write-tiff.ts');
      writeTestTiff(plain, { width: w, height: h, bands, geoTransform: [500000, 1, 0, 4000000, 0, -1], photometric: 1 });
      const jpeg = path.join(dir, `rgbn-${driver}.tif`);
      execFileSync('gdal_translate', ['-q', '-of', driver, '-co', 'COMPRESS=JPEG', '-co', 'QUALITY=90', plain, jpeg]);
      const gdal = gdalRead(jpeg, { x: 0, y: 0, width: w, height: h });
      const source = await openRaster(jpeg);
      const ours = await source.read({ x: 0, y: 0, width: w, height: h });
      await source.close();
      let worst = 0;
      for (let b = 0; b < 4; b++) for (let i = 0; i < w * h; i++) worst = Math.max(worst, Math.abs(ours.bands[b]![i]! - gdal.pixels![b]![i]!));
      expect(worst).toBeLessThanOrEqual(1);
      expect(new Set(ours.bands[3]).size).toBeGreaterThan(50);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a negative ModelPixelScale Y', () => {
  it('is read north-up, as GDAL and QGIS read it (not south-up, a scene\'s height away and upside down)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-negscale-'));
    try {
      const file = path.join(dir, 'negscale.tif');
      const { writeTestTiff } = await import('../fixtures/write-tiff.ts');
      const { TagType } = await import('../../server/src/write/tiff-layout.ts');
      writeTestTiff(file, {
        width: 40, height: 30, bands: [Uint8Array.from({ length: 1200 }, (_, i) => i % 251)], geoTransform: [500000, 5, 0, 4000000, 0, -5],
        extraTags: [{ tag: 33550, type: TagType.DOUBLE, values: [5, -5, 0] }],
      });
      const source = await openRaster(file);
      expect(source.info.geoTransform).toEqual([500000, 5, 0, 4000000, 0, -5]);
      await source.close();
      if (hasGdalHere) {
        const gt = JSON.parse(execFileSync('gdalinfo', ['-json', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).geoTransform as number[];
        expect(gt).toEqual([500000, 5, 0, 4000000, 0, -5]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
