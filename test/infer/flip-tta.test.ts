/**
 * Test-time augmentation: the four flips' answers are un-flipped and averaged in probability
 * space; on an input that the flips leave unchanged it reduces to the symmetrised plain answer
 * (equal to it when that answer is symmetric); and it composes with tiling and blending.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlipTtaModel } from '../../server/src/infer/flip-tta.ts';
import type { Device, Model } from '../../server/src/infer/model.ts';
import type { ModelSpec } from '../../server/src/infer/model-spec.ts';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { WorkerModel } from '../../server/src/infer/worker-model.ts';
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { installTestModel } from '../fixtures/test-model.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-tta-'));
let spec: ModelSpec;
beforeAll(() => { spec = new ModelRegistry(installTestModel(path.join(tmp, 'models'))).get('test-rgb'); });
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** [planes, h, w] flipped: 1 = left-right, 2 = top-bottom. */
function flip(a: Float32Array, planes: number, h: number, w: number, f: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let p = 0; p < planes; p++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    out[p * h * w + y * w + x] = a[p * h * w + (f & 2 ? h - 1 - y : y) * w + (f & 1 ? w - 1 - x : x)]!;
  }
  return out;
}

describe('FlipTtaModel', () => {
  it('averages the un-flipped probabilities of the four flips', async () => {
    // A fake engine whose answer depends on where each value is, on the tile and on which call it
    // is, so a wrong flip, a missed un-flip, a tile mixed up or a wrong weight shows.
    const h = 3;
    const w = 5;
    const n = 2;
    const calls: Float32Array[] = [];
    const answer = (batch: Float32Array, call: number): Float32Array => {
      const out = new Float32Array(n * 2 * h * w);
      for (let t = 0; t < n; t++) for (let p = 0; p < h * w; p++) {
        const v = 0.1 + 0.8 * ((batch[t * h * w + p]! * 7 + t * 0.3 + call * 0.11) % 1);
        out[t * 2 * h * w + p] = v;
        out[t * 2 * h * w + h * w + p] = 1 - v;
      }
      return out;
    };
    const fake: Model = {
      spec: { ...spec, inputChannels: 1, classNames: ['a', 'b'] },
      device: 'cpu' as Device,
      run: async (batch, count) => {
        expect(count).toBe(n);
        calls.push(batch.slice());
        return answer(batch, calls.length - 1);
      },
      close: async () => undefined,
    };
    const input = Float32Array.from({ length: n * h * w }, (_, i) => (i * 0.137) % 1);
    const tta = await new FlipTtaModel(fake).run(input.slice(), n, h, w);
    // One pass per variant, each a batch of the caller's n tiles: flipped left-right, top-bottom,
    // both, then as it is.
    const flips = [1, 2, 3, 0];
    expect(calls).toHaveLength(4);
    calls.forEach((seen, call) => {
      for (let t = 0; t < n; t++) {
        expect(Array.from(seen.subarray(t * h * w, (t + 1) * h * w))).toEqual(Array.from(flip(input.subarray(t * h * w, (t + 1) * h * w), 1, h, w, flips[call]!)));
      }
    });
    // Expected: for each tile, the mean over the calls of the engine's answer, flipped back.
    const expected = new Float32Array(n * 2 * h * w);
    calls.forEach((seen, call) => {
      const out = answer(seen, call);
      for (let t = 0; t < n; t++) {
        const back = flip(out.subarray(t * 2 * h * w, (t + 1) * 2 * h * w), 2, h, w, flips[call]!);
        for (let k = 0; k < back.length; k++) expected[t * 2 * h * w + k]! += back[k]! / 4;
      }
    });
    for (let k = 0; k < expected.length; k++) expect(tta[k]).toBeCloseTo(expected[k]!, 6);
    for (let t = 0; t < n; t++) for (let p = 0; p < h * w; p++) expect(tta[t * 2 * h * w + p]! + tta[t * 2 * h * w + h * w + p]!).toBeCloseTo(1, 6);
  });

  it('fails with the engine\'s error, and leaves no rejection unhandled, when a pass fails', async () => {
    let call = 0;
    const fake: Model = {
      spec: { ...spec, inputChannels: 1, classNames: ['a', 'b'] },
      device: 'cpu' as Device,
      // The first pass fails; the three queued after it fail too, and nobody awaits them.
      run: async () => { call++; throw new Error(`pass ${call} failed`); },
      close: async () => undefined,
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(new FlipTtaModel(fake).run(new Float32Array(4), 1, 2, 2)).rejects.toThrow('pass 1 failed');
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('on an input the flips leave unchanged, gives the plain answer symmetrised (the plain one where that is symmetric)', async () => {
    const size = 64;
    const engine = await WorkerModel.open(spec, { device: 'cpu', threads: 1 });
    try {
      const input = new Float32Array(3 * size * size);
      for (let c = 0; c < 3; c++) for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
        const dx = Math.abs(x - (size - 1) / 2);
        const dy = Math.abs(y - (size - 1) / 2);
        input[c * size * size + y * size + x] = Math.sin(dx / 5 + c) + Math.cos(dy / 7 - c);
      }
      for (let f = 1; f < 4; f++) expect(flip(input, 3, size, size, f)).toEqual(input);
      const plain = await engine.run(input.slice(), 1, size, size);
      const tta = await new FlipTtaModel(engine).run(input.slice(), 1, size, size);
      const planes = spec.classNames.length;
      let maxDiff = 0;
      let asymmetry = 0;
      for (let k = 0; k < plain.length; k++) {
        let sym = 0;
        for (let f = 0; f < 4; f++) sym += flip(plain, planes, size, size, f)[k]! / 4;
        maxDiff = Math.max(maxDiff, Math.abs(tta[k]! - sym));
        asymmetry = Math.max(asymmetry, Math.abs(plain[k]! - sym));
      }
      expect(maxDiff).toBeLessThan(1e-5);
      // The test model's kernels are not symmetric, so its own answer is not; TTA's is, by construction.
      expect(asymmetry).toBeGreaterThan(1e-3);
      for (let f = 1; f < 4; f++) {
        const flipped = flip(tta, planes, size, size, f);
        for (let k = 0; k < tta.length; k++) expect(Math.abs(flipped[k]! - tta[k]!)).toBeLessThan(1e-5);
      }
    } finally {
      await engine.close();
    }
  });

  it('composes with tiling and blending: the seam test holds with --tta', async () => {
    const scene = path.join(tmp, 'scene.tif');
    writeTestTiff(scene, { width: 700, height: 500, bands: syntheticScene(700, 500), geoTransform: [400000, 5, 0, 5000000, 0, -5], epsg: 32633 });
    const tiled = await segmentScene({ input: scene, output: path.join(tmp, 'tiled.tif'), model: spec, tile: 256, overlap: 32, device: 'cpu', tta: true });
    const single = await segmentScene({ input: scene, output: path.join(tmp, 'single.tif'), model: spec, tile: 764, overlap: 0, device: 'cpu', tta: true });
    expect(tiled.tta).toBe(true);
    expect(tiled.tiles.total).toBeGreaterThan(4);
    expect(single.tiles.total).toBe(1);
    const labels = async (f: string) => {
      const src = await openRaster(f);
      const b = await src.read({ x: 0, y: 0, width: 700, height: 500 });
      await src.close();
      return b.bands[0]!;
    };
    const a = await labels(path.join(tmp, 'tiled.tif'));
    const b = await labels(path.join(tmp, 'single.tif'));
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    const share = same / a.length;
    console.log(`seam test with --tta, synthetic 700x500, tile 256 overlap 32: ${(share * 100).toFixed(3)}% of pixels equal the single pass`);
    expect(share).toBeGreaterThanOrEqual(0.995);
    // And TTA changed something: it is not the plain run under another name.
    const plain = await segmentScene({ input: scene, output: path.join(tmp, 'plain.tif'), model: spec, tile: 256, overlap: 32, device: 'cpu' });
    expect(plain.tta).toBe(false);
    const c = await labels(path.join(tmp, 'plain.tif'));
    let differ = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== c[i]) differ++;
    expect(differ).toBeGreaterThan(0);
  });
});
