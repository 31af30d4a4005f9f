/**
 * The grid a model segments a scene on. Usually the scene's own; a scene whose pixels are at least
 * COARSEN_AT times finer than the model's (drone imagery: 3 cm against a 1 m model) is averaged in
 * whole blocks first (CoarsenedSource), so that its pixels are still finer than the model's, by
 * 2 to 4 times, and the mask is written on that grid. Segmenting such a scene on its own grid
 * held each resampled tile's probabilities over thousands of its pixels (the job was refused for
 * memory) for detail the model never saw: its tiles are downsampled to the model's pixels anyway.
 * QGIS Deepness likewise segments at the model's resolution.
 *
 * Every stage that places a job's window, area or mask (prepareJob, segmentScene, the check of an
 * uploaded mask) asks this one function, so all agree on the grid.
 */
import type { RasterInfo } from '../read/raster.ts';
import type { RasterSource } from '../read/raster-source.ts';
import { CoarsenedSource } from '../read/coarsened-source.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import { groundResampling } from './tile-geometry.ts';

/** Scene pixels this many times finer than the model's, on an axis, are averaged first. */
export const COARSEN_AT = 4;
/**
 * Most scene pixels averaged into one along an axis: a block stays within what one read of
 * CoarsenedSource holds (a georeference of 1e-9 m pixels asked for blocks of 1e9 x 1e9). Finer
 * still, the rest is left to the tiles' resampling, and its memory check.
 */
export const MAX_COARSENING = 256;

/**
 * Scene pixels averaged into one along x and y; null to segment the scene as it is. Each factor is
 * the largest whole number that keeps the averaged pixel at most half the model's on that axis,
 * and no more than the scene has (a scene smaller than that is unsuitable: model-fit.ts).
 */
export function coarsening(spec: ModelSpec, info: RasterInfo): { x: number; y: number } | null {
  if (!spec.resolutionCm) return null;
  const { ground } = groundResampling(spec, info);
  if (!ground || !(ground.x > 0) || !(ground.y > 0)) return null;
  const model = spec.resolutionCm / 100;
  if (model / ground.x < COARSEN_AT && model / ground.y < COARSEN_AT) return null;
  const factor = (g: number) => Math.max(1, Math.min(MAX_COARSENING, Math.floor(model / (2 * g))));
  return { x: Math.min(factor(ground.x), info.width), y: Math.min(factor(ground.y), info.height) };
}

/** `source` on the grid `spec` segments it on (the source itself, or its block averages). */
export function onModelGrid(spec: ModelSpec, source: RasterSource): RasterSource {
  const f = coarsening(spec, source.info);
  return f ? new CoarsenedSource(source, f) : source;
}

/** Scene pixels averaged into one of `grid` (onModelGrid's answer), or null when it is the scene itself. */
export function coarsenedBy(grid: RasterSource): { x: number; y: number } | null {
  return grid instanceof CoarsenedSource ? grid.factor : null;
}

/** What a user should know when the scene is averaged first (`grid` is onModelGrid's answer); null when it is not. */
export function coarseningNotice(spec: ModelSpec, scene: RasterInfo, grid: RasterSource): string | null {
  const f = coarsenedBy(grid);
  if (!f) return null;
  const { ground } = groundResampling(spec, scene);
  const { ground: averaged } = groundResampling(spec, grid.info);
  const cm = (m: number) => (m < 1 ? `${(m * 100).toPrecision(3)} cm` : `${m.toPrecision(3)} m`);
  const size = (g: { x: number; y: number }) => (Math.abs(g.x - g.y) < 0.01 * g.x ? cm(g.x) : `${cm(g.x)} x ${cm(g.y)}`);
  const model = spec.resolutionCm! / 100;
  return `the scene's ${size(ground!)} pixels are ${(model / Math.max(ground!.x, ground!.y)).toFixed(0)}x finer than model ${spec.id}'s ${cm(model)}: `
    + `it is segmented averaged in ${f.x} x ${f.y} blocks, as gdalwarp -r average would, so the mask has ${size(averaged!)} pixels (${grid.info.width.toLocaleString('en-US')} x ${grid.info.height.toLocaleString('en-US')})${leftOut(scene.width - grid.info.width * f.x, scene.height - grid.info.height * f.y)}`;
}

/** The scene's last columns and rows that make less than a block, which the grid leaves out. */
function leftOut(columns: number, rows: number): string {
  const parts = [columns ? `${columns} column${columns === 1 ? '' : 's'}` : '', rows ? `${rows} row${rows === 1 ? '' : 's'}` : ''].filter(Boolean);
  return parts.length ? `; its last ${parts.join(' and ')}, less than a block, are left out` : '';
}
