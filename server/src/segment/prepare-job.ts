/**
 * One preparation path for every segmentation, from the API, the CLI and the job runner: parse,
 * bound and repair the area, place it on the dataset's grid, choose the bands, plan the tiles,
 * judge the model's fit and check the limits. Everything a request can get wrong is found here,
 * before any pixel is read, and thrown as a typed error with the reason.
 */
import type { RasterInfo, Window } from '../read/raster.ts';
import { RasterReader } from '../read/raster-reader.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import { modelFit, type ModelFit } from './model-fit.ts';
import { selectBands, type BandChoice } from './band-selection.ts';
import { tileGeometry, type TileGeometry } from './tile-geometry.ts';
import { coarsenedBy, coarseningNotice, onModelGrid } from './model-grid.ts';
import type { Area } from './segment-area.ts';
import type { PlacedArea } from './place-area.ts';
import type { AreaMask } from './tile-batcher.ts';
import { AreaError, LimitError, RequestError } from '../errors.ts';
import { amount, megabytes } from '../amounts.ts';

export interface JobInput {
  /** GeoJSON (Multi)Polygon or Feature in EPSG:4326, as sent. */
  area?: unknown;
  /** [west, south, east, north], instead of area. */
  bbox?: unknown;
  tile?: number;
  overlap?: number;
  batch?: number;
  bands?: number[];
  sensor?: string;
  /** Run even when the model does not suit the dataset. */
  allowUnsuitable?: boolean;
}

export interface JobLimits {
  maxAreaKm2?: number;
  maxJobPixels?: number;
  maxAreaVertices?: number;
  maxTile?: number;
  /** Working memory a job's tiles may take, bytes (SATSEG_MAX_JOB_MEMORY_MB). */
  maxJobMemoryBytes?: number;
}

export interface PreparedJob {
  /** The area as repaired (EPSG:4326), or null for the whole dataset. */
  area: Area | null;
  repaired: boolean;
  areaKm2: number | null;
  /**
   * The grid the model segments on (model-grid.ts): the scene's own, or its block averages for a
   * scene much finer than the model. `window` and `areaMask` are in its pixels.
   */
  info: RasterInfo;
  /** Scene pixels averaged into one along x and y, or null when the scene is segmented as it is. */
  coarsened: { x: number; y: number } | null;
  /** The pixels to segment, and which of them are inside the area. */
  window: Window;
  areaMask?: AreaMask;
  pixels: number;
  bands: BandChoice;
  geometry: TileGeometry;
  fit: ModelFit;
  notices: string[];
}

/**
 * Rough working set of a job: per tile pixel and batch slot, the input and output planes, the
 * blender's sums, and a few hundred bytes of the engine's activations (measured for our U-Net);
 * and per column of the window, what spans its whole width: the blender's carried sums (this tile
 * row's and the next's, over the overlap), its label and confidence strips, the validity rows and
 * the COG writer's row of blocks. A raster 4e9 px wide passed the first part alone and died
 * allocating the second.
 */
function jobMemoryBytes(spec: ModelSpec, geometry: TileGeometry, windowWidth: number, batch: number): { tiles: number; rows: number } {
  const classes = spec.classNames.length;
  const channels = spec.inputChannels;
  const tile = geometry.modelTile;
  const { width: bw, height: bh } = geometry.sceneTile;
  // Resampled tiles also hold the scene pixels cut for one (a few pixels more than the model tile
  // covers), the resampler's pass along x each way, and the blend tile's class planes, the current
  // one and the one the blender keeps (review: a 0.5 m scene with a 5 m model peaked at 714 MB
  // where the estimate said 367 MB).
  const r = geometry.resampled;
  const cut = r ? (Math.ceil(tile / r.x) + 3) * (Math.ceil(tile / r.y) + 3) : 0;
  const resampling = r ? 4 * (channels * (cut + tile * (Math.ceil(tile / r.y) + 3)) + classes * (tile * bw + 2 * bw * bh)) : 0;
  return {
    tiles: tile * tile * batch * (4 * (channels + 2 * classes) + 400) + 4 * (classes + 1) * bw * bh + resampling,
    rows: windowWidth * (2 * 4 * (classes + 1) * geometry.sceneOverlap.y + 4 * Math.max(bh, 512) + (r ? 4 * channels * (Math.ceil(tile / r.y) + 3) : 0)),
  };
}

/**
 * For a scene much finer than the model, whose resampled tiles span thousands of scene pixels: that
 * the tile is the cause, and the alternative of resampling the scene once beforehand.
 */
function fineSceneHint(spec: ModelSpec, geometry: TileGeometry): string {
  const r = geometry.resampled;
  if (!r || !spec.resolutionCm || Math.min(r.x, r.y) >= 0.5) return '';
  const { width, height } = geometry.sceneTile;
  const metres = spec.resolutionCm / 100;
  return ` (the scene's pixels are ${(1 / Math.min(r.x, r.y)).toFixed(0)}x finer than model ${spec.id}'s ${metres} m, so each tile spans ${width.toLocaleString('en-US')} x ${height.toLocaleString('en-US')} of them), or resample the scene to ${metres} m first (gdalwarp -tr ${metres} ${metres} -r average)`;
}

export async function prepareJob(sceneReader: RasterReader, spec: ModelSpec, input: JobInput, limits: JobLimits = {}): Promise<PreparedJob> {
  const gridSource = onModelGrid(spec, sceneReader.source);
  const reader = gridSource === sceneReader.source ? sceneReader : new RasterReader(gridSource);
  const { info } = reader;
  const notices: string[] = [];
  if (input.area !== undefined && input.bbox !== undefined) throw new AreaError('give either area or bbox, not both');
  let placed: PlacedArea | null = null;
  if (input.area !== undefined || input.bbox !== undefined) {
    // Loaded only for jobs with an area: turf alone takes ~0.15 s to load, a tenth of a small
    // `satseg segment` run's time beyond the model.
    const { placeArea } = await import('./place-area.ts');
    placed = await placeArea(reader, spec, input.area, input.bbox, limits);
  }
  if (placed?.repaired) notices.push('the area was not a valid polygon and was repaired: rings that crossed themselves were split at the crossings, overlapping parts joined into one, and holes lying outside their shell dropped');
  const area = placed?.area ?? null;
  const window: Window = placed?.window ?? { x: 0, y: 0, width: info.width, height: info.height };
  const pixels = window.width * window.height;
  // The scene's pixels the job reads, averaged or not: what the limit bounds is the work.
  const coarsened = coarsenedBy(gridSource);
  const scenePixels = pixels * (coarsened ? coarsened.x * coarsened.y : 1);
  if (limits.maxJobPixels !== undefined && scenePixels > limits.maxJobPixels) {
    throw new LimitError('job-too-large', `${area ? 'the area covers' : 'the whole dataset is'} ${amount(scenePixels / 1e6)} Mpx, over the ${amount(limits.maxJobPixels / 1e6)} Mpx a job may segment (SATSEG_MAX_JOB_PIXELS); draw a smaller area`);
  }
  if (input.tile !== undefined && limits.maxTile !== undefined && input.tile > limits.maxTile) {
    throw new LimitError('job-too-large', `tile ${input.tile} is over the ${limits.maxTile} px limit: larger tiles need more memory than a job may use`);
  }
  const bands = selectBands(spec, info, input.bands, input.sensor);
  const geometry = tileGeometry(spec, info, window, { tile: input.tile, overlap: input.overlap });
  // Said with the geometry's notices: segmentScene says it again when it runs (callers that print
  // both skip those).
  const averaged = coarseningNotice(spec, sceneReader.info, gridSource);
  if (averaged) geometry.notices.unshift(averaged);
  notices.push(...geometry.notices);
  const batch = input.batch ?? 4;
  if (limits.maxJobMemoryBytes !== undefined) {
    const { tiles, rows } = jobMemoryBytes(spec, geometry, window.width, batch);
    if (tiles + rows > limits.maxJobMemoryBytes) {
      const over = `over the ${megabytes(limits.maxJobMemoryBytes)} a job may use (SATSEG_MAX_JOB_MEMORY_MB)`;
      throw new LimitError('job-too-large', rows > tiles
        ? `${area ? 'the area is' : 'the dataset is'} ${window.width.toLocaleString('en-US')} px wide: rows that wide need about ${megabytes(rows)} of working memory (and tile ${geometry.modelTile} with batch ${batch} ${megabytes(tiles)}), ${over}; ${area ? 'draw a narrower area' : 'segment part of it (an area or bbox)'}`
        : `tile ${geometry.modelTile} with batch ${batch} needs about ${megabytes(tiles)} of working memory (and rows ${window.width.toLocaleString('en-US')} px wide ${megabytes(rows)}), ${over}; use a smaller tile or batch${fineSceneHint(spec, geometry)}`);
    }
  }
  const fit = modelFit(spec, sceneReader.info, { bands: input.bands, sensor: input.sensor });
  if (fit.fit === 'unsuitable') {
    if (!input.allowUnsuitable) throw new RequestError(`model ${spec.id} does not suit this dataset: ${fit.reason} (options.allow_unsuitable runs it anyway)`, 'unsuitable');
    notices.push(`model ${spec.id} does not suit this dataset (${fit.reason}); run anyway as asked`);
  }
  return { area, repaired: placed?.repaired ?? false, areaKm2: placed?.areaKm2 ?? null, info, coarsened, window, areaMask: placed?.areaMask, pixels, bands, geometry, fit, notices };
}
