/**
 * What pixels that are not square on the ground cost aerial-landcover, on the held-out tile_8
 * (9 images, labelled): each image as a 1 m GeoTIFF, and the same ground in pixels 1 m wide and
 * 2 m tall (each pair of rows averaged, as a lon/lat image at 60° N has), fed to the model resampled
 * along each axis to its square 1 m pixels (what satseg does) and as it is (the model told nothing
 * of its resolution). The 2 m masks are scored with each row doubled. Needs ../shared:
 *   npx tsx models/aerial-landcover/check-stretched-pixels.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { writeTestTiff } from '../../test/fixtures/write-tiff.ts';
import { addInto, dubaiImage, ious, scoreMask } from '../../test/helpers/dubai.ts';
import { repoRoot } from '../../test/helpers/shared-data.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-stretched-'));
const spec = new ModelRegistry(path.join(repoRoot, 'models')).get('aerial-landcover');
const totals = new Map<string, number[][]>();
const grid = (rowMetres: number): [number, number, number, number, number, number] => [300000, 1, 0, 2780000, 0, -rowMetres];

try {
  for (let part = 1; part <= 9; part++) {
    const { image, labels } = dubaiImage(8, part);
    const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const { width, height } = info;
    const half = Math.floor(height / 2);
    const bands = [0, 1, 2].map((b) => Uint8Array.from({ length: width * height }, (_, i) => data[i * 3 + b]!));
    const tall = bands.map((band) => {
      const out = new Uint8Array(width * half);
      for (let y = 0; y < half; y++) for (let x = 0; x < width; x++) out[y * width + x] = Math.round((band[2 * y * width + x]! + band[(2 * y + 1) * width + x]!) / 2);
      return out;
    });
    const square = path.join(tmp, `square-${part}.tif`);
    const stretched = path.join(tmp, `tall-${part}.tif`);
    writeTestTiff(square, { width, height, bands, epsg: 32640, geoTransform: grid(1) });
    writeTestTiff(stretched, { width, height: half, bands: tall, epsg: 32640, geoTransform: grid(2) });
    const runs = [['1 m square pixels', square, spec], ['1 x 2 m pixels, resampled per axis', stretched, spec], ['1 x 2 m pixels, as they are', stretched, { ...spec, resolutionCm: null }]] as const;
    for (const [name, input, model] of runs) {
      const out = path.join(tmp, `mask-${totals.size}-${part}.tif`);
      await segmentScene({ input, output: out, model, device: 'cpu' });
      let scored = out;
      if (input === stretched) {
        const mask = await openRaster(out);
        const ids = (await mask.read({ x: 0, y: 0, width, height: half })).bands[0] as Uint8Array;
        await mask.close();
        const full = new Uint8Array(width * height).fill(255);
        for (let y = 0; y < 2 * half; y++) full.set(ids.subarray((y >> 1) * width, ((y >> 1) + 1) * width), y * width);
        scored = `${out}.rows-doubled.tif`;
        writeTestTiff(scored, { width, height, bands: [full], epsg: 32640, geoTransform: grid(1), nodata: 255 });
      }
      if (!totals.has(name)) totals.set(name, Array.from({ length: 5 }, () => Array(5).fill(0)));
      addInto(totals.get(name)!, (await scoreMask(scored, labels)).matrix);
    }
  }
  for (const [name, matrix] of totals) {
    const { miou, accuracy } = ious(matrix);
    console.log(`aerial-landcover on tile_8, ${name}: mIoU ${miou.toFixed(3)}, pixel accuracy ${accuracy.toFixed(3)}`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
