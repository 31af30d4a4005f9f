/**
 * What GDAL keeps beside a GeoTIFF: a `.msk` mask and the nodata value of an `.aux.xml` are read
 * with the file, as GDAL and QGIS read them (ignored, the pixels they mask out were classified).
 * Crafted here, and a .msk made by GDAL itself compared with GDAL's mask.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { pamNodata } from '../../server/src/read/sidecars.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { gdalPython, gdalSkipReason, skipWithoutGdal } from '../helpers/shared-data.ts';
import { startRangeServer } from '../helpers/range-server.ts';
import { createTestServer } from '../helpers/test-server.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-sidecars-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const GT: [number, number, number, number, number, number] = [500000, 10, 0, 4000000, 0, -10];

describe('sidecar files', () => {
  it('a .msk masks its pixels out (and the dataset says it has a mask); a .msk of another size is refused', async () => {
    const file = path.join(tmp, 'scene.tif');
    writeTestTiff(file, { width: 60, height: 40, bands: syntheticScene(60, 40), geoTransform: GT });
    // The left third masked out.
    writeTestTiff(`${file}.msk`, { width: 60, height: 40, bands: [Uint8Array.from({ length: 2400 }, (_, i) => (i % 60 < 20 ? 0 : 255))], geoTransform: GT });
    const source = await openRaster(file);
    try {
      expect(source.info.maskKind).toBe('mask');
      const block = await source.read({ x: 0, y: 0, width: 60, height: 40 });
      expect(Array.from(block.valid).filter((v, i) => (v === 0) !== (i % 60 < 20))).toEqual([]);
    } finally {
      await source.close();
    }
    writeTestTiff(`${file}.msk`, { width: 30, height: 40, bands: [new Uint8Array(1200)], geoTransform: GT });
    await expect(openRaster(file)).rejects.toThrow(/its mask file \(\.msk\) is 30 x 40 px, not the image's 60 x 40/);
  });

  it('an .aux.xml nodata value counts where the file declares none (the file\'s own wins)', async () => {
    expect(pamNodata('<PAMDataset><PAMRasterBand band="1"><NoDataValue>0</NoDataValue></PAMRasterBand></PAMDataset>')).toBe(0);
    expect(pamNodata('<PAMDataset><PAMRasterBand band="1"><NoDataValue le_hex_equiv="000000000000F87F">nan</NoDataValue></PAMRasterBand></PAMDataset>')).toBeNaN();
    expect(pamNodata('<PAMDataset><Metadata/></PAMDataset>')).toBeNull();
    // Band 1's, where the bands agree; none where they differ, or only another band declares one.
    const bands3 = (a: string, b: string) => `<PAMDataset><PAMRasterBand band="3"><NoDataValue>${b}</NoDataValue></PAMRasterBand><PAMRasterBand band="1"><NoDataValue>${a}</NoDataValue></PAMRasterBand></PAMDataset>`;
    expect(pamNodata(bands3('0', '0'))).toBe(0);
    expect(pamNodata(bands3('0', '9'))).toBeNull();
    expect(pamNodata('<PAMDataset><PAMRasterBand band="2"><NoDataValue>5</NoDataValue></PAMRasterBand></PAMDataset>')).toBeNull();
    expect(pamNodata('<PAMDataset><PAMRasterBand band="1"/><PAMRasterBand band="2"><NoDataValue>5</NoDataValue></PAMRasterBand></PAMDataset>')).toBeNull();
    // Attributes in any order and spacing; a longer tag name is another element.
    expect(pamNodata('<PAMDataset><PAMRasterBandX band="1"><NoDataValue>7</NoDataValue></PAMRasterBandX><PAMRasterBand\n  foo="x" band="1" ><Description>d</Description><NoDataValue >3</NoDataValue></PAMRasterBand></PAMDataset>')).toBe(3);
    // A megabyte of unclosed tags (anyone's .aux.xml beside a URL) is read in one pass: the regular
    // expressions before took time growing with its square (minutes), and this test's 5 s ran out.
    expect(pamNodata('<PAMRasterBand '.repeat(70_000))).toBeNull();
    expect(pamNodata(`<PAMRasterBand band="1">${'<NoDataValue '.repeat(80_000)}</PAMRasterBand>`)).toBeNull();
    const bands = syntheticScene(20, 10).map((b) => b.map((v, i) => (i < 20 ? 0 : Math.max(1, v))));
    const plain = path.join(tmp, 'pam.tif');
    writeTestTiff(plain, { width: 20, height: 10, bands, geoTransform: GT });
    fs.writeFileSync(`${plain}.aux.xml`, '<PAMDataset>\n  <PAMRasterBand band="1">\n    <NoDataValue>0</NoDataValue>\n  </PAMRasterBand>\n</PAMDataset>\n');
    const source = await openRaster(plain);
    try {
      expect(source.info.nodata).toBe(0);
      const block = await source.read({ x: 0, y: 0, width: 20, height: 10 });
      expect(Array.from(block.valid.subarray(0, 20))).toEqual(new Array(20).fill(0));
      expect(Array.from(block.valid.subarray(20)).every((v) => v === 1)).toBe(true);
    } finally {
      await source.close();
    }
    const own = path.join(tmp, 'own.tif');
    writeTestTiff(own, { width: 20, height: 10, bands, geoTransform: GT, nodata: 7 });
    fs.writeFileSync(`${own}.aux.xml`, '<PAMDataset><PAMRasterBand band="1"><NoDataValue>0</NoDataValue></PAMRasterBand></PAMDataset>');
    const ownSource = await openRaster(own);
    expect(ownSource.info.nodata).toBe(7);
    await ownSource.close();
  });
});

describe('sidecars beside a URL', () => {
  it('are read as beside a file (as GDAL\'s /vsicurl/ does); a 403 or 404 is none, a failing server fails the open', async () => {
    const www = path.join(tmp, 'www');
    fs.mkdirSync(www);
    const file = path.join(www, 'scene.tif');
    writeTestTiff(file, { width: 60, height: 40, bands: syntheticScene(60, 40), geoTransform: GT });
    writeTestTiff(`${file}.msk`, { width: 60, height: 40, bands: [Uint8Array.from({ length: 2400 }, (_, i) => (i % 60 < 20 ? 0 : 255))], geoTransform: GT });
    fs.writeFileSync(`${file}.aux.xml`, '<PAMDataset><PAMRasterBand band="1"><NoDataValue>3</NoDataValue></PAMRasterBand></PAMDataset>');
    writeTestTiff(path.join(www, 'plain.tif'), { width: 60, height: 40, bands: syntheticScene(60, 40), geoTransform: GT });
    fs.copyFileSync(file, path.join(www, 'hidden.tif'));
    fs.copyFileSync(`${file}.aux.xml`, path.join(www, 'hidden.tif.aux.xml'));
    fs.copyFileSync(file, path.join(www, 'broken.tif'));
    fs.copyFileSync(file, path.join(www, 'spa.tif'));
    const page = '<!doctype html><html><body><div id="app"></div></body></html>';
    fs.writeFileSync(path.join(www, 'spa.tif.msk'), page);
    fs.writeFileSync(path.join(www, 'spa.tif.aux.xml'), page);
    const http = await startRangeServer(www, { statusOf: { '/hidden.tif.aux.xml': 403, '/broken.tif.msk': 500 }, delayOf: { '/missing.tif.msk': 60_000 } });
    try {
      // A query (a signed URL's) stays on the URL; the sidecar's name goes on its path.
      for (const url of [`${http.base}/scene.tif`, `${http.base}/scene.tif?sig=abc#part`]) {
        const withSidecars = await openRaster(url);
        expect([withSidecars.info.maskKind, withSidecars.info.nodata]).toEqual(['mask', 3]);
        const valid = (await withSidecars.read({ x: 0, y: 0, width: 60, height: 40 }, { nodataInvalid: false })).valid;
        expect(Array.from(valid).filter((v, i) => (v === 0) !== (i % 60 < 20))).toEqual([]);
        await withSidecars.close();
      }
      // None beside it (404s), or none we may see (403, as S3 answers for a missing key): opened as it is.
      for (const name of ['plain.tif', 'hidden.tif']) {
        const plain = await openRaster(`${http.base}/${name}`);
        expect([plain.info.maskKind, plain.info.nodata]).toEqual(['none', null]);
        await plain.close();
      }
      // A sidecar the server fails to send is not taken for none: the nodata it may declare would be classified.
      await expect(openRaster(`${http.base}/broken.tif`, { http: { retries: 0 } })).rejects.toThrow(/broken\.tif\.msk answered HTTP 500/);
      // A host that answers every path with its HTML page (a single-page site): no mask file, no PAM.
      const spa = await openRaster(`${http.base}/spa.tif`);
      expect([spa.info.maskKind, spa.info.nodata]).toEqual(['none', null]);
      await spa.close();
      // A raster that is not there is said at once, not after its sidecars' requests (one never answers).
      await expect(openRaster(`${http.base}/missing.tif`)).rejects.toThrow(/missing\.tif does not exist \(HTTP 404\)/);
    } finally {
      await http.close();
    }
  });
});

describe('the server serves a local dataset\'s sidecars beside its source.tif', () => {
  it('200 with the file where there is one, 404 where there is none', async () => {
    const server = createTestServer({
      'masked.tif': (f) => {
        writeTestTiff(f, { width: 60, height: 40, bands: syntheticScene(60, 40), geoTransform: GT });
        writeTestTiff(`${f}.msk`, { width: 60, height: 40, bands: [new Uint8Array(2400).fill(255)], geoTransform: GT });
      },
      'plain.tif': (f) => writeTestTiff(f, { width: 60, height: 40, bands: syntheticScene(60, 40), geoTransform: GT }),
    });
    try {
      const masked = server.datasetId('masked.tif');
      const msk = await server.get(`/datasets/${masked}/source.tif.msk`);
      expect(msk.status).toBe(200);
      expect(Buffer.from(await msk.arrayBuffer()).equals(fs.readFileSync(path.join(server.ctx.dataDir, 'masked.tif.msk')))).toBe(true);
      expect((await server.get(`/datasets/${masked}/source.tif.aux.xml`)).status).toBe(404);
      expect((await server.get(`/datasets/${server.datasetId('plain.tif')}/source.tif.msk`)).status).toBe(404);
      expect((await (await server.get(`/datasets/${masked}`)).json()).mask).toBe('mask');
    } finally {
      await server.close();
    }
  });
});

describe.skipIf(skipWithoutGdal)(`a .msk made by GDAL ${gdalSkipReason}`, () => {
  it('masks the same pixels as GDAL\'s mask band', async () => {
    const file = path.join(tmp, 'gdal-scene.tif');
    writeTestTiff(file, { width: 80, height: 50, bands: syntheticScene(80, 50), geoTransform: GT });
    // A mask created on the file opened read-only goes to scene.tif.msk.
    const gdalMask = execFileSync(gdalPython, ['-c', [
      'import sys', 'from osgeo import gdal', 'import numpy as np',
      "gdal.SetConfigOption('GDAL_TIFF_INTERNAL_MASK', 'NO')",
      'ds = gdal.Open(sys.argv[1])', 'ds.CreateMaskBand(gdal.GMF_PER_DATASET)',
      'y, x = np.mgrid[0:50, 0:80]', 'ds.GetRasterBand(1).GetMaskBand().WriteArray(np.where((x - 40) ** 2 + (y - 25) ** 2 < 400, 0, 255).astype(np.uint8))',
      'ds = None', 'ds = gdal.Open(sys.argv[1])', "print(''.join('0' if v == 0 else '1' for v in ds.GetRasterBand(1).GetMaskBand().ReadAsArray().ravel()))",
    ].join('\n'), file], { encoding: 'utf8' }).trim();
    expect(fs.existsSync(`${file}.msk`)).toBe(true);
    expect(gdalMask).toContain('0');
    const source = await openRaster(file);
    try {
      const block = await source.read({ x: 0, y: 0, width: 80, height: 50 });
      expect(Array.from(block.valid).join('')).toBe(gdalMask);
    } finally {
      await source.close();
    }
  });
});
