/**
 * What segmenting imagery much finer than the model on its block averages (model-grid.ts) costs
 * aerial-landcover, on the held-out tile_8 (9 images, labelled): each image as a 1 m GeoTIFF, and
 * the same ground upsampled F times (bicubic) into pixels of 1/F m, as drone imagery of that
 * ground would be (with less detail than a real drone's). The fine scene is segmented twice: the
 * default, on F/2 x F/2 block averages, and on its own grid with each tile resampled to 1 m and its
 * probabilities back (what satseg did before). Masks are scored at the labels' 1 m pixels, each
 * label pixel taking the mask pixel under its centre. Needs ../shared:
 *   npx tsx models/aerial-landcover/check-drone-pixels.ts [F, default 4] [images, default 9]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { segmentScene, type SegmentSummary } from '../../server/src/segment/segment-scene.ts';
import { writeTestTiff } from '../../test/fixtures/write-tiff.ts';
import { addInto, dubaiImage, ious, scoreMask } from '../../test/helpers/dubai.ts';
import { repoRoot } from '../../test/helpers/shared-data.ts';

const factor = Number(process.argv[2] ?? 4);
const images = Number(process.argv[3] ?? 9);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-drone-'));
const spec = new ModelRegistry(path.join(repoRoot, 'models')).get('aerial-landcover');
const totals = new Map<string, { matrix: number[][]; seconds: number }>();
const grid = (metres: number): [number, number, number, number, number, number] => [300000, metres, 0, 2780000, 0, -metres];

/** The mask resampled to the labels' 1 m grid: each pixel the mask pixel under its centre. */
async function atOneMetre(mask: string, width: number, height: number): Promise<string> {
  const source = await openRaster(mask);
  const step = source.info.geoTransform[1];
  const ids = (await source.read({ x: 0, y: 0, width: source.info.width, height: source.info.height })).bands[0] as Uint8Array;
  const stride = source.info.width;
  await source.close();
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = Math.min(source.info.height - 1, Math.floor((y + 0.5) / step)) * stride;
    for (let x = 0; x < width; x++) out[y * width + x] = ids[row + Math.min(stride - 1, Math.floor((x + 0.5) / step))]!;
  }
  const file = `${mask}.1m.tif`;
  writeTestTiff(file, { width, height, bands: [out], epsg: 32640, geoTransform: grid(1), nodata: 255 });
  return file;
}

try {
  for (let part = 1; part <= images; part++) {
    const { image, labels } = dubaiImage(8, part);
    const planes = async (img: ReturnType<typeof sharp>) => {
      const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return { width: info.width, height: info.height, bands: [0, 1, 2].map((b) => Uint8Array.from({ length: info.width * info.height }, (_, i) => data[i * 3 + b]!)) };
    };
    const native = await planes(sharp(image));
    const fine = await planes(sharp(image).resize(native.width * factor, native.height * factor, { kernel: 'cubic' }));
    const nativeFile = path.join(tmp, `native-${part}.tif`);
    const fineFile = path.join(tmp, `fine-${part}.tif`);
    writeTestTiff(nativeFile, { ...native, epsg: 32640, geoTransform: grid(1), rowsPerStrip: 64 });
    writeTestTiff(fineFile, { ...fine, epsg: 32640, geoTransform: grid(1 / factor), rowsPerStrip: 64 });
    const runs = [
      ['1 m as it is', nativeFile, false],
      [`${100 / factor} cm, on its block averages (now)`, fineFile, false],
      [`${100 / factor} cm, on its own grid (before)`, fineFile, true],
    ] as const;
    for (const [name, input, sceneGrid] of runs) {
      const out = path.join(tmp, `mask-${part}-${sceneGrid ? 'scene' : 'model'}-${input === nativeFile ? 'native' : 'fine'}.tif`);
      const s: SegmentSummary = await segmentScene({ input, output: out, model: spec, device: 'cpu', sceneGrid });
      const entry = totals.get(name) ?? { matrix: Array.from({ length: 5 }, () => Array(5).fill(0)), seconds: 0 };
      addInto(entry.matrix, (await scoreMask(await atOneMetre(out, native.width, native.height), labels)).matrix);
      entry.seconds += s.seconds;
      totals.set(name, entry);
      fs.rmSync(out);
    }
    fs.rmSync(fineFile);
  }
  for (const [name, { matrix, seconds }] of totals) {
    const { miou, accuracy } = ious(matrix);
    console.log(`aerial-landcover on tile_8 (${images} images), ${name}: mIoU ${miou.toFixed(3)}, pixel accuracy ${accuracy.toFixed(3)}, ${seconds.toFixed(1)} s segmenting`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
