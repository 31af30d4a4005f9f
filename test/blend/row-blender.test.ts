/**
 * The streaming blender against a brute-force blend of the same tiles over a full-scene array.
 */
import { describe, expect, it } from 'vitest';
import { planTiles, type TilePlan } from '../../server/src/plan/plan-tiles.ts';
import { RowBlender, NODATA_CLASS } from '../../server/src/blend/row-blender.ts';
import { blendWindow } from '../../server/src/blend/blend-window.ts';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0) / 4294967296);
}

/** Probabilities [classes, height, width] of a square tile of side `tile`, or of a width x height one. */
function randomProbs(classes: number, tile: number | { width: number; height: number }, rand: () => number): Float32Array {
  const plane = typeof tile === 'number' ? tile * tile : tile.width * tile.height;
  const p = new Float32Array(classes * plane);
  for (let i = 0; i < plane; i++) {
    let sum = 0;
    for (let k = 0; k < classes; k++) { const v = Math.exp(3 * rand()); p[k * plane + i] = v; sum += v; }
    for (let k = 0; k < classes; k++) p[k * plane + i]! /= sum;
  }
  return p;
}

function bruteForce(plan: TilePlan, classes: number, tiles: Map<string, Float32Array>, valid: Uint8Array) {
  const { width: W, height: H, tileWidth: tw, tileHeight: th } = plan;
  const wx = blendWindow(tw, plan.overlapX);
  const wy = blendWindow(th, plan.overlapY);
  const sums = new Float64Array(classes * W * H);
  const wsum = new Float64Array(W * H);
  for (const [key, p] of tiles) {
    const [r, c] = key.split(',').map(Number);
    const x0 = plan.xs[c!]!;
    const y0 = plan.ys[r!]!;
    for (let ty = 0; ty < th; ty++) {
      const y = y0 + ty;
      if (y < 0 || y >= H) continue;
      for (let tx = 0; tx < tw; tx++) {
        const x = x0 + tx;
        if (x < 0 || x >= W) continue;
        const w = wy[ty]! * wx[tx]!;
        wsum[y * W + x]! += w;
        for (let k = 0; k < classes; k++) sums[k * W * H + y * W + x]! += w * p[k * tw * th + ty * tw + tx]!;
      }
    }
  }
  const labels = new Uint8Array(W * H);
  const confidence = new Uint8Array(W * H);
  for (let i = 0; i < W * H; i++) {
    if (!valid[i] || wsum[i] === 0) { labels[i] = NODATA_CLASS; continue; }
    let best = 0;
    for (let k = 1; k < classes; k++) if (sums[k * W * H + i]! > sums[best * W * H + i]!) best = k;
    labels[i] = best;
    confidence[i] = Math.max(1, Math.min(255, Math.round((sums[best * W * H + i]! / wsum[i]!) * 255)));
  }
  return { labels, confidence, wsum };
}

describe('RowBlender', () => {
  // Tiles of pixels that are not square on the ground are resampled to rectangles of scene pixels.
  const rectangle = { width: 96, height: 40 };
  it.each<[number, number, number | { width: number; height: number }, number | { x: number; y: number }]>([
    [300, 217, 64, 16], [97, 405, 48, 10], [40, 30, 64, 8], [513, 129, 128, 0],
    [300, 217, rectangle, { x: 20, y: 8 }], [97, 405, { width: 32, height: 70 }, { x: 6, y: 14 }],
  ])(
    '%ix%i, tile %j, overlap %j: equals the brute-force blend', (W, H, tile, overlap) => {
      const plan = planTiles(W, H, tile, overlap);
      const classes = 3;
      const rand = rng(W * 31 + H);
      const valid = new Uint8Array(W * H).map(() => (rand() < 0.97 ? 1 : 0));
      const tiles = new Map<string, Float32Array>();
      for (let r = 0; r < plan.ys.length; r++) {
        for (let c = 0; c < plan.xs.length; c++) {
          if ((r + c) % 5 !== 3) tiles.set(`${r},${c}`, randomProbs(classes, tile, rand)); // some tiles skipped
        }
      }
      const blender = new RowBlender(plan, classes, true);
      const labels = new Uint8Array(W * H);
      const confidence = new Uint8Array(W * H);
      let nextRow = 0;
      for (let r = 0; r < plan.ys.length; r++) {
        blender.beginRow(r, { y: 0, rows: H, data: valid });
        for (let c = 0; c < plan.xs.length; c++) blender.addTile(c, tiles.get(`${r},${c}`) ?? null);
        const strip = blender.endRow();
        expect(strip.y).toBe(nextRow);
        labels.set(strip.labels, strip.y * W);
        expect(strip.confidence!.length).toBe(strip.labels.length);
        confidence.set(strip.confidence!, strip.y * W);
        nextRow = strip.y + strip.rows;
      }
      expect(nextRow).toBe(H);
      const oracle = bruteForce(plan, classes, tiles, valid);
      let diff = 0;
      for (let i = 0; i < W * H; i++) if (labels[i] !== oracle.labels[i]) diff++;
      expect(diff).toBe(0);
      // Confidence: the winner's share of the weight, x 255; the streaming sums are float32, so a
      // value on a rounding boundary may land one step away.
      let off = 0;
      for (let i = 0; i < W * H; i++) {
        const d = Math.abs(confidence[i]! - oracle.confidence[i]!);
        expect(d).toBeLessThanOrEqual(1);
        if (d) off++;
      }
      expect(off).toBeLessThan(W * H * 0.01);
    },
  );

  it('cross-fades: weights of overlapping tiles sum to 1 more than one overlap away from the scene edge', () => {
    const plan = planTiles(400, 400, 64, 16);
    const tiles = new Map<string, Float32Array>();
    const ones = new Float32Array(64 * 64).fill(1);
    for (let r = 0; r < plan.ys.length; r++) for (let c = 0; c < plan.xs.length; c++) tiles.set(`${r},${c}`, ones);
    const { wsum } = bruteForce(plan, 1, tiles, new Uint8Array(400 * 400).fill(1));
    let checked = 0;
    for (let y = 16; y < 384; y++) for (let x = 16; x < 384; x++, checked++) expect(wsum[y * 400 + x]).toBeCloseTo(1, 5);
    expect(checked).toBe(368 * 368);
  });

  it('marks pixels no tile covered and invalid input pixels as nodata', () => {
    const plan = planTiles(100, 50, 64, 16);
    const blender = new RowBlender(plan, 2, false);
    const valid = new Uint8Array(100 * 50).fill(1);
    valid[5] = 0;
    const out = new Uint8Array(100 * 50);
    for (let r = 0; r < plan.ys.length; r++) {
      blender.beginRow(r, { y: 0, rows: 50, data: valid });
      for (let c = 0; c < plan.xs.length; c++) blender.addTile(c, c === 0 ? null : randomProbs(2, 64, rng(c)));
      const s = blender.endRow();
      out.set(s.labels, s.y * 100);
    }
    expect(out[5]).toBe(NODATA_CLASS);
    expect(out[0]).toBe(NODATA_CLASS); // only tile 0 covers column 0, and it was skipped
    expect(out[99]).not.toBe(NODATA_CLASS);
  });
});
