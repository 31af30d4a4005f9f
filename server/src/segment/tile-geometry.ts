/**
 * How a model's tiles map onto a scene: the tile and overlap in model pixels (from the options or
 * the model), the resampling factor when the scene's resolution differs from the model's, and the
 * resulting tile plan in scene pixels.
 */
import type { RasterInfo } from '../read/raster.ts';
import { groundPixelMetres, groundResolutionMetres } from '../read/geodesy.ts';
import { planTiles, type TilePlan } from '../plan/plan-tiles.ts';
import type { ModelSpec } from '../infer/model-spec.ts';

/** Beyond this ratio between scene and model resolution, tiles are resampled to the model's. */
export const RESAMPLE_THRESHOLD = 1.5;
/** Beyond this ratio between a pixel's ground width and height, the run says the model sees the ground stretched. */
export const STRETCH_THRESHOLD = 1.25;

export interface TileGeometry {
  /** Model input size and overlap, in model pixels. */
  modelTile: number;
  modelOverlap: number;
  /** Scene pixels per model pixel along an axis; 1 when tiles are not resampled. */
  factor: number;
  sceneTile: number;
  sceneOverlap: number;
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

export function tileGeometry(spec: ModelSpec, info: RasterInfo, size: { width: number; height: number }, opts: TileGeometryOptions = {}): TileGeometry {
  const notices: string[] = [];
  const modelTile = spec.fixedTileSize ? spec.tileSize : (opts.tile ?? spec.tileSize);
  if (spec.fixedTileSize && opts.tile && opts.tile !== spec.tileSize) {
    notices.push(`model ${spec.id} has a fixed ${spec.tileSize}px input; ignoring tile ${opts.tile}`);
  }
  const align = spec.inputAlignment;
  const modelOverlap = opts.overlap ?? 2 * Math.round((modelTile * spec.overlapPercent) / 200);
  let factor = 1;
  if (!info.crs.nonEarth) {
    // Tiles are resampled by one factor on both axes: pixels much taller than wide (a lon/lat
    // scene far from the equator, a file stretched on one axis) reach the model stretched, and
    // it classifies worse (probe: 25 % of Dynamic World's pixels changed with rows doubled).
    const { x, y } = groundPixelMetres(info.geoTransform, info, info.crs);
    const stretch = Math.max(x / y, y / x);
    if (stretch > STRETCH_THRESHOLD) {
      notices.push(`the scene's pixels are ${x.toPrecision(3)} m wide and ${y.toPrecision(3)} m tall on the ground: the model sees the ground stretched ${stretch.toFixed(1)}x along one axis; for its best results reproject to square pixels (gdalwarp -t_srs <a projected CRS> -tr <size> <size>)`);
    }
  }
  if (spec.resolutionCm && !info.crs.nonEarth) {
    const scene = groundResolutionMetres(info.geoTransform, info.height, info.crs);
    const ratio = scene / (spec.resolutionCm / 100);
    if (Math.max(ratio, 1 / ratio) > RESAMPLE_THRESHOLD) {
      factor = ratio;
      notices.push(`scene resolution ${scene.toPrecision(3)} m differs from model ${spec.id}'s ${(spec.resolutionCm / 100).toPrecision(3)} m by ${Math.max(ratio, 1 / ratio).toFixed(1)}x; resampling tiles to the model's resolution and back${ratio > 2 ? '; upsampling adds no detail, so expect worse results than at the model\'s own resolution' : ''}`);
    }
  }
  // Resampled tiles keep their alignment in model pixels only approximately; an aligned model
  // (which halves the resolution) should be fed at its own resolution, so alignment applies there.
  const sceneTile = factor === 1 ? modelTile : Math.max(16, Math.round(modelTile / factor));
  const sceneOverlap = factor === 1 ? modelOverlap : Math.min(Math.floor((sceneTile - 1) / 2), Math.round(modelOverlap / factor));
  const plan = planTiles(size.width, size.height, sceneTile, sceneOverlap, factor === 1 ? align : 1);
  return { modelTile, modelOverlap, factor, sceneTile, sceneOverlap, plan, notices };
}
