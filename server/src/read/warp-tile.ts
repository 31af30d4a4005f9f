/**
 * Reprojecting a raster into one Web Mercator tile, the way gdalwarp does it: pick the overview
 * that fits the zoom, map output pixel centres into the source with an approximate transformer
 * (exact proj4 at a 16-px grid of control points, interpolated between them, as GDAL's approximate
 * transformer does), then sample bilinearly or by nearest neighbour, skipping invalid pixels.
 */
import type { RasterSource } from './raster-source.ts';
import type { PixelBlock } from './raster.ts';
import { converter, transformableProj4, transformPoint } from './crs-transform.ts';
import { longitudeWrap } from './georef.ts';
import { tileBounds3857, TILE_SIZE, WEB_MERCATOR } from './web-mercator.ts';
import { DEFAULT_RASTER_LIMITS, mpx } from './raster-limits.ts';
import { RasterError } from '../errors.ts';

export type Resampling = 'bilinear' | 'nearest';

export interface WarpOptions {
  /** 1-based bands to warp. */
  bands: number[];
  resampling: Resampling;
  size?: number;
  signal?: AbortSignal;
  /** Most source pixels the tile may read (default SATSEG_MAX_TILE_READ_MPX). */
  maxReadPixels?: number;
}

export interface WarpedTile {
  size: number;
  /** One plane per requested band, size*size values. */
  bands: Float32Array[];
  /** 1 where the pixel has data. */
  valid: Uint8Array;
  /** The source level the pixels came from (0 = full resolution). */
  level: number;
}

const GRID_STEP = 16;

/**
 * The overview to read for a given downsampling: the coarsest level that is not coarser than the
 * output (GDAL's "-ovr AUTO"), so zoomed-out tiles read few pixels and keep their detail.
 */
export function chooseLevel(source: RasterSource, sourcePixelsPerOutputPixel: number): number {
  let best = 0;
  for (let l = 1; l < source.levelCount; l++) {
    const factor = source.info.width / source.levelSize(l).width;
    if (factor <= sourcePixelsPerOutputPixel * 1.0001) best = l;
  }
  return best;
}

/** Source pixel coordinates (full resolution, continuous) of output-pixel positions on a grid. */
function controlGrid(source: RasterSource, bounds: [number, number, number, number], size: number) {
  const { geoTransform: gt, crs } = source.info;
  const conv = converter(WEB_MERCATOR, transformableProj4(crs));
  const res = (bounds[2] - bounds[0]) / size;
  const nodes = size / GRID_STEP + 1;
  const px = new Float64Array(nodes * nodes);
  const py = new Float64Array(nodes * nodes);
  // A lon/lat raster written past ±180: -179.95 on the map is its 180.05.
  const wrap = longitudeWrap(source.info);
  const toPixel = (u: number, v: number): [number, number] => {
    const p = transformPoint(conv, bounds[0] + u * res, bounds[3] - v * res);
    if (!p) return [Number.NaN, Number.NaN];
    return [(wrap(p[0]) - gt[0]) / gt[1], (p[1] - gt[3]) / gt[5]];
  };
  for (let j = 0; j < nodes; j++) {
    for (let i = 0; i < nodes; i++) {
      const [x, y] = toPixel(i * GRID_STEP, j * GRID_STEP);
      px[j * nodes + i] = x;
      py[j * nodes + i] = y;
    }
  }
  // Columns in half a turn of longitude (lon/lat rasters only).
  const seam = crs.geographic ? 180 / Math.abs(gt[1]) : Infinity;
  return { px, py, nodes, toPixel, seam };
}

/**
 * Where each output pixel centre falls in the source level, produced a row at a time so no
 * tile-sized coordinate arrays are built: bilinear between the four control points of its cell,
 * stepped along the row, or transformed exactly in cells that touch the projection's edge.
 */
class PixelPositions {
  /** Per cell: 1 when a corner failed to transform, so its pixels are transformed one by one. */
  private readonly exact: Uint8Array;
  private readonly cells: number;
  /** The level-pixel positions of the row last asked for with row(). */
  readonly sx: Float64Array;
  readonly sy: Float64Array;

  constructor(
    private readonly grid: ReturnType<typeof controlGrid>,
    readonly size: number,
    /** Full-resolution pixels per level pixel, to bring exact transforms into the level. */
    private readonly fx: number,
    private readonly fy: number,
  ) {
    const { px, nodes, seam } = grid;
    this.sx = new Float64Array(size);
    this.sy = new Float64Array(size);
    this.cells = size / GRID_STEP;
    this.exact = new Uint8Array(this.cells * this.cells);
    for (let cj = 0; cj < this.cells; cj++) {
      for (let ci = 0; ci < this.cells; ci++) {
        const a = cj * nodes + ci;
        const corners = [px[a]!, px[a + 1]!, px[a + nodes]!, px[a + nodes + 1]!];
        const finite = corners.every(Number.isFinite);
        // Corners half a turn apart: the cell straddles the seam of a lon/lat raster's longitudes.
        const torn = Math.max(...corners) - Math.min(...corners) > seam;
        this.exact[cj * this.cells + ci] = finite && !torn ? 0 : 1;
      }
    }
  }

  /** Fills sx/sy with the level-pixel positions of output row j. */
  row(j: number): void {
    const { px, py, nodes, toPixel } = this.grid;
    const { sx, sy } = this;
    const cj = (j / GRID_STEP) | 0;
    const t = (j - cj * GRID_STEP + 0.5) / GRID_STEP;
    for (let ci = 0; ci < this.cells; ci++) {
      const start = ci * GRID_STEP;
      if (this.exact[cj * this.cells + ci]) {
        // Near the edge of the projection's domain: transform each pixel on its own.
        for (let di = 0; di < GRID_STEP; di++) {
          const [ex, ey] = toPixel(start + di + 0.5, j + 0.5);
          sx[start + di] = ex / this.fx;
          sy[start + di] = ey / this.fy;
        }
        continue;
      }
      const a = cj * nodes + ci;
      const leftX = px[a]! + (px[a + nodes]! - px[a]!) * t;
      const leftY = py[a]! + (py[a + nodes]! - py[a]!) * t;
      const stepX = (px[a + 1]! + (px[a + nodes + 1]! - px[a + 1]!) * t - leftX) / GRID_STEP;
      const stepY = (py[a + 1]! + (py[a + nodes + 1]! - py[a + 1]!) * t - leftY) / GRID_STEP;
      for (let di = 0; di < GRID_STEP; di++) {
        sx[start + di] = leftX + stepX * (di + 0.5);
        sy[start + di] = leftY + stepY * (di + 0.5);
      }
    }
  }

  /**
   * The level window every in-raster pixel's taps fall in (taps reach `reachX`/`reachY` level
   * pixels from a pixel centre), or null when no pixel can fall in the raster. Interpolated
   * positions are convex combinations of their cell's corners, so the part of the corners' box
   * inside the raster bounds a cell's in-raster pixels; exact cells are walked pixel by pixel.
   */
  window(lw: number, lh: number, reachX: number, reachY: number): { x: number; y: number; width: number; height: number } | null {
    const { px, py, nodes } = this.grid;
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    const { sx, sy } = this;
    for (let cj = 0; cj < this.cells; cj++) {
      let exactRow = false;
      for (let ci = 0; ci < this.cells; ci++) {
        if (this.exact[cj * this.cells + ci]) { exactRow = true; continue; }
        const a = cj * nodes + ci;
        const b = a + 1, c = a + nodes, d = a + nodes + 1;
        const cellMinX = Math.min(px[a]!, px[b]!, px[c]!, px[d]!);
        const cellMaxX = Math.max(px[a]!, px[b]!, px[c]!, px[d]!);
        const cellMinY = Math.min(py[a]!, py[b]!, py[c]!, py[d]!);
        const cellMaxY = Math.max(py[a]!, py[b]!, py[c]!, py[d]!);
        if (!(cellMaxX >= 0 && cellMinX < lw && cellMaxY >= 0 && cellMinY < lh)) continue;
        minX = Math.min(minX, Math.max(0, cellMinX));
        maxX = Math.max(maxX, Math.min(lw, cellMaxX));
        minY = Math.min(minY, Math.max(0, cellMinY));
        maxY = Math.max(maxY, Math.min(lh, cellMaxY));
      }
      if (!exactRow) continue;
      for (let j = cj * GRID_STEP; j < (cj + 1) * GRID_STEP; j++) {
        this.row(j);
        for (let i = 0; i < this.size; i++) {
          if (!this.exact[cj * this.cells + ((i / GRID_STEP) | 0)]) continue;
          const lx = sx[i]!;
          const ly = sy[i]!;
          if (!(lx >= 0 && ly >= 0 && lx < lw && ly < lh)) continue;
          if (lx < minX) minX = lx;
          if (lx > maxX) maxX = lx;
          if (ly < minY) minY = ly;
          if (ly > maxY) maxY = ly;
        }
      }
    }
    if (!(maxX >= 0 && maxY >= 0 && minX < lw && minY < lh)) return null;
    const x0 = Math.max(0, Math.floor(minX) - reachX);
    const y0 = Math.max(0, Math.floor(minY) - reachY);
    const x1 = Math.min(lw, Math.ceil(maxX) + reachX + 1);
    const y1 = Math.min(lh, Math.ceil(maxY) + reachY + 1);
    return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  }
}

export async function warpTile(source: RasterSource, z: number, x: number, y: number, opts: WarpOptions): Promise<WarpedTile | null> {
  const size = opts.size ?? TILE_SIZE;
  const bounds = tileBounds3857(z, x, y);
  const grid = controlGrid(source, bounds, size);
  const { px, py, nodes } = grid;

  // Downsampling factor at the tile centre picks the overview.
  const c = (nodes >> 1) * nodes + (nodes >> 1);
  const scale = Math.hypot(px[c + 1]! - px[c]!, py[c + 1]! - py[c]!) / GRID_STEP;
  const scaleY = Math.hypot(px[c + nodes]! - px[c]!, py[c + nodes]! - py[c]!) / GRID_STEP;
  const level = Number.isFinite(scale) && Number.isFinite(scaleY) ? chooseLevel(source, Math.min(scale, scaleY)) : 0;
  const { width: lw, height: lh } = source.levelSize(level);
  const fx = source.info.width / lw;
  const fy = source.info.height / lh;
  // The overview's pixel grid is a scaling of the full one, so the control points can be scaled
  // before interpolating.
  for (let k = 0; k < px.length; k++) { px[k] = px[k]! / fx; py[k] = py[k]! / fy; }

  // The kernel widens by the downsampling factor, estimated like gdalwarp does for one chunk
  // (output size over the clamped source window) so tiles at raster edges match GDAL's too.
  // The control points are already in the level's pixels (scaled above).
  const kx = gdalKernelScale(px, lw, size);
  const ky = gdalKernelScale(py, lh, size);
  const fourSamples = opts.resampling === 'nearest' || (kx >= 0.95 && ky >= 0.95);
  const radiusX = fourSamples ? 1 : Math.max(1, 1 / kx);
  const radiusY = fourSamples ? 1 : Math.max(1, 1 / ky);

  const positions = new PixelPositions(grid, size, fx, fy);
  // The window reaches as far as the kernel does from the outermost pixel centres.
  const win = positions.window(lw, lh, Math.ceil(radiusX), Math.ceil(radiusY));
  if (!win) return null;
  // Refused before anything is read: with no overview coarse enough, a zoomed-out tile would read
  // (and hold) a window of the whole raster, gigabytes for a large one.
  const maxRead = opts.maxReadPixels ?? DEFAULT_RASTER_LIMITS.maxTileReadPixels;
  if (win.width * win.height > maxRead) {
    throw new RasterError('too-large', `tile ${z}/${x}/${y} would read ${win.width} x ${win.height} source pixels (${mpx(win.width * win.height)}), over the ${mpx(maxRead)} limit (SATSEG_MAX_TILE_READ_MPX): ${source.levelCount > 1 ? 'its overviews are not coarse enough for this zoom' : 'the raster has no overviews'}; zoom in or add overviews with gdaladdo`);
  }
  const block = await source.read(win, { bands: opts.bands, level, signal: opts.signal });

  const out = opts.bands.map(() => new Float32Array(size * size));
  const valid = new Uint8Array(size * size);
  const nodata = source.info.maskKind === 'nodata' ? source.info.nodata : null;
  const inside = opts.resampling === 'nearest'
    ? sampleNearest(block, positions, lw, lh, out, valid)
    : fourSamples
      ? sampleFourTaps(block, positions, lw, lh, out, valid, nodata)
      : sampleBilinear(block, positions, lw, lh, out, valid, radiusX, radiusY, nodata);
  // The window is a bound; a tile whose pixels all miss the raster is still outside it.
  if (inside === 0) return null;
  return { size, bands: out, valid, level };
}

/**
 * Output pixels per source pixel along one axis: the output size over the source window the tile
 * covers, clamped to the raster; a near-integer reciprocal snaps to it. Above 1 means upsampling.
 */
function gdalKernelScale(levelCoords: Float64Array, levelSize: number, outSize: number): number {
  let min = Infinity;
  let max = -Infinity;
  for (const l of levelCoords) {
    if (!Number.isFinite(l)) continue;
    if (l < min) min = l;
    if (l > max) max = l;
  }
  const raw = Math.max(0, Math.min(levelSize - Math.floor(Math.max(0, min)), max - min));
  if (!(raw > 0)) return 1;
  let scale = outSize / raw;
  if (scale < 1) {
    const reciprocal = 1 / scale;
    const n = Math.round(reciprocal);
    if (Math.abs(reciprocal - n) < 0.05) scale = 1 / n;
  }
  return scale;
}

/** Each sampler returns how many output pixels fall inside the raster. */
function sampleNearest(block: PixelBlock, positions: PixelPositions, lw: number, lh: number, out: Float32Array[], valid: Uint8Array): number {
  const { x: bx, y: by } = block.window;
  const bw = block.width;
  const { size, sx, sy } = positions;
  let inside = 0;
  for (let j = 0; j < size; j++) {
    positions.row(j);
    for (let i = 0; i < size; i++) {
      const lx = sx[i]!;
      const ly = sy[i]!;
      if (!(lx >= 0 && ly >= 0 && lx < lw && ly < lh)) continue;
      inside++;
      const k = (Math.floor(ly) - by) * bw + (Math.floor(lx) - bx);
      if (!block.valid[k]) continue;
      const o = j * size + i;
      valid[o] = 1;
      for (let b = 0; b < out.length; b++) out[b]![o] = block.bands[b]![k]!;
    }
  }
  return inside;
}

/**
 * Plain bilinear (zoomed in, or within 5 % of the source resolution): four taps. This is the path
 * nearly every imagery tile takes, so it is one pass over the output: pixels whose four taps are
 * inside the block, valid and not nodata are interpolated on the spot (three bands unrolled, the
 * usual case); the others, at raster edges or next to missing data, are queued and weighted over
 * their usable taps afterwards.
 */
function sampleFourTaps(block: PixelBlock, positions: PixelPositions, lw: number, lh: number, out: Float32Array[], valid: Uint8Array, nodata: number | null): number {
  const { x: bx, y: by } = block.window;
  const bw = block.width;
  const bh = block.height;
  const ok = block.valid;
  const nd = nodata !== null && !Number.isNaN(nodata) ? nodata : Number.NaN;
  const bands = block.bands;
  const nb = out.length;
  // One native scan each spares per-pixel tests in the common case: a block with every pixel
  // valid, and bands that hold no nodata value at all.
  const allValid = ok.indexOf(0) === -1;
  const nodataBands = nd === nd ? bands.filter((band) => (band as Uint8Array).includes(nd)) : [];
  const plain3 = nb === 3 && nodataBands.length === 0;
  // Three bands, or one repeated (the planes are only read through these names in the 3-band path).
  const [s0, s1, s2] = (plain3 ? bands : [bands[0], bands[0], bands[0]]) as [Float32Array, Float32Array, Float32Array];
  const [d0, d1, d2] = (plain3 ? out : [out[0], out[0], out[0]]) as [Float32Array, Float32Array, Float32Array];
  const { size, sx, sy } = positions;
  // Output index, then source position, of each pixel left for the careful path.
  const slow: number[] = [];
  let inside = 0;
  let lastK = -1;
  let r00 = 0, r01 = 0, r10 = 0, r11 = 0, g00 = 0, g01 = 0, g10 = 0, g11 = 0, b00 = 0, b01 = 0, b10 = 0, b11 = 0;
  for (let j = 0; j < size; j++) {
    positions.row(j);
    for (let i = 0, o = j * size; i < size; i++, o++) {
      const lx = sx[i]!;
      const ly = sy[i]!;
      if (!(lx >= 0 && ly >= 0 && lx < lw && ly < lh)) continue;
      inside++;
      const u = lx - 0.5 - bx;
      const v = ly - 0.5 - by;
      const x0 = Math.floor(u);
      const y0 = Math.floor(v);
      const k = y0 * bw + x0;
      if (x0 < 0 || y0 < 0 || x0 + 1 >= bw || y0 + 1 >= bh || (!allValid && !(ok[k] && ok[k + 1] && ok[k + bw] && ok[k + bw + 1]))) {
        slow.push(o, u, v);
        continue;
      }
      const fx = u - x0;
      const fy = v - y0;
      if (plain3) {
        // Zoomed in, neighbouring output pixels share their four taps: load them once.
        if (k !== lastK) {
          lastK = k;
          r00 = s0[k]!; r01 = s0[k + 1]! - r00; r10 = s0[k + bw]!; r11 = s0[k + bw + 1]! - r10;
          g00 = s1[k]!; g01 = s1[k + 1]! - g00; g10 = s1[k + bw]!; g11 = s1[k + bw + 1]! - g10;
          b00 = s2[k]!; b01 = s2[k + 1]! - b00; b10 = s2[k + bw]!; b11 = s2[k + bw + 1]! - b10;
        }
        let top = r00 + r01 * fx;
        d0[o] = top + (r10 + r11 * fx - top) * fy;
        top = g00 + g01 * fx;
        d1[o] = top + (g10 + g11 * fx - top) * fy;
        top = b00 + b01 * fx;
        d2[o] = top + (b10 + b11 * fx - top) * fy;
      } else {
        let hasNodata = false;
        for (const band of nodataBands) {
          if (band[k] === nd || band[k + 1] === nd || band[k + bw] === nd || band[k + bw + 1] === nd) { hasNodata = true; break; }
        }
        if (hasNodata) { slow.push(o, u, v); continue; }
        for (let b = 0; b < nb; b++) {
          const band = bands[b]!;
          const a00 = band[k]!, a01 = band[k + 1]!, a10 = band[k + bw]!, a11 = band[k + bw + 1]!;
          const top = a00 + (a01 - a00) * fx;
          out[b]![o] = top + (a10 + (a11 - a10) * fx - top) * fy;
        }
      }
      valid[o] = 1;
    }
  }
  // Edge, invalid neighbours or nodata in some band: weights over the usable taps, band by band.
  for (let s = 0; s < slow.length; s += 3) {
    const o = slow[s]!;
    const u = slow[s + 1]!;
    const v = slow[s + 2]!;
    const x0 = Math.floor(u);
    const y0 = Math.floor(v);
    const fx = u - x0;
    const fy = v - y0;
    let any = false;
    for (let b = 0; b < nb; b++) {
      const band = bands[b]!;
      let acc = 0;
      let ws = 0;
      for (let jj = 0; jj < 2; jj++) {
        const yy = y0 + jj;
        if (yy < 0 || yy >= bh) continue;
        const wy = jj ? fy : 1 - fy;
        for (let ii = 0; ii < 2; ii++) {
          const xx = x0 + ii;
          if (xx < 0 || xx >= bw) continue;
          const k = yy * bw + xx;
          if (!ok[k]) continue;
          const value = band[k]!;
          if (value === nd) continue;
          const w = wy * (ii ? fx : 1 - fx);
          acc += w * value;
          ws += w;
        }
      }
      if (ws < 1e-5) continue;
      out[b]![o] = acc / ws;
      any = true;
    }
    if (any) valid[o] = 1;
  }
  return inside;
}

/**
 * Bilinear sampling, coarser than the level it reads (between two overviews): the tent widens to
 * cover every source pixel under the output pixel, as gdalwarp's bilinear does; otherwise small
 * features would alias in and out as you zoom. Nodata is per band, as in GDAL: a pixel that is
 * nodata in one band still counts in the others.
 */
function sampleBilinear(block: PixelBlock, positions: PixelPositions, lw: number, lh: number, out: Float32Array[], valid: Uint8Array, radiusX: number, radiusY: number, nodata: number | null): number {
  const { x: bx, y: by } = block.window;
  const bw = block.width;
  const bh = block.height;
  const nb = out.length;
  const src = block.bands;
  const ok = block.valid;
  const acc = new Float64Array(nb);
  const wsum = new Float64Array(nb);
  const perBand = nodata !== null && !Number.isNaN(nodata);
  const nd = perBand ? nodata : Number.NaN;
  const rx = radiusX;
  const ry = radiusY;
  const x0off = -Math.ceil(rx) + 1;
  const y0off = -Math.ceil(ry) + 1;
  const nx = 2 * Math.ceil(rx);
  const ny = 2 * Math.ceil(ry);
  const wxs = new Float64Array(nx);
  const { size, sx, sy } = positions;
  let inside = 0;
  for (let j = 0; j < size; j++) {
    positions.row(j);
    for (let i = 0, o = j * size; i < size; i++, o++) {
      const lx = sx[i]!;
      const ly = sy[i]!;
      if (!(lx >= 0 && ly >= 0 && lx < lw && ly < lh)) continue;
      inside++;
      const u = lx - 0.5 - bx;
      const v = ly - 0.5 - by;
      const xa = Math.floor(u) + x0off;
      const ya = Math.floor(v) + y0off;
      for (let t = 0; t < nx; t++) {
        const w = 1 - Math.abs(xa + t - u) / rx;
        wxs[t] = w > 0 ? w : 0;
      }
      for (let b = 0; b < nb; b++) { acc[b] = 0; wsum[b] = 0; }
      for (let jj = 0; jj < ny; jj++) {
        const yy = ya + jj;
        if (yy < 0 || yy >= bh) continue;
        const wy = 1 - Math.abs(yy - v) / ry;
        if (wy <= 0) continue;
        const row = yy * bw;
        for (let t = 0; t < nx; t++) {
          const xx = xa + t;
          const wx = wxs[t]!;
          if (wx === 0 || xx < 0 || xx >= bw) continue;
          const k = row + xx;
          if (!ok[k]) continue;
          const w = wx * wy;
          for (let b = 0; b < nb; b++) {
            const value = src[b]![k]!;
            if (value === nd) continue;
            acc[b]! += w * value;
            wsum[b]! += w;
          }
        }
      }
      let any = false;
      for (let b = 0; b < nb; b++) {
        const ws = wsum[b]!;
        if (ws < 1e-5) continue;
        any = true;
        out[b]![o] = acc[b]! / ws;
      }
      if (any) valid[o] = 1;
    }
  }
  return inside;
}
