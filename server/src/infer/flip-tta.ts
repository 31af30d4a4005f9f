/**
 * Test-time augmentation for any model: each tile is also run flipped left-right, top-bottom and
 * both, and the four answers are un-flipped and averaged in probability space. Flips are exact on
 * the pixel grid (no resampling), so the average lines up pixel for pixel, and a model that is not
 * quite symmetric gets a steadier answer. It costs four forward passes per tile.
 *
 * It wraps a Model, so tiling, blending and writing see an ordinary model and compose with it.
 */
import type { Device, Model } from './model.ts';
import type { ModelSpec } from './model-spec.ts';

/** Flip one [planes, h, w] block into `dst`: 1 = left-right, 2 = top-bottom, 3 = both. */
function flipPlanes(src: Float32Array, dst: Float32Array, planes: number, h: number, w: number, flip: number): void {
  for (let p = 0; p < planes; p++) {
    const base = p * h * w;
    for (let y = 0; y < h; y++) {
      const sy = flip & 2 ? h - 1 - y : y;
      const from = base + sy * w;
      const to = base + y * w;
      if (flip & 1) for (let x = 0; x < w; x++) dst[to + x] = src[from + w - 1 - x]!;
      else dst.set(src.subarray(from, from + w), to);
    }
  }
}

export class FlipTtaModel implements Model {
  constructor(private readonly inner: Model) {}

  get spec(): ModelSpec {
    return this.inner.spec;
  }

  get device(): Device {
    return this.inner.device;
  }

  async run(batch: Float32Array, n: number, height: number, width: number): Promise<Float32Array> {
    const channels = this.inner.spec.inputChannels;
    const inPlane = channels * height * width;
    // The four variants go as one batch of 4n: one call, and the engine batches them.
    const all = new Float32Array(4 * n * inPlane);
    for (let i = 0; i < n; i++) {
      const tile = batch.subarray(i * inPlane, (i + 1) * inPlane);
      for (let f = 0; f < 4; f++) flipPlanes(tile, all.subarray((f * n + i) * inPlane, (f * n + i + 1) * inPlane), channels, height, width, f);
    }
    const probs = await this.inner.run(all, 4 * n, height, width);
    const classes = probs.length / (4 * n * height * width);
    const outPlane = classes * height * width;
    const out = new Float32Array(n * outPlane);
    const unflipped = new Float32Array(outPlane);
    for (let i = 0; i < n; i++) {
      const acc = out.subarray(i * outPlane, (i + 1) * outPlane);
      for (let f = 0; f < 4; f++) {
        // A flip is its own inverse: flipping the answer back lines it up with the tile.
        flipPlanes(probs.subarray((f * n + i) * outPlane, (f * n + i + 1) * outPlane), unflipped, classes, height, width, f);
        for (let k = 0; k < outPlane; k++) acc[k]! += unflipped[k]!;
      }
      for (let k = 0; k < outPlane; k++) acc[k]! *= 0.25;
    }
    // The four variants' answers are folded into `out`: the engine may fill them again.
    this.inner.recycle?.(probs);
    return out;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
