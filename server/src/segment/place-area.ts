/**
 * A job's area on its dataset: parsed, bounded, repaired where it crosses itself, measured,
 * checked against the dataset's footprint and placed on its pixel grid (prepare-job.ts loads this
 * only for jobs that have an area).
 */
import * as turf from '@turf/turf';
import type { Polygon } from 'geojson';
import type { Window } from '../read/raster.ts';
import type { RasterReader } from '../read/raster-reader.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import { areaKm2, areaOnGrid, cuttableFootprint, footprintWgs84, parseArea, type Area } from './segment-area.ts';
import { repairAreaBounded } from './area-repair.ts';
import type { AreaMask } from './tile-batcher.ts';
import type { JobLimits } from './prepare-job.ts';
import { AreaError } from '../errors.ts';

export interface PlacedArea {
  /** As repaired (EPSG:4326). */
  area: Area;
  repaired: boolean;
  areaKm2: number;
  /** The dataset's pixels the area's bounds cover, and which of them are inside it. */
  window: Window;
  areaMask: AreaMask;
}

/**
 * The part of the area over the dataset's footprint, in km², or null where the footprint cannot
 * be cut around (across the antimeridian, holding a pole): then only the whole area can be told.
 */
function km2OverFootprint(area: Area, footprint: Polygon | null): number | null {
  if (!footprint) return null;
  const over = turf.intersect(turf.featureCollection([turf.feature(area), turf.feature(footprint)]));
  return over ? areaKm2(over.geometry as Area) : 0;
}

/** The area (a GeoJSON geometry) or bbox as sent; null when both parse to nothing. */
export async function placeArea(reader: RasterReader, spec: ModelSpec, areaInput: unknown, bboxInput: unknown, limits: JobLimits): Promise<PlacedArea | null> {
  const { info } = reader;
  const parsed = parseArea(areaInput, bboxInput, limits.maxAreaVertices);
  if (!parsed) return null;
  const { area, repaired } = await repairAreaBounded(parsed);
  reader.earthBounds();
  const footprint = footprintWgs84(info.geoTransform, info.width, info.height, info.crs);
  if (!footprint) throw new AreaError('this dataset cannot be placed on Earth; areas in EPSG:4326 cannot be placed on it');
  const cuttable = cuttableFootprint(info.geoTransform, info.width, info.height, info.crs, footprint);
  // A footprint across the antimeridian, past ±180 or holding a pole is no plain lon/lat polygon:
  // there placing the area on the pixels (below) alone says whether it overlaps.
  if (cuttable && !turf.booleanIntersects(turf.feature(area), turf.feature(cuttable))) {
    const [w, s, e, n] = turf.bbox(footprint).map((v) => Number(v.toFixed(5)));
    throw new AreaError(`the area does not intersect the dataset (its bounds are [${w}, ${s}, ${e}, ${n}])`, 'no-overlap');
  }
  const km2 = areaKm2(area);
  if (limits.maxAreaKm2 !== undefined && km2 > limits.maxAreaKm2) {
    // The limit bounds the work, which is the part over the dataset: an analyst's generous box
    // around a small scene is not refused for the ground beyond it.
    // (Placing the area cuts it near the dataset too, so the ground beyond costs no work either.)
    const overKm2 = km2OverFootprint(area, cuttable);
    if (overKm2 === null || overKm2 > limits.maxAreaKm2) {
      // All of it over the dataset (within the rounding of two area sums): its own size.
      const what = overKm2 === null || overKm2 > 0.999 * km2 ? `the area is ${km2.toFixed(1)}` : `the area's part over the dataset is ${overKm2.toFixed(1)}`;
      throw new AreaError(`${what} km², over the ${limits.maxAreaKm2} km² limit (SATSEG_MAX_AREA_KM2); draw a smaller area`, 'too-large');
    }
  }
  // A model that halves the resolution needs its tiles on the pixel grid of a whole-scene run.
  const grid = areaOnGrid(area, info.geoTransform, info.width, info.height, info.crs, spec.inputAlignment);
  if (!grid) throw new AreaError('the area does not overlap the dataset\'s pixels', 'no-overlap');
  // A sliver between pixel centres holds none of them: the job ran and gave an empty mask. Checked
  // where the window is small enough to look at whole (slivers have small windows).
  const { width, height } = grid.window;
  if (width * height <= 4e6 && !grid.mask(0, height, width).includes(1)) {
    throw new AreaError('the area holds no pixel centre of the dataset (it is thinner than a pixel there); draw a larger one', 'no-overlap');
  }
  return { area, repaired, areaKm2: km2, window: grid.window, areaMask: grid.mask };
}
