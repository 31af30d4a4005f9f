/**
 * Reading and cutting: the scene rows each tile row needs are read once (with the area mask applied),
 * and tiles are cut from them in row-major order into batches of non-empty tiles, normalised and,
 * when the scene's ground pixels differ from the model's, resampled onto the model's pixel lattice
 * (tile-sampling.ts).
 */
import type { PixelBlock, Window } from '../read/raster.ts';
import type { RasterSource } from '../read/raster-source.ts';
import { cutTile, rowsNeeded, type Normalisation } from '../plan/cut-tile.ts';
import { resamplePlanes } from '../plan/resize.ts';
import { axisSampling, type AxisSampling, type TileSampling } from '../plan/tile-sampling.ts';
import type { Model } from '../infer/model.ts';
import type { TileGeometry } from './tile-geometry.ts';
import { SegmentAbortedError } from '../errors.ts';

export interface PreparedTile {
  r: number;
  c: number;
  /** Index in the batch, or -1 when the tile is all nodata and skipped. */
  slot: number;
  /** How a resampled tile lies on the scene (its model output goes back through `toScene`); null when not resampled. */
  sampling: TileSampling | null;
}

export interface Batch {
  tiles: PreparedTile[];
  /** Tiles in the batch that go to the model. */
  count: number;
  data: Float32Array;
}

/** 1 = inside the area, for `rows` full-width rows of the window starting at window row `y`. */
export type AreaMask = (y: number, rows: number, width: number) => Uint8Array;

export interface BatcherInput {
  source: RasterSource;
  window: Window;
  bands: number[];
  geometry: TileGeometry;
  channels: number;
  norm: Normalisation;
  batchSize: number;
  /** Where batch buffers come from (the model's, once it is open); fresh arrays without it. */
  buffers?: () => Pick<Model, 'inputBuffer'> | null;
  areaMask?: AreaMask;
  signal?: AbortSignal;
}

/** Every how many pixels a value is sampled for the input hints, and how many are kept per band. */
const SAMPLE_STRIDE = 64;
const SAMPLE_CAP = 65_536;

export class TileBatcher {
  private nextR = 0;
  private nextC = 0;
  /** Rows read for tile rows not yet blended, by tile row. */
  private readonly rowBands = new Map<number, PixelBlock>();
  private readonly inputPlane: number;
  /** The resampled path's buffer of scene pixels cut for a tile. */
  private cut = new Float32Array(0);
  private lastRowSampling: { r: number; sampling: AxisSampling } | null = null;
  /**
   * A sample of each chosen band's valid values in the rows read so far (every 64th, at most
   * 65,536 kept, later ones written over earlier ones in turn), zeros left out: 0 is the fill of
   * Sentinel-2 and Landsat products and of a reprojection, often with no nodata declared (probe:
   * 4.6 % of zeros hid a +1000 offset). What input-hints.ts reads the scene's values from: its 1st
   * and 99th percentiles, not its extremes (a reprojection averaged over the fill's edge left 0.7 %
   * of values between the fill and the real ones, and hid the offset again).
   */
  private readonly samples: Float32Array[];
  private readonly sampled: number[];
  private seen = 0;

  constructor(private readonly input: BatcherInput) {
    const { geometry } = input;
    this.inputPlane = geometry.modelTile * geometry.modelTile;
    this.samples = input.bands.map(() => new Float32Array(SAMPLE_CAP));
    this.sampled = input.bands.map(() => 0);
  }

  /** The value below which a share `q` (0..1) of a chosen band's sampled values lie; NaN before any. */
  quantile(c: number, q: number): number {
    const n = Math.min(this.sampled[c]!, SAMPLE_CAP);
    if (!n) return Number.NaN;
    const sorted = this.samples[c]!.slice(0, n).sort();
    return sorted[Math.min(n - 1, Math.floor(q * n))]!;
  }

  /** The rows read for tile row r (valid until release(r)). */
  rowBand(r: number): PixelBlock {
    return this.rowBands.get(r)!;
  }

  release(r: number): void {
    this.rowBands.delete(r);
  }

  private async readRowBand(r: number): Promise<PixelBlock> {
    const { source, window: win, geometry, bands, areaMask, signal } = this.input;
    const y = this.rowSampling(r);
    const { lo, hi } = y ? rowsNeeded(y.cutStart, y.cutLength, win.height) : rowsNeeded(geometry.plan.ys[r]!, geometry.sceneTile.height, win.height);
    // Read in scene pixels; then re-expressed in the window's own pixels (the plan's frame), with
    // the geotransform that goes with that window.
    // A pixel the model cannot read whole (nodata or NaN in any of its bands: a swath edge where the
    // bands' footprints differ) is not classified. Except in 8-bit imagery, where a 0 in one band
    // (the usual nodata) is a dark pixel as often as a gap: a shadow's blue, water's near infrared
    // (rasterio's RGB sample holds 710 such pixels, which became holes in the mask).
    const anyBandNodata = !/^u?int8$/.test(source.info.dtype);
    const block = await source.read({ x: win.x, y: win.y + lo, width: win.width, height: hi - lo }, { bands, signal, anyBandNodata });
    if (areaMask) {
      const inside = areaMask(lo, hi - lo, win.width);
      for (let i = 0; i < inside.length; i++) if (!inside[i]) block.valid[i] = 0;
    }
    const start = this.seen;
    block.bands.forEach((values, c) => {
      const sample = this.samples[c]!;
      let n = this.sampled[c]!;
      for (let i = (SAMPLE_STRIDE - (start % SAMPLE_STRIDE)) % SAMPLE_STRIDE; i < values.length; i += SAMPLE_STRIDE) {
        const v = values[i]!;
        if (!block.valid[i] || v === 0) continue;
        sample[n % SAMPLE_CAP] = v;
        n++;
      }
      this.sampled[c] = n;
    });
    this.seen += block.bands[0]?.length ?? 0;
    return { ...block, window: { x: 0, y: lo, width: win.width, height: hi - lo } };
  }

  /** The y axis of tile row r's resampling; null when tiles are not resampled. Every tile of a row shares it: the last row's is kept. */
  private rowSampling(r: number): AxisSampling | null {
    const { resampled, plan, sceneTile, modelTile, alignment } = this.input.geometry;
    if (!resampled) return null;
    if (this.lastRowSampling?.r !== r) this.lastRowSampling = { r, sampling: axisSampling(plan.ys[r]!, sceneTile.height, resampled.y, modelTile, alignment, this.input.window.y) };
    return this.lastRowSampling.sampling;
  }

  /** The next batch, or null when every tile has been handed out. */
  async next(): Promise<Batch | null> {
    const { geometry, channels, norm, batchSize, buffers, window: win, signal } = this.input;
    const { plan, sceneTile, modelTile, resampled, alignment } = geometry;
    if (this.nextR >= plan.ys.length) return null;
    const stride = channels * this.inputPlane;
    const length = batchSize * stride;
    const data = buffers?.()?.inputBuffer?.(length) ?? new Float32Array(length);
    const tiles: PreparedTile[] = [];
    let count = 0;
    while (this.nextR < plan.ys.length && count < batchSize) {
      if (signal?.aborted) throw new SegmentAbortedError();
      if (!this.rowBands.has(this.nextR)) this.rowBands.set(this.nextR, await this.readRowBand(this.nextR));
      const band = this.rowBands.get(this.nextR)!;
      const x0 = plan.xs[this.nextC]!;
      const y0 = plan.ys[this.nextR]!;
      let valid: number;
      let sampling: TileSampling | null = null;
      if (resampled) {
        sampling = { x: axisSampling(x0, sceneTile.width, resampled.x, modelTile, alignment, win.x), y: this.rowSampling(this.nextR)! };
        const { x, y } = sampling;
        // One cut buffer, grown to the largest cut (cuts differ by a pixel or two): a fresh one per
        // tile was 78 MB each for a 0.5 m scene and a 5 m model.
        const need = channels * x.cutLength * y.cutLength;
        if (this.cut.length < need) this.cut = new Float32Array(need);
        const cut = this.cut.subarray(0, need);
        valid = cutTile(band, win.width, win.height, x.cutStart, y.cutStart, { width: x.cutLength, height: y.cutLength }, norm, cut, 0);
        if (valid > 0) data.set(resamplePlanes(cut, channels, x.cutLength, y.cutLength, x.toModel, y.toModel), count * stride);
      } else {
        valid = cutTile(band, win.width, win.height, x0, y0, sceneTile, norm, data, count * stride);
      }
      tiles.push({ r: this.nextR, c: this.nextC, slot: valid > 0 ? count : -1, sampling });
      if (valid > 0) count++;
      if (++this.nextC === plan.xs.length) { this.nextC = 0; this.nextR++; }
    }
    return { tiles, count, data };
  }
}
