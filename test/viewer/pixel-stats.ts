/**
 * Pixel statistics of screenshots: "not blank" and "changed" as numbers, and where given colours
 * appear, so map tests check what was drawn rather than that a canvas exists.
 */
import type { Pixels } from './browser.ts';

export { hexToRgb } from '../../server/src/infer/model-spec.ts';

export type Rgb = [number, number, number];

function near(data: Buffer, i: number, c: Rgb, tolerance: number): boolean {
  return Math.abs(data[i]! - c[0]) <= tolerance && Math.abs(data[i + 1]! - c[1]) <= tolerance && Math.abs(data[i + 2]! - c[2]) <= tolerance;
}

export interface ImageStats {
  /** Share of pixels more than 12 levels away from the background colour. */
  nonBackground: number;
  /** Distinct colours after quantizing each channel to 32 levels. */
  distinctColours: number;
  /** Standard deviation of luminance. */
  lumaStd: number;
}

export function imageStats(p: Pixels, background: Rgb): ImageStats {
  let off = 0;
  let sum = 0;
  let sum2 = 0;
  const colours = new Set<number>();
  const n = p.width * p.height;
  for (let i = 0; i < n * 4; i += 4) {
    if (!near(p.data, i, background, 12)) off++;
    const y = 0.299 * p.data[i]! + 0.587 * p.data[i + 1]! + 0.114 * p.data[i + 2]!;
    sum += y;
    sum2 += y * y;
    colours.add(((p.data[i]! >> 3) << 10) | ((p.data[i + 1]! >> 3) << 5) | (p.data[i + 2]! >> 3));
  }
  const mean = sum / n;
  return { nonBackground: off / n, distinctColours: colours.size, lumaStd: Math.sqrt(Math.max(0, sum2 / n - mean * mean)) };
}

export interface Box { left: number; top: number; right: number; bottom: number }

/** Share of pixels (inside `box`, else all) whose colour differs by more than `tolerance` in some channel. */
export function changedShare(a: Pixels, b: Pixels, tolerance = 12, box?: Box): number {
  if (a.width !== b.width || a.height !== b.height) throw new Error('screenshots differ in size');
  const { left, top, right, bottom } = box ?? { left: 0, top: 0, right: a.width, bottom: a.height };
  let changed = 0;
  let total = 0;
  for (let y = Math.max(0, top); y < Math.min(a.height, bottom); y++) {
    for (let x = Math.max(0, left); x < Math.min(a.width, right); x++) {
      const i = (y * a.width + x) * 4;
      total++;
      if (Math.abs(a.data[i]! - b.data[i]!) > tolerance || Math.abs(a.data[i + 1]! - b.data[i + 1]!) > tolerance || Math.abs(a.data[i + 2]! - b.data[i + 2]!) > tolerance) changed++;
    }
  }
  return total ? changed / total : 0;
}

/** Pixels in any of `colours`, counted inside `box` and outside `outer` (a box around it). */
export function colourInsideOutside(p: Pixels, colours: Rgb[], box: Box, outer: Box, tolerance = 3) {
  let inside = 0;
  let insideTotal = 0;
  let outside = 0;
  let outsideTotal = 0;
  for (let y = 0; y < p.height; y++) {
    for (let x = 0; x < p.width; x++) {
      const i = (y * p.width + x) * 4;
      const hit = colours.some((c) => near(p.data, i, c, tolerance));
      if (x >= box.left && x < box.right && y >= box.top && y < box.bottom) {
        insideTotal++;
        if (hit) inside++;
      } else if (x < outer.left || x >= outer.right || y < outer.top || y >= outer.bottom) {
        outsideTotal++;
        if (hit) outside++;
      }
    }
  }
  return { inside, insideTotal, outside, outsideTotal };
}
