/**
 * How a model's tiles map onto a scene: the tile and overlap in model pixels (from the options or
 * the model), the resampling on each axis when the scene's ground pixels differ from the model's
 * (in size, or in shape), and the resulting tile plan in scene pixels.
 */
import type { RasterInfo } from '../read/raster.ts';
import { groundPixelMetres } from '../read/geodesy.ts';
import { planTiles, type TilePlan } from '../plan/plan-tiles.ts';
import { blendTileLength } from '../plan/tile-sampling.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import { TilePlanError } from '../errors.ts';

/** Beyond this ratio between scene and model resolution, tiles are resampled to the model's. */
export const RESAMPLE_THRESHOLD = 1.5;
/**
 * Beyond this ratio between a pixel's ground width and height, tiles are resampled to square
 * ground pixels (a model with a resolution), or the run says the model sees the ground stretched.
 */
export const STRETCH_THRESHOLD = 1.25;

export interface TileGeometry {
  /** Model input size and overlap, in model pixels. */
  modelTile: number;
  modelOverlap: number;
  /** Model tile origins are multiples of this many model pixels (the model's input alignment). */
  alignment: number;
  /**
   * Model pixels per scene pixel along x and y, when tiles are resampled to the model's
   * resolution; null when they reach the model as cut.
   */
  resampled: { x: number; y: number } | null;
  /**
   * A tile and the overlap between neighbours, in scene pixels (the plan's units); for resampled
   * tiles, the blend tile (tile-sampling.ts).
   */
  sceneTile: { width: number; height: number };
  sceneOverlap: { x: number; y: number };
  plan: TilePlan;
  /** What the user should know (a tile size ignored, resampling), one line each. */
  notices: string[];
}

export interface TileGeometryOptions {
  /** Model tile size in model pixels; default from the model. */
  tile?: number;
  /** Overlap in model pixels; default from the model's tiles_overlap. */
  overlap?: number;
}

const metres = (m: number) => `${m.toPrecision(3)} m`;

export interface GroundResampling {
  /** A scene pixel's ground width and height (m); null off Earth. */
  ground: { x: number; y: number } | null;
  /** Whether they differ by more than STRETCH_THRESHOLD. */
  stretched: boolean;
  /** Model pixels per scene pixel along x and y; null when tiles reach the model as cut. */
  factors: { x: number; y: number } | null;
  notices: string[];
}

/**
 * Model pixels per scene pixel on each axis, with what to tell the user; null when the tiles go to
 * the model as cut. Each axis is measured on the ground, through the projection (groundPixelMetres):
 * a lon/lat pixel far from the equator is narrower than it is tall, and a Web Mercator one at 60° N
 * covers half the metres its size says. A model with a resolution gets each axis resampled to it
 * when either differs by more than RESAMPLE_THRESHOLD, or when the pixels are not square enough on
 * the ground (probe: with rows doubled, 25 % of Dynamic World's pixels changed); a model without
 * one (per-pixel indices) is fed the pixels as they are, with a notice when they are stretched.
 */
export function groundResampling(spec: ModelSpec, info: RasterInfo): GroundResampling {
  if (info.crs.nonEarth) return { ground: null, stretched: false, factors: null, notices: [] };
  const ground = groundPixelMetres(info.geoTransform, info, info.crs);
  const stretch = Math.max(ground.x / ground.y, ground.y / ground.x);
  const stretched = stretch > STRETCH_THRESHOLD;
  const shape = `the scene's pixels are ${metres(ground.x)} wide and ${metres(ground.y)} tall on the ground`;
  if (!spec.resolutionCm) {
    // A per-pixel model (receptive_field 1) sees each pixel alone: the ground's shape is no matter.
    const perPixel = spec.receptiveField === 1;
    return {
      ground,
      stretched,
      factors: null,
      notices: stretched && !perPixel ? [`${shape}: the model sees the ground stretched ${stretch.toFixed(1)}x along one axis; for its best results reproject to square pixels (gdalwarp -t_srs <a projected CRS> -tr <size> <size>)`] : [],
    };
  }
  const model = spec.resolutionCm / 100;
  const x = ground.x / model;
  const y = ground.y / model;
  const apart = (r: number) => Math.max(r, 1 / r);
  if (!stretched && apart(x) <= RESAMPLE_THRESHOLD && apart(y) <= RESAMPLE_THRESHOLD) return { ground, stretched, factors: null, notices: [] };
  const coarser = Math.max(x, y);
  const upsampling = coarser > 2 ? '; upsampling adds no detail, so expect worse results than at the model\'s own resolution' : '';
  const why = stretched
    ? `${shape}, ${stretch.toFixed(1)}x as ${ground.y > ground.x ? 'tall as wide' : 'wide as tall'}: resampling each axis of the tiles to model ${spec.id}'s square ${metres(model)} pixels and back`
    : `scene resolution ${metres(ground.x)} differs from model ${spec.id}'s ${metres(model)} by ${apart(x).toFixed(1)}x; resampling tiles to the model's resolution and back`;
  return { ground, stretched, factors: { x, y }, notices: [why + upsampling] };
}

export function tileGeometry(spec: ModelSpec, info: RasterInfo, size: { width: number; height: number }, opts: TileGeometryOptions = {}): TileGeometry {
  const notices: string[] = [];
  const modelTile = spec.fixedTileSize ? spec.tileSize : (opts.tile ?? spec.tileSize);
  if (spec.fixedTileSize && opts.tile && opts.tile !== spec.tileSize) {
    notices.push(`model ${spec.id} has a fixed ${spec.tileSize}px input; ignoring tile ${opts.tile}`);
  }
  const align = spec.inputAlignment;
  const modelOverlap = opts.overlap ?? 2 * Math.round((modelTile * spec.overlapPercent) / 200);
  const { factors, notices: said } = groundResampling(spec, info);
  notices.push(...said);
  // Resampled tiles are blended over the scene pixels their model tiles always cover, and each
  // is sampled on the model's own lattice, aligned there (tile-sampling.ts); the plan in scene
  // pixels then needs no alignment.
  const axis = (factor: number) => {
    if (!factors) return { tile: modelTile, overlap: modelOverlap };
    const tile = blendTileLength(modelTile, factor, align);
    return { tile, overlap: Math.min(Math.floor((tile - 1) / 2), Math.round(modelOverlap / factor)) };
  };
  if (factors) {
    // planTiles checks the alignment of tiles the model sees as cut; resampled ones are checked here.
    if (modelTile % align !== 0) throw new TilePlanError(`tile size ${modelTile} must be a multiple of the model's input alignment ${align}`);
    const coarser = Math.max(factors.x, factors.y);
    if (blendTileLength(modelTile, coarser, align) < 1) {
      throw new TilePlanError(`a ${modelTile} px tile of model ${spec.id} covers less than one of the scene's pixels (${coarser.toFixed(1)} model pixels each); use a tile of at least ${Math.ceil(coarser + align)} px`);
    }
  }
  const across = axis(factors?.x ?? 1);
  const down = axis(factors?.y ?? 1);
  const plan = planTiles(size.width, size.height, { width: across.tile, height: down.tile }, { x: across.overlap, y: down.overlap }, factors ? 1 : align, factors ? 1 : 16);
  return {
    modelTile, modelOverlap, alignment: align, resampled: factors, plan, notices,
    sceneTile: { width: across.tile, height: down.tile },
    sceneOverlap: { x: across.overlap, y: down.overlap },
  };
}
