/**
 * spectral-water: the committed graph is the one the build script makes, it classifies known
 * spectra, and on NAIP it finds the lakes and not the fields.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSpectralWater } from '../../models/spectral-water/build-model.ts';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { writeTestTiff } from '../fixtures/write-tiff.ts';
import { repoRoot, scenesDir, sharedSkipReason, skipWithoutShared } from '../helpers/shared-data.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-sw-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const registry = new ModelRegistry(path.join(repoRoot, 'models'));

async function classes(file: string, win?: { x: number; y: number; width: number; height: number }) {
  const src = await openRaster(file);
  const b = await src.read(win ?? { x: 0, y: 0, width: src.info.width, height: src.info.height });
  await src.close();
  const counts = [0, 0, 0];
  for (const v of b.bands[0]!) if (v < 3) counts[v]!++;
  const n = b.bands[0]!.length;
  return { water: counts[0]! / n, vegetation: counts[1]! / n, other: counts[2]! / n };
}

describe('spectral-water', () => {
  it('is exactly what build-model.ts builds', () => {
    expect(Buffer.from(buildSpectralWater()).equals(fs.readFileSync(path.join(repoRoot, 'models/spectral-water/model.onnx')))).toBe(true);
  });

  it('declares its bands and sensor mappings', () => {
    const spec = registry.get('spectral-water');
    expect(spec.classNames).toEqual(['water', 'vegetation', 'other']);
    expect(spec.bands.names).toEqual(['green', 'red', 'nir', 'swir1']);
    expect(spec.bands.sensors.naip).toEqual([2, 1, 4, 4]);
    expect(spec.resolutionCm).toBeNull();
  });

  it('classifies water, vegetation and bare soil spectra (R, G, B, NIR scene)', async () => {
    // Three vertical stripes: water (green > NIR), vegetation (NIR >> red), bare soil (flat).
    const w = 90;
    const h = 30;
    const spectra = [[40, 90, 80, 15], [50, 80, 50, 200], [150, 140, 130, 135]];
    const bands = [0, 1, 2, 3].map((b) => Uint8Array.from({ length: w * h }, (_, i) => spectra[Math.floor((i % w) / 30)]![b]!));
    const input = path.join(tmp, 'stripes.tif');
    writeTestTiff(input, { width: w, height: h, bands, geoTransform: [0, 1, 0, 0, 0, -1], photometric: 2 });
    const out = path.join(tmp, 'stripes-mask.tif');
    const said: string[] = [];
    const s = await segmentScene({ input, output: out, model: registry.get('spectral-water'), device: 'cpu', onNotice: (m) => said.push(m) });
    expect(s.bandChoice).toMatch(/^naip bands 2,1,4,4, assumed for a 4-band scene/);
    // Its colour interpretation names R, G, B, agreeing with the guess: not "taken by position".
    expect(said.filter((m) => /nothing in the scene names its bands/.test(m))).toEqual([]);
    expect((await classes(out, { x: 0, y: 0, width: 30, height: h })).water).toBe(1);
    expect((await classes(out, { x: 30, y: 0, width: 30, height: h })).vegetation).toBe(1);
    expect((await classes(out, { x: 60, y: 0, width: 30, height: h })).other).toBe(1);
  });

  describe.skipIf(skipWithoutShared)(`on real scenes ${sharedSkipReason}`, () => {
    it("finds water in naip_2020's lakes and not in its fields", async () => {
      const out = path.join(tmp, 'naip.tif');
      await segmentScene({ input: path.join(scenesDir, 'naip_2020.tif'), output: out, model: registry.get('spectral-water'), device: 'cpu' });
      const lake = await classes(out, { x: 430, y: 420, width: 80, height: 70 });
      const bareField = await classes(out, { x: 830, y: 520, width: 90, height: 80 });
      const cropField = await classes(out, { x: 560, y: 60, width: 80, height: 90 });
      const whole = await classes(out);
      console.log(`spectral-water on naip_2020: lake ${(lake.water * 100).toFixed(1)}% water, bare field ${(bareField.water * 100).toFixed(1)}%, crop field ${(cropField.water * 100).toFixed(1)}%, whole scene ${(whole.water * 100).toFixed(1)}%`);
      expect(lake.water).toBeGreaterThan(0.95);
      expect(bareField.water).toBeLessThan(0.05);
      expect(cropField.water).toBeLessThan(0.05);
      expect(cropField.vegetation).toBeGreaterThan(0.9);
    });

    it('picks Sentinel-2 bands B3, B4, B8, B11 by description', async () => {
      const out = path.join(tmp, 's2.tif');
      const notices: string[] = [];
      const s = await segmentScene({ input: path.join(scenesDir, 'sen1floods11_spain_s2.tif'), output: out, model: registry.get('spectral-water'), device: 'cpu', onNotice: (m) => notices.push(m) });
      expect(s.bands).toEqual([3, 4, 8, 12]);
      // A 2019 product (baseline 02.07): values under 1000, so no hint of the 2022 offset.
      expect(notices.filter((m) => /offset/.test(m))).toEqual([]);
      // A per-pixel model (receptive_field 1): the chip's pixels, 1.27x taller than wide on the
      // ground, are neither resampled nor worth a notice.
      expect(registry.get('spectral-water').receptiveField).toBe(1);
      expect(notices.filter((m) => /on the ground/.test(m))).toEqual([]);
      expect(s.resampled).toBeNull();
      expect(s.bandChoice).toMatch(/sentinel2-l1c bands B3,B4,B8,B11 by band description/);
      expect(s.classShares.water).toBeGreaterThan(0.05);
    });
  });
});
