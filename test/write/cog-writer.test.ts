/**
 * The streaming COG writer: pixels and overviews read back with our reader, and GDAL's own COG
 * validator and gdalinfo as the oracle when GDAL is installed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { CogWriter, type CogOptions } from '../../server/src/write/cog-writer.ts';
import { halveRows } from '../../server/src/write/downsample.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { gdalPython, gdalRead, gdalSkipReason, skipWithoutGdal } from '../helpers/shared-data.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-cog-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const W = 1300;
const H = 1100;
const pattern = (x: number, y: number) => (((x >> 6) + (y >> 6)) % 3 === 0 && x > 100 ? 255 : ((x >> 5) + (y >> 5)) % 3);

const options: CogOptions = {
  width: W, height: H, geoTransform: [500000, 5, 0, 4000000, 0, -5], geoKeys: { epsg: 32618, geographic: false },
  nodata: 255, blockSize: 256, colorMap: [[255, 0, 0], [0, 255, 0], [0, 0, 255]], metadata: { CLASS_NAMES: '["a","b","c"]' },
  bandDescription: 'class', overviewResampling: 'mode',
};

async function writePattern(file: string, opts: CogOptions, rowsPerCall = 37): Promise<CogWriter> {
  const w = await CogWriter.create(file, opts);
  for (let y = 0; y < opts.height; y += rowsPerCall) {
    const n = Math.min(rowsPerCall, opts.height - y);
    const rows = new Uint8Array(n * opts.width);
    for (let r = 0; r < n; r++) for (let x = 0; x < opts.width; x++) rows[r * opts.width + x] = pattern(x, y + r);
    await w.writeRows(rows, n);
  }
  return w;
}

function validateCog(file: string): string {
  return execFileSync(gdalPython, ['/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py', '--full-check=yes', file], { encoding: 'utf8' });
}

describe('halveRows', () => {
  it('takes the mode of each 2x2 block, never a mean, and ignores nodata', () => {
    const out = new Uint8Array(3);
    halveRows(Uint8Array.from([0, 4, 2, 2, 7]), Uint8Array.from([4, 4, 1, 3, 255]), 5, out, 'mode', 255);
    expect(Array.from(out)).toEqual([4, 2, 7]);
    halveRows(Uint8Array.from([255, 255]), Uint8Array.from([255, 1]), 2, out, 'mode', 255);
    expect(out[0]).toBe(1);
    halveRows(Uint8Array.from([0, 1]), Uint8Array.from([2, 3]), 2, out, 'mode', 255);
    expect(out[0]).toBe(0); // all different: top-left, like nearest
    halveRows(Uint8Array.from([0, 100]), null, 2, out, 'average', 0);
    expect(out[0]).toBe(100);
  });
});

// GDAL escapes a metadata value twice in the GeoTIFF tag and unescapes it twice, in UTF-8: values
// with quotes, ampersands, text that looks like an entity and any script must cross both ways unchanged.
const tricky = { CLASS_NAMES: '["water","R&D","<b>","a &quot; b","bâtiments","建筑","🌍"]', NOTE: `it's "quoted" & <tagged> &amp;` };

describe('CogWriter', () => {
  it('leaves no temp folder when it cannot be created (a level too wide to buffer)', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'too-wide-'));
    const out = path.join(dir, 'wide.tif');
    await expect(CogWriter.create(out, { width: 4e9, height: 1, geoTransform: [0, 1, 0, 0, 0, -1], geoKeys: { epsg: 4326, geographic: true }, nodata: 255, overviewResampling: 'mode' }))
      .rejects.toThrow(/Invalid typed array length|Array buffer allocation failed/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('reads back metadata values with quotes, ampersands, entity-like text and any script unchanged', async () => {
    const file = path.join(tmp, 'tricky.tif');
    await (await writePattern(file, { ...options, metadata: tricky })).finish();
    const src = await openRaster(file);
    expect(src.info.metadata).toMatchObject(tricky);
    await src.close();
  });

  it('writes a tiled, compressed raster with mode overviews that reads back exactly', async () => {
    const file = path.join(tmp, 'pattern.tif');
    const w = await writePattern(file, options);
    expect(fs.existsSync(file)).toBe(false); // nothing at the path before finish
    await w.finish();
    const src = await openRaster(file);
    expect(src.info).toMatchObject({ width: W, height: H, bandCount: 1, dtype: 'uint8', nodata: 255, compression: 'DEFLATE', blockWidth: 256 });
    expect(src.info.overviews.map((o) => [o.width, o.height])).toEqual([[650, 550], [325, 275], [163, 138]]);
    expect(src.info.crs.epsg).toBe(32618);
    expect(src.info.geoTransform).toEqual([500000, 5, 0, 4000000, 0, -5]);
    expect(src.info.colorMap!.slice(0, 3)).toEqual([[255, 0, 0], [0, 255, 0], [0, 0, 255]]);
    expect(src.info.metadata.CLASS_NAMES).toBe('["a","b","c"]');
    expect(src.info.bands[0]!.description).toBe('class');
    const full = await src.read({ x: 0, y: 0, width: W, height: H });
    let wrong = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (full.bands[0]![y * W + x] !== pattern(x, y)) wrong++;
    expect(wrong).toBe(0);
    // First overview: every pixel is one of its 2x2 block's values (a mode, not an average).
    const ovr = await src.read({ x: 0, y: 0, width: 650, height: 550 }, { level: 1 });
    let notInBlock = 0;
    for (let y = 0; y < 550; y++) {
      for (let x = 0; x < 650; x++) {
        const block = [pattern(2 * x, 2 * y), pattern(2 * x + 1, 2 * y), pattern(2 * x, 2 * y + 1), pattern(2 * x + 1, 2 * y + 1)];
        if (!block.includes(ovr.bands[0]![y * 650 + x]!)) notInBlock++;
      }
    }
    expect(notInBlock).toBe(0);
    await src.close();
    expect(fs.readdirSync(tmp).filter((f) => f.includes('satseg-tmp'))).toEqual([]);
  });

  it('leaves nothing behind when aborted, and refuses a missing folder', async () => {
    const file = path.join(tmp, 'aborted.tif');
    const w = await writePattern(file, { ...options, height: H });
    await w.abort();
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('.aborted'))).toEqual([]);
    await expect(CogWriter.create(path.join(tmp, 'no/such/dir/x.tif'), options)).rejects.toThrow(/output folder does not exist/);
  });

  it('refuses to finish an incomplete raster', async () => {
    const file = path.join(tmp, 'short.tif');
    const w = await CogWriter.create(file, options);
    await w.writeRows(new Uint8Array(W * 10), 10);
    await expect(w.finish()).rejects.toThrow(/only 10 of 1100 rows/);
    expect(fs.existsSync(file)).toBe(false);
  });

  describe.skipIf(skipWithoutGdal)(`GDAL oracle ${gdalSkipReason}`, () => {
    it('is a valid COG for GDAL, with geotransform, CRS, nodata, palette and overviews', async () => {
      const file = path.join(tmp, 'valid.tif');
      await (await writePattern(file, options)).finish();
      expect(validateCog(file)).toMatch(/is a valid cloud optimized GeoTIFF/);
      const g = gdalRead(file, { x: 0, y: 0, width: W, height: H });
      expect(g.geotransform).toEqual([500000, 5, 0, 4000000, 0, -5]);
      expect(g.epsg).toBe(32618);
      expect(g.nodata).toBe(255);
      expect(g.overviews).toBe(3);
      let wrong = 0;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (g.pixels![0]![y * W + x] !== pattern(x, y)) wrong++;
      expect(wrong).toBe(0);
      const info = execFileSync('gdalinfo', [file], { encoding: 'utf8' });
      expect(info).toMatch(/ColorInterp=Palette/);
      expect(info).toMatch(/LAYOUT=COG/);
      expect(info).toMatch(/CLASS_NAMES=\["a","b","c"\]/);
    });

    it('writes metadata values that GDAL reads back exactly, and reads values GDAL wrote', async () => {
      const file = path.join(tmp, 'metadata.tif');
      await (await writePattern(file, { ...options, metadata: tricky, bandDescription: 'class & "kind"' })).finish();
      const read = (f: string) => JSON.parse(execFileSync(gdalPython, ['-c', `from osgeo import gdal; import json; ds = gdal.Open(${JSON.stringify(f)}); print(json.dumps([ds.GetMetadata(), ds.GetRasterBand(1).GetDescription()]))`], { encoding: 'utf8' }));
      const [gdalMeta, gdalDescription] = read(file);
      expect(gdalMeta).toMatchObject(tricky);
      expect(gdalDescription).toBe('class & "kind"');
      const ours = await openRaster(file);
      expect(ours.info.metadata).toMatchObject(tricky);
      expect(ours.info.bands[0]!.description).toBe('class & "kind"');
      await ours.close();

      // Values GDAL itself wrote (gdal_edit), read here as GDAL reads them.
      const edited = path.join(tmp, 'metadata-gdal.tif');
      await (await writePattern(edited, options)).finish();
      execFileSync(gdalPython, ['-c', `from osgeo import gdal; ds = gdal.Open(${JSON.stringify(edited)}, gdal.GA_Update); ds.SetMetadata(${JSON.stringify(tricky)}); ds = None`]);
      const theirs = await openRaster(edited);
      expect(theirs.info.metadata).toMatchObject(tricky);
      await theirs.close();
    });

    it('writes a valid BigTIFF COG (used automatically past 4 GiB)', async () => {
      const file = path.join(tmp, 'big.tif');
      await (await writePattern(file, { ...options, bigTiff: true }, 512)).finish();
      expect(fs.readFileSync(file).subarray(0, 4)).toEqual(Buffer.from([0x49, 0x49, 0x2b, 0x00]));
      expect(validateCog(file)).toMatch(/is a valid cloud optimized GeoTIFF/);
      const g = gdalRead(file, { x: 600, y: 500, width: 10, height: 10 });
      expect(Array.from(g.pixels![0]!)).toEqual(Array.from({ length: 100 }, (_, i) => pattern(600 + (i % 10), 500 + Math.floor(i / 10))));
    });
  });
});
