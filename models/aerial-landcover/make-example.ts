/**
 * Makes models/aerial-landcover/example-tile8.jpg, the model card's picture: a held-out Dubai image
 * (tile_8/image_part_005, never seen in training), its labels and what the shipped model made of
 * it through satseg's own pipeline, side by side. A real run, not a mock-up, so rerun it when the
 * model changes:
 *
 *   npx tsx models/aerial-landcover/make-example.ts
 *
 * The imagery is the CC0 dataset the model was trained on (Humans in the Loop / MBRSC).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { repoRoot } from '../../test/helpers/shared-data.ts';
import { dubaiImage, dubaiScene, hasDubaiImage, ious, scoreMask } from '../../test/helpers/dubai.ts';

const PART = 5;
const PANEL = 560; // width of each of the three panels, px
if (!hasDubaiImage(8, PART)) throw new Error('tile_8 of ../shared/data/training/dubai is missing: this script needs ../shared');

const { image, labels } = dubaiImage(8, PART);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-example-'));
try {
  const scene = path.join(tmp, 'scene.tif');
  await dubaiScene(image, scene);
  const spec = new ModelRegistry(path.join(repoRoot, 'models')).get('aerial-landcover');
  const maskFile = path.join(tmp, 'mask.tif');
  await segmentScene({ input: scene, output: maskFile, model: spec, device: 'cpu' });
  const { miou } = ious((await scoreMask(maskFile, labels)).matrix);

  // The mask in the model's colours (the dataset's own label colours), nodata grey.
  const mask = await openRaster(maskFile);
  const { width, height } = mask.info;
  const ids = (await mask.read({ x: 0, y: 0, width, height })).bands[0] as Uint8Array;
  await mask.close();
  const rgb = Buffer.alloc(width * height * 3, 0x9b);
  const colours = spec.classColors.map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
  for (let i = 0; i < ids.length; i++) {
    const c = colours[ids[i]!];
    if (c) rgb.set(c, i * 3);
  }
  const panelHeight = Math.round((PANEL * height) / width);
  const panel = (input: ReturnType<typeof sharp>) => input.resize(PANEL, panelHeight, { kernel: 'nearest' }).removeAlpha().png().toBuffer();
  const panels = await Promise.all([
    sharp(image).resize(PANEL, panelHeight).png().toBuffer(),
    panel(sharp(labels)),
    panel(sharp(rgb, { raw: { width, height, channels: 3 } })),
  ]);
  const gap = 8;
  const out = path.join(repoRoot, 'models/aerial-landcover/example-tile8.jpg');
  await sharp({ create: { width: 3 * PANEL + 2 * gap, height: panelHeight, channels: 3, background: '#ffffff' } })
    .composite(panels.map((p, i) => ({ input: p, left: i * (PANEL + gap), top: 0 })))
    .jpeg({ quality: 82 })
    .toFile(`${out}.tmp`);
  fs.renameSync(`${out}.tmp`, out);
  console.log(`wrote ${out}: tile_8/image_part_00${PART} (${width} x ${height}), mIoU ${miou.toFixed(3)} through the pipeline`);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
