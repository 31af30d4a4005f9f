/**
 * sar-water: the committed graph is the one the build script makes; on crafted backscatter it
 * calls calm water water and land land, its soft threshold is monotonic, its speckle filter
 * averages linear power and removes isolated speckle pixels; on the Sen1Floods11 Spain chip it
 * finds a plausible amount of water, where Sentinel-2 also sees it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSarWater, SHARPNESS_PER_DB, VH_THRESHOLD_DB, VV_THRESHOLD_DB } from '../../models/sar-water/build-model.ts';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { seededRandom } from '../fixtures/seeded-random.ts';
import { repoRoot, scenesDir, sharedSkipReason, skipWithoutShared } from '../helpers/shared-data.ts';
import { failWithoutSharedUnderCi } from '../helpers/require-shared.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-sar-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const registry = new ModelRegistry(path.join(repoRoot, 'models'));

type Session = Awaited<ReturnType<typeof ort.InferenceSession.create>>;
let filtered: Session;
let unfiltered: Session;
beforeAll(async () => {
  filtered = await ort.InferenceSession.create(buildSarWater());
  unfiltered = await ort.InferenceSession.create(buildSarWater({ speckleFilter: false }));
});

/** p(water) and p(not water) for one VV, VH image (dB, row-major). */
async function run(session: Session, vv: ArrayLike<number>, vh: ArrayLike<number>, width: number, height: number) {
  const plane = width * height;
  const input = new Float32Array(2 * plane);
  input.set(Array.from(vv), 0);
  input.set(Array.from(vh), plane);
  const out = await session.run({ input: new ort.Tensor('float32', input, [1, 2, height, width]) });
  const data = out.output!.data as Float32Array;
  return { water: data.subarray(0, plane), notWater: data.subarray(plane, 2 * plane) };
}

const constant = (n: number, v: number) => new Float32Array(n).fill(v);

/** Water pixels none of whose 8 neighbours is water. */
function isolatedPixels(water: Uint8Array, width: number, height: number): number {
  let n = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!water[y * width + x]) continue;
      let alone = true;
      for (let dy = -1; dy <= 1 && alone; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if ((dx || dy) && yy >= 0 && yy < height && xx >= 0 && xx < width && water[yy * width + xx]) { alone = false; break; }
        }
      }
      if (alone) n++;
    }
  }
  return n;
}

/** 8-connected groups of water pixels. */
function components(water: Uint8Array, width: number, height: number): number {
  const seen = new Uint8Array(water.length);
  const stack = new Int32Array(water.length);
  let count = 0;
  for (let start = 0; start < water.length; start++) {
    if (!water[start] || seen[start]) continue;
    count++;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    while (top > 0) {
      const i = stack[--top]!;
      const x = i % width;
      const y = (i - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
          const j = yy * width + xx;
          if (water[j] && !seen[j]) { seen[j] = 1; stack[top++] = j; }
        }
      }
    }
  }
  return count;
}

describe('sar-water', () => {
  it('is exactly what build-model.ts builds', () => {
    expect(Buffer.from(buildSarWater()).equals(fs.readFileSync(path.join(repoRoot, 'models/sar-water/model.onnx')))).toBe(true);
  });

  it('declares Sentinel-1 VV, VH at 10 m and two classes', () => {
    const spec = registry.get('sar-water');
    expect(spec.classNames).toEqual(['water', 'not_water']);
    expect(spec.classColors[0]).toBe('#2B83BA');
    expect(spec.bands.names).toEqual(['VV', 'VH']);
    expect(spec.bands.sensors.sentinel1).toEqual([1, 2]);
    expect(spec.bands.byBandCount['2']).toBe('sentinel1');
    expect(spec.resolutionCm).toBe(1000);
    expect(spec.inputScale).toBe(1);
    expect(spec.mean).toEqual([0, 0]);
    expect(spec.std).toEqual([1, 1]);
    expect(spec.license).toBe('MIT');
  });

  it('calls calm water water, land land, and VH-dark bare soil land; probabilities sum to 1', async () => {
    const w = 9;
    const n = w * w;
    const cases = [
      { what: 'calm water', vv: -22, vh: -30, water: true },
      { what: 'cropland', vv: -9, vh: -16, water: false },
      { what: 'smooth bare soil (dark in VH only)', vv: -11, vh: -26, water: false },
      { what: 'dark in VV only', vv: -19, vh: -18, water: false },
    ];
    for (const session of [filtered, unfiltered]) {
      for (const c of cases) {
        const p = await run(session, constant(n, c.vv), constant(n, c.vh), w, w);
        for (let i = 0; i < n; i++) {
          expect(p.water[i]! + p.notWater[i]!).toBeCloseTo(1, 6);
          if (c.water) expect(p.water[i], c.what).toBeGreaterThan(0.95);
          else expect(p.water[i], c.what).toBeLessThan(0.05);
        }
      }
    }
  });

  it('has a monotonic soft transition centred on each threshold', async () => {
    // One row sweeping VV from 6 dB below its threshold to 6 dB above, with VH far below its own.
    const steps = 121;
    const vv = Float32Array.from({ length: steps }, (_, i) => VV_THRESHOLD_DB - 6 + i * 0.1);
    const p = (await run(unfiltered, vv, constant(steps, -35), steps, 1)).water;
    for (let i = 1; i < steps; i++) expect(p[i]!).toBeLessThan(p[i - 1]!);
    expect(p[60]).toBeCloseTo(0.5, 5);
    expect(p[50]).toBeCloseTo(1 / (1 + Math.exp(-SHARPNESS_PER_DB)), 5); // 1 dB darker than the threshold
    expect(p[0]).toBeGreaterThan(0.99999);
    expect(p[120]).toBeLessThan(0.00001);
    const vh = Float32Array.from({ length: steps }, (_, i) => VH_THRESHOLD_DB - 6 + i * 0.1);
    const q = (await run(unfiltered, constant(steps, -30), vh, steps, 1)).water;
    for (let i = 1; i < steps; i++) expect(q[i]!).toBeLessThan(q[i - 1]!);
    expect(q[60]).toBeCloseTo(0.5, 5);
  });

  it('filters speckle in linear power, not in dB', async () => {
    // A bright point (+10 dB) amid water (-30 dB). A mean of dB values would call the centre water
    // (-28.4 dB); the mean of power is 10 log10((10 + 24 * 0.001) / 25) = -3.97 dB: not water.
    const w = 5;
    const vv = constant(w * w, -30);
    const vh = constant(w * w, -30);
    vv[12] = 10;
    vh[12] = 10;
    const p = await run(filtered, vv, vh, w, w);
    expect(p.water[12]).toBeLessThan(0.01);
    expect((await run(unfiltered, vv, vh, w, w)).water[0]).toBeGreaterThan(0.99);
  });

  it('removes isolated speckle pixels from a crafted water/land scene', async () => {
    // Left half water (-20 / -27 dB), right half land (-10 / -17 dB), each pixel multiplied by
    // single-look speckle: exponentially distributed intensity around the mean.
    const w = 128;
    const h = 64;
    const rand = seededRandom(13);
    const speckled = (meanDb: number) => 10 * Math.log10(10 ** (meanDb / 10) * -Math.log(1 - rand()));
    const vv = new Float32Array(w * h);
    const vh = new Float32Array(w * h);
    for (let i = 0; i < w * h; i++) {
      const water = i % w < w / 2;
      vv[i] = speckled(water ? -20 : -10);
      vh[i] = speckled(water ? -27 : -17);
    }
    const labels = (p: Float32Array) => Uint8Array.from(p, (v) => (v > 0.5 ? 1 : 0));
    const raw = labels((await run(unfiltered, vv, vh, w, h)).water);
    const clean = labels((await run(filtered, vv, vh, w, h)).water);
    const wrong = (m: Uint8Array) => m.reduce((s, v, i) => s + (v !== (i % w < w / 2 ? 1 : 0) ? 1 : 0), 0);
    console.log(`crafted speckle: wrong pixels ${wrong(raw)} -> ${wrong(clean)}, isolated water pixels ${isolatedPixels(raw, w, h)} -> ${isolatedPixels(clean, w, h)}, components ${components(raw, w, h)} -> ${components(clean, w, h)}`);
    expect(wrong(clean)).toBeLessThan(wrong(raw) / 4);
    expect(isolatedPixels(clean, w, h)).toBeLessThan(isolatedPixels(raw, w, h) / 10);
    expect(components(clean, w, h)).toBeLessThan(components(raw, w, h) / 10);
  });

  failWithoutSharedUnderCi();
  describe.skipIf(skipWithoutShared)(`on the Sen1Floods11 Spain chip ${sharedSkipReason}`, () => {
    async function mask(file: string): Promise<{ labels: Uint8Array; width: number; height: number }> {
      const src = await openRaster(file);
      const { width, height } = src.info;
      const b = await src.read({ x: 0, y: 0, width, height });
      await src.close();
      return { labels: b.bands[0] as Uint8Array, width, height };
    }
    const isClass = (labels: Uint8Array, c: number) => Uint8Array.from(labels, (v) => (v === c ? 1 : 0));

    it('finds a plausible water share, with fewer isolated pixels than without the filter, where Sentinel-2 sees water', async () => {
      const s1 = path.join(scenesDir, 'sen1floods11_spain_s1.tif');
      const out = path.join(tmp, 's1.tif');
      const summary = await segmentScene({ input: s1, output: out, model: registry.get('sar-water'), device: 'cpu' });
      expect(summary.bandChoice).toMatch(/matched by name \(VV=1, VH=2\)/);

      const noFilterDir = path.join(tmp, 'models', 'sar-water-unfiltered');
      fs.mkdirSync(noFilterDir, { recursive: true });
      fs.writeFileSync(path.join(noFilterDir, 'model.onnx'), buildSarWater({ speckleFilter: false }));
      const outRaw = path.join(tmp, 's1-unfiltered.tif');
      const rawSummary = await segmentScene({ input: s1, output: outRaw, model: new ModelRegistry(path.join(tmp, 'models')).get('sar-water-unfiltered'), device: 'cpu' });

      const s2Out = path.join(tmp, 's2.tif');
      await segmentScene({ input: path.join(scenesDir, 'sen1floods11_spain_s2.tif'), output: s2Out, model: registry.get('spectral-water'), device: 'cpu' });

      const { labels, width, height } = await mask(out);
      const water = isClass(labels, 0);
      const rawWater = isClass((await mask(outRaw)).labels, 0);
      const s2Water = isClass((await mask(s2Out)).labels, 0);
      const both = water.reduce((s, v, i) => s + (v & s2Water[i]!), 0);
      const sum = (m: Uint8Array) => m.reduce((s, v) => s + v, 0);
      const figures = {
        share: summary.classShares.water!,
        shareUnfiltered: rawSummary.classShares.water!,
        isolated: isolatedPixels(water, width, height),
        isolatedUnfiltered: isolatedPixels(rawWater, width, height),
        components: components(water, width, height),
        componentsUnfiltered: components(rawWater, width, height),
        s2Share: sum(s2Water) / s2Water.length,
        s1WaterSeenByS2: both / sum(water),
        s2WaterSeenByS1: both / sum(s2Water),
      };
      console.log(`sar-water on sen1floods11_spain_s1: ${JSON.stringify(figures)}`);
      // A flood chip: water is neither absent nor most of it (Sentinel-2's index model, which also
      // counts wet soil, sees more).
      expect(figures.share).toBeGreaterThan(0.05);
      expect(figures.share).toBeLessThan(0.35);
      // The chip's 7.9 m columns are averaged into the model's 10 m ones first, which removes some
      // speckle on its own (isolated pixels without the filter: 125 before that resampling, 57 after).
      expect(figures.isolated).toBeLessThan(figures.isolatedUnfiltered / 5);
      expect(figures.components).toBeLessThan(figures.componentsUnfiltered / 2);
      // Radar water lies where the optical image of the same place also shows water.
      expect(figures.s1WaterSeenByS2).toBeGreaterThan(0.8);
    });
  });
});
