/**
 * How much feeding a model square ground pixels matters on the Spain chips (EPSG:4326 at 38° N,
 * pixels 7.9 m wide and 10.0 m tall). Each model runs three ways:
 *   - on the chip warped to square 10 m UTM pixels (gdalwarp -r bilinear), the geometry it was
 *     made for; its mask is brought back onto the chip's grid with -r near: the reference;
 *   - on the chip, each axis of the tiles resampled to square 10 m pixels (what satseg does);
 *   - on the chip as it is (the model told nothing of its resolution, so nothing is resampled).
 * Prints each run's agreement with the reference. Needs ../shared and GDAL's tools:
 *   npx tsx models/dynamic-world/check-square-pixels.ts
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { repoRoot } from './build-model.ts';

const scenes = path.join(repoRoot, '..', 'shared', 'data', 'scenes');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-square-'));
const registry = new ModelRegistry(path.join(repoRoot, 'models'));

async function labels(file: string): Promise<Uint8Array> {
  const src = await openRaster(file);
  try {
    return (await src.read({ x: 0, y: 0, width: src.info.width, height: src.info.height })).bands[0] as Uint8Array;
  } finally {
    await src.close();
  }
}

try {
  for (const [id, file] of [['dynamic-world', 'sen1floods11_spain_s2.tif'], ['sar-water', 'sen1floods11_spain_s1.tif']] as const) {
    const chip = path.join(scenes, file);
    const spec = registry.get(id);
    const utm = path.join(tmp, `${id}-utm.tif`);
    execFileSync('gdalwarp', ['-q', '-t_srs', 'EPSG:32630', '-tr', '10', '10', '-r', 'bilinear', chip, utm]);
    const utmMask = path.join(tmp, `${id}-utm-mask.tif`);
    await segmentScene({ input: utm, output: utmMask, model: spec, device: 'cpu' });
    const { geoTransform: gt, size: [w, h] } = JSON.parse(execFileSync('gdalinfo', ['-json', chip], { encoding: 'utf8' })) as { geoTransform: number[]; size: number[] };
    const back = path.join(tmp, `${id}-reference.tif`);
    execFileSync('gdalwarp', ['-q', '-t_srs', 'EPSG:4326', '-te', `${gt[0]}`, `${gt[3]! + h! * gt[5]!}`, `${gt[0]! + w! * gt[1]!}`, `${gt[3]}`, '-ts', `${w}`, `${h}`, '-r', 'near', utmMask, back]);
    const reference = await labels(back);
    for (const [how, model] of [['resampled to square 10 m', spec], ['as it is', { ...spec, resolutionCm: null }]] as const) {
      const out = path.join(tmp, `${id}-${how.split(' ')[0]}.tif`);
      await segmentScene({ input: chip, output: out, model, device: 'cpu' });
      const mask = await labels(out);
      let same = 0;
      let counted = 0;
      for (let i = 0; i < mask.length; i++) {
        if (mask[i] === 255 || reference[i] === 255) continue;
        counted++;
        if (mask[i] === reference[i]) same++;
      }
      console.log(`${id} on ${file}, ${how}: agrees with the square-pixel reference on ${((100 * same) / counted).toFixed(1)} % of ${counted} pixels`);
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
