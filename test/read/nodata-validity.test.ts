/**
 * ReadOptions.nodataInvalid: by default pixels holding the nodata value come back invalid; with
 * false they are left to the caller (who tells them by value), while pixels outside the raster
 * stay invalid either way. On a small mask written here.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-nodata-validity-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('nodataInvalid', () => {
  it('marks nodata pixels invalid by default, and only pixels outside the raster with false', async () => {
    const file = path.join(tmp, 'mask.tif');
    const ids = Uint8Array.from([0, 255, 1, 2, /**/ 255, 255, 0, 1]);
    const writer = await CogWriter.create(file, {
      width: 4, height: 2, geoTransform: [500000, 10, 0, 5000000, 0, -10], geoKeys: { epsg: 32633, geographic: false }, nodata: 255, overviewResampling: 'mode',
    });
    await writer.writeRows(ids, 2);
    await writer.finish();
    const source = await openRaster(file);
    try {
      // One column beyond the right edge.
      const win = { x: 1, y: 0, width: 4, height: 2 };
      const byDefault = await source.read(win, { bands: [1] });
      const byValue = await source.read(win, { bands: [1], nodataInvalid: false });
      expect(Array.from(byDefault.bands[0]!)).toEqual([255, 1, 2, 0, /**/ 255, 0, 1, 0]);
      expect(Array.from(byValue.bands[0]!)).toEqual(Array.from(byDefault.bands[0]!));
      expect(Array.from(byDefault.valid)).toEqual([0, 1, 1, 0, /**/ 0, 1, 1, 0]);
      expect(Array.from(byValue.valid)).toEqual([1, 1, 1, 0, /**/ 1, 1, 1, 0]);
    } finally {
      await source.close();
    }
  });
});
