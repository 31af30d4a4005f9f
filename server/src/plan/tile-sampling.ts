/**
 * Where a resampled tile's model pixels lie on the scene, so that every tile samples the ground on
 * one lattice.
 *
 * The model's pixels form one grid over the whole scene: model pixel u along an axis covers scene
 * pixels [u / f, (u + 1) / f), f being model pixels per scene pixel. A tile is resampled onto that
 * grid, not onto its own: two overlapping tiles then give the model the same values for the same
 * ground, and a network that halves the resolution (Dynamic World) sees every tile start on an
 * even model pixel. Resampling each tile from its own first scene pixel instead put neighbours at
 * different phases of the ground; the model answered differently in their overlap, and Dynamic
 * World's 256 px tiles of the Spain chip agreed with one whole-chip tile on 93.9 % of pixels.
 *
 * The plan (plan-tiles.ts) places blend tiles in scene pixels, all one size; each one's model tile
 * starts on the aligned model pixel at or before it and is long enough to cover it, so the scene
 * pixels cut for the model (with a pixel of margin for bilinear reads) run a little past it.
 */
import { axisTaps, type Taps } from './resize.ts';

/** One axis of a tile. */
export interface AxisSampling {
  /** First scene pixel cut for the model (negative before the scene: reflected) and how many. */
  cutStart: number;
  cutLength: number;
  /** Cut pixels → the model tile's pixels. */
  toModel: Taps;
  /** The model tile's pixels → the blend tile's scene pixels. */
  toScene: Taps;
}

export interface TileSampling {
  x: AxisSampling;
  y: AxisSampling;
}

/**
 * Scene pixels a blend tile spans along an axis, so that its model tile always covers it: the
 * model tile starts up to `alignment` model pixels before the blend tile. No floor: a longer blend
 * tile than its model tile covers read copies of the model's edge, and rows no cut had read
 * (review: "internal: validity rows do not cover the strip" for tile 16 on a 10 m scene and a 5 m
 * model). 0 when the model tile covers less than a scene pixel (tileGeometry refuses that).
 */
export function blendTileLength(modelTile: number, factor: number, alignment: number): number {
  return Math.max(0, Math.floor((modelTile - alignment) / factor));
}

/**
 * The axis of a blend tile starting at pixel `sceneStart` of a window that starts at scene pixel
 * `origin`, `blendLength` long, with `factor` model pixels per scene pixel, a model tile of
 * `modelTile` pixels and origins on multiples of `alignment` model pixels. The lattice is the
 * scene's, not the window's: an area job samples the ground as a whole-scene job does. Positions
 * returned (cutStart) are the window's.
 */
export function axisSampling(sceneStart: number, blendLength: number, factor: number, modelTile: number, alignment: number, origin = 0): AxisSampling {
  const modelStart = Math.floor(((origin + sceneStart) * factor) / alignment) * alignment;
  const lattice = modelStart / factor - origin;
  // A pixel of margin each side: a bilinear read at the model tile's edge takes its neighbour.
  const cutStart = Math.floor(lattice) - 1;
  const cutLength = Math.ceil(lattice + modelTile / factor) + 1 - cutStart;
  return {
    cutStart,
    cutLength,
    toModel: axisTaps(cutLength, modelTile, 1 / factor, lattice - cutStart),
    toScene: axisTaps(modelTile, blendLength, factor, (origin + sceneStart) * factor - modelStart),
  };
}
