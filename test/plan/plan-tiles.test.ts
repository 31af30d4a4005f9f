import { describe, expect, it } from 'vitest';
import { minimumCover, planTiles, reflect, tileCount } from '../../server/src/plan/plan-tiles.ts';
import { rowsNeeded } from '../../server/src/plan/cut-tile.ts';
import { resizePlanes } from '../../server/src/plan/resize.ts';
import { axisSampling, blendTileLength, type AxisSampling } from '../../server/src/plan/tile-sampling.ts';
import { TilePlanError } from '../../server/src/errors.ts';

describe('planTiles', () => {
  it.each([[934, 723, 256, 32], [1000, 1000, 512, 64], [257, 3000, 256, 0], [16, 16, 64, 8], [5000, 77, 128, 30], [4096, 8192, 512, 64]])(
    '%ix%i with tile %i, overlap %i: the minimum cover, every pixel covered, overlaps near the request', (w, h, tile, overlap) => {
      const plan = planTiles(w, h, tile, overlap);
      for (const [origins, length] of [[plan.xs, w], [plan.ys, h]] as const) {
        expect(origins.length).toBe(minimumCover(length, tile, overlap));
        expect(origins[0]!).toBeLessThanOrEqual(0);
        expect(origins[origins.length - 1]! + tile).toBeGreaterThanOrEqual(length);
        for (let i = 1; i < origins.length; i++) {
          const shared = tile - (origins[i]! - origins[i - 1]!);
          // Borrowed for edge context at most a quarter of the request; never below the blend ramp.
          expect(shared).toBeGreaterThanOrEqual(overlap - Math.floor(overlap / 4));
          expect(shared).toBeGreaterThanOrEqual(plan.overlap);
        }
        // Every scene pixel is inside some tile.
        for (let p = 0; p < length; p++) expect(origins.some((o) => p >= o && p < o + tile)).toBe(true);
      }
      expect(tileCount(plan)).toBe(plan.xs.length * plan.ys.length);
    },
  );

  it('plans the minimum cover: 81 tiles for 4096² with 512/64 (the old grid ran 100), 361 for 8192²', () => {
    expect(tileCount(planTiles(4096, 4096, 512, 64))).toBe(81);
    expect(tileCount(planTiles(8192, 8192, 512, 64))).toBe(361);
  });

  it('gives edge tiles up to half an overlap of reflected context before the scene', () => {
    expect(planTiles(1000, 1000, 256, 32).xs[0]).toBe(-16);
    // An exact cover (4096 = 9 x 448 + 64) borrows it from the overlaps.
    const exact = planTiles(4096, 4096, 512, 64);
    expect(exact.xs[0]).toBe(-32);
    expect(exact.overlap).toBe(56);
  });

  it('keeps origins on the model\'s input alignment', () => {
    for (const [w, t, o] of [[1000, 512, 64], [4097, 512, 66], [513, 512, 64], [200, 256, 32]] as const) {
      const plan = planTiles(w, w, t, o, 2);
      for (const x of [...plan.xs, ...plan.ys]) expect(Math.abs(x) % 2).toBe(0);
      expect(plan.xs[plan.xs.length - 1]! + t).toBeGreaterThanOrEqual(w);
    }
    expect(() => planTiles(100, 100, 63, 8, 2)).toThrow(/multiple of the model's input alignment/);
  });

  it('centres a scene that fits in one tile', () => {
    const plan = planTiles(200, 100, 256, 32);
    expect(plan.xs).toEqual([-28]);
    expect(plan.ys).toEqual([-78]);
  });

  it('rejects impossible geometry with a reason', () => {
    expect(() => planTiles(100, 100, 64, 32)).toThrow(TilePlanError);
    expect(() => planTiles(100, 100, 64, 32)).toThrow(/less than half the tile size/);
    expect(() => planTiles(100, 100, 8, 0)).toThrow(/at least 16/);
    expect(() => planTiles(100, 100, 64, -1)).toThrow(/non-negative/);
  });
});

describe('reflect', () => {
  it('mirrors without repeating the edge pixel', () => {
    expect([-3, -2, -1, 0, 1, 4, 5, 6, 7].map((i) => reflect(i, 5))).toEqual([3, 2, 1, 0, 1, 4, 3, 2, 1]);
    expect(reflect(-7, 3)).toBe(1);
    expect(reflect(12, 1)).toBe(0);
  });

  it('tells which scene rows a tile row reflects onto', () => {
    expect(rowsNeeded(-16, 256, 723)).toEqual({ lo: 0, hi: 240 });
    expect(rowsNeeded(700, 256, 723)).toEqual({ lo: 489, hi: 723 });
  });
});

describe('resizePlanes', () => {
  it('keeps a constant plane constant both ways and preserves the mean when shrinking', () => {
    const src = new Float32Array(2 * 10 * 10);
    src.fill(3, 0, 100);
    for (let i = 100; i < 200; i++) src[i] = i % 10; // a ramp
    const up = resizePlanes(src, 2, 10, 10, 37, 37);
    expect(up.subarray(0, 37 * 37).every((v) => Math.abs(v - 3) < 1e-6)).toBe(true);
    const down = resizePlanes(up, 2, 37, 37, 10, 10);
    expect(down.subarray(0, 100).every((v) => Math.abs(v - 3) < 1e-5)).toBe(true);
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(resizePlanes(src.subarray(100), 1, 10, 10, 5, 5))).toBeCloseTo(mean(src.subarray(100)), 5);
  });
});

describe('resampled tiles on one lattice (tile-sampling)', () => {
  /** The scene pixels and weights tile `s` reads for global model pixel u (its own pixel u - modelStart). */
  const reads = (s: AxisSampling, u: number, modelStart: number) => {
    const k = u - modelStart;
    const out: string[] = [];
    for (let t = s.toModel.first[k]!; t < s.toModel.first[k + 1]!; t++) out.push(`${s.cutStart + s.toModel.index[t]!}:${s.toModel.weight[t]!.toFixed(5)}`);
    return out.join(' ');
  };

  it.each([[0.79, 2], [0.66, 1], [1.6, 2], [2, 2], [0.5, 1]])(
    'factor %f, alignment %i: overlapping tiles read the same ground for the same model pixel, and the model tile covers the blend tile', (factor, alignment) => {
      const modelTile = 96;
      const blend = blendTileLength(modelTile, factor, alignment);
      for (const [a, b] of [[0, 37], [101, 130], [-7, 20]]) {
        const sa = axisSampling(a!, blend, factor, modelTile, alignment);
        const sb = axisSampling(b!, blend, factor, modelTile, alignment);
        const startA = Math.floor((a! * factor) / alignment) * alignment;
        const startB = Math.floor((b! * factor) / alignment) * alignment;
        expect(Number.isInteger(startA / alignment) && Number.isInteger(startB / alignment)).toBe(true);
        // Model pixels both tiles hold see identical inputs.
        let shared = 0;
        for (let u = Math.max(startA, startB); u < Math.min(startA, startB) + modelTile; u++, shared++) expect(reads(sb, u, startB)).toBe(reads(sa, u, startA));
        expect(shared).toBeGreaterThan(0);
        // Every blend pixel's footprint lies inside the model tile, and every read inside the cut.
        for (const s of [sa, sb]) {
          expect(s.toScene.first.length).toBe(blend + 1);
          expect(Math.max(...s.toScene.index)).toBeLessThan(modelTile);
          expect(Math.min(...s.toModel.index)).toBeGreaterThanOrEqual(0);
          expect(Math.max(...s.toModel.index)).toBeLessThan(s.cutLength);
        }
      }
    },
  );

  it('puts a blend pixel where its ground is in the model tile', () => {
    // 0.5 model px per scene px: scene pixel 40 is model pixels [20, 20.5); tile origin at scene 33
    // starts its model tile at model pixel 16 (alignment 2), so the pixel reads model pixel 4.
    const s = axisSampling(33, 40, 0.5, 64, 2);
    const at = 40 - 33;
    const taps = Array.from({ length: s.toScene.first[at + 1]! - s.toScene.first[at]! }, (_, k) => s.toScene.index[s.toScene.first[at]! + k]!);
    expect(taps.every((i) => i === 4 || i === 3 || i === 5)).toBe(true);
    expect(taps).toContain(4);
  });
});
