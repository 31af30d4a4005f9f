/**
 * Reprojecting a raster into one Web Mercator tile, the way gdalwarp does it: pick the overview
 * that fits the zoom, map output pixel centres into the source with an approximate transformer
 * (exact proj4 at a 16-px grid of control points, interpolated between them, as GDAL's approximate
 * transformer does), then sample bilinearly or by nearest neighbour, skipping invalid pixels.
 */
import type { RasterSource } from '../../read/raster-source.ts';
import type { PixelBlock } from '../../read/raster.ts';
import { converter, transformableProj4, transformPoint, WEB_MERCATOR } from '../../read/crs-transform.ts';
import { tileBounds3857, TILE_SIZE } from './web-mercator.ts';

export type Resampling = 'bilinear' | 'nearest';

export interface WarpOptions {
  /** 1-based bands to warp. */
  bands: number[];
  resampling: Resampling;
  size?: number;
  signal?: AbortSignal;
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
  const toPixel = (u: number, v: number): [number, number] => {
    const p = transformPoint(conv, bounds[0] + u * res, bounds[3] - v * res);
    if (!p) return [Number.NaN, Number.NaN];
    return [(p[0] - gt[0]) / gt[1], (p[1] - gt[3]) / gt[5]];
  };
  for (let j = 0; j < nodes; j++) {
    for (let i = 0; i < nodes; i++) {
      const [x, y] = toPixel(i * GRID_STEP, j * GRID_STEP);
      px[j * nodes + i] = x;
      py[j * nodes + i] = y;
    }
  }
  return { px, py, nodes, toPixel };
}

export async function warpTile(source: RasterSource, z: number, x: number, y: number, opts: WarpOptions): Promise<WarpedTile | null> {
  const size = opts.size ?? TILE_SIZE;
  const bounds = tileBounds3857(z, x, y);
  const { px, py, nodes, toPixel } = controlGrid(source, bounds, size);

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

  // Source coordinates (in the chosen level) of every output pixel centre: bilinear between the
  // four control points of its cell, stepped along each row.
  const sx = new Float64Array(size * size);
  const sy = new Float64Array(size * size);
  const cells = size / GRID_STEP;
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let cj = 0; cj < cells; cj++) {
    for (let ci = 0; ci < cells; ci++) {
      const a = cj * nodes + ci;
      const exact = !(Number.isFinite(px[a]!) && Number.isFinite(px[a + 1]!) && Number.isFinite(px[a + nodes]!) && Number.isFinite(px[a + nodes + 1]!));
      for (let dj = 0; dj < GRID_STEP; dj++) {
        const j = cj * GRID_STEP + dj;
        const t = (dj + 0.5) / GRID_STEP;
        const leftX = px[a]! + (px[a + nodes]! - px[a]!) * t;
        const leftY = py[a]! + (py[a + nodes]! - py[a]!) * t;
        const stepX = (px[a + 1]! + (px[a + nodes + 1]! - px[a + 1]!) * t - leftX) / GRID_STEP;
        const stepY = (py[a + 1]! + (py[a + nodes + 1]! - py[a + 1]!) * t - leftY) / GRID_STEP;
        const row = j * size + ci * GRID_STEP;
        for (let di = 0; di < GRID_STEP; di++) {
          const o = row + di;
          let lx: number;
          let ly: number;
          if (exact) {
            // Near the edge of the projection's domain: transform each pixel on its own.
            const [ex, ey] = toPixel(ci * GRID_STEP + di + 0.5, j + 0.5);
            lx = ex / fx;
            ly = ey / fy;
          } else {
            lx = leftX + stepX * (di + 0.5);
            ly = leftY + stepY * (di + 0.5);
          }
          sx[o] = lx;
          sy[o] = ly;
          if (!(lx >= 0 && ly >= 0 && lx < lw && ly < lh)) continue;
          if (lx < minX) minX = lx;
          if (lx > maxX) maxX = lx;
          if (ly < minY) minY = ly;
          if (ly > maxY) maxY = ly;
        }
      }
    }
  }
  if (!Number.isFinite(minX)) return null;
  const wx0 = Math.max(0, Math.floor(minX) - 1);
  const wy0 = Math.max(0, Math.floor(minY) - 1);
  const wx1 = Math.min(lw, Math.ceil(maxX) + 2);
  const wy1 = Math.min(lh, Math.ceil(maxY) + 2);
  const block = await source.read({ x: wx0, y: wy0, width: wx1 - wx0, height: wy1 - wy0 }, { bands: opts.bands, level, signal: opts.signal });

  const out = opts.bands.map(() => new Float32Array(size * size));
  const valid = new Uint8Array(size * size);
  if (opts.resampling === 'nearest') {
    sampleNearest(block, sx, sy, lw, lh, out, valid);
  } else {
    // The kernel widens by the downsampling factor, estimated like gdalwarp does for one chunk
    // (output size over the clamped source window) so tiles at raster edges match GDAL's too.
    // The control points are already in the level's pixels (scaled above).
    const kx = gdalKernelScale(px, lw, size);
    const ky = gdalKernelScale(py, lh, size);
    const fourSamples = kx >= 0.95 && ky >= 0.95;
    const radiusX = fourSamples ? 1 : Math.max(1, 1 / kx);
    const radiusY = fourSamples ? 1 : Math.max(1, 1 / ky);
    sampleBilinear(block, sx, sy, lw, lh, out, valid, radiusX, radiusY, source.info.maskKind === 'nodata' ? source.info.nodata : null);
  }
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

function sampleNearest(block: PixelBlock, sx: Float64Array, sy: Float64Array, lw: number, lh: number, out: Float32Array[], valid: Uint8Array): void {
  const { x: bx, y: by } = block.window;
  const bw = block.width;
  for (let o = 0; o < sx.length; o++) {
    const lx = sx[o]!;
    const ly = sy[o]!;
    if (!(lx >= 0 && ly >= 0 && lx < lw && ly < lh)) continue;
    const k = (Math.floor(ly) - by) * bw + (Math.floor(lx) - bx);
    if (!block.valid[k]) continue;
    valid[o] = 1;
    for (let b = 0; b < out.length; b++) out[b]![o] = block.bands[b]![k]!;
  }
}

/**
 * Plain bilinear (zoomed in, or within 5 % of the source resolution): four taps. Positions and
 * weights are worked out once per pixel, then each band is interpolated in its own loop, which
 * keeps the inner loop monomorphic; pixels whose taps are all inside and valid take the short path.
 */
function sampleFourTaps(block: PixelBlock, sx: Float64Array, sy: Float64Array, lw: number, lh: number, out: Float32Array[], valid: Uint8Array, nodata: number | null): void {
  const { x: bx, y: by } = block.window;
  const bw = block.width;
  const bh = block.height;
  const ok = block.valid;
  const nd = nodata !== null && !Number.isNaN(nodata) ? nodata : Number.NaN;
  const n = sx.length;
  const base = new Int32Array(n);
  const xs = new Int32Array(n);
  const ys = new Int32Array(n);
  const fxs = new Float32Array(n);
  const fys = new Float32Array(n);
  // 0 = no data, 1 = all four taps usable, 2 = at an edge or next to invalid pixels.
  const kind = new Uint8Array(n);
  for (let o = 0; o < n; o++) {
    const lx = sx[o]!;
    const ly = sy[o]!;
    if (!(lx >= 0 && ly >= 0 && lx < lw && ly < lh)) continue;
    const u = lx - 0.5 - bx;
    const v = ly - 0.5 - by;
    const x0 = Math.floor(u);
    const y0 = Math.floor(v);
    fxs[o] = u - x0;
    fys[o] = v - y0;
    const k = y0 * bw + x0;
    base[o] = k;
    xs[o] = x0;
    ys[o] = y0;
    kind[o] = x0 >= 0 && y0 >= 0 && x0 + 1 < bw && y0 + 1 < bh && ok[k] && ok[k + 1] && ok[k + bw] && ok[k + bw + 1] ? 1 : 2;
  }
  const checkAnyNodata = nd === nd;
  for (let b = 0; b < out.length; b++) {
    const band = block.bands[b]!;
    const dst = out[b]!;
    // Most blocks hold no nodata value at all; one native scan spares four comparisons a pixel.
    const checkNodata = checkAnyNodata && (band as Uint8Array).includes(nd);
    for (let o = 0; o < n; o++) {
      const t = kind[o];
      if (t !== 1) continue;
      const k = base[o]!;
      const a00 = band[k]!;
      const a01 = band[k + 1]!;
      const a10 = band[k + bw]!;
      const a11 = band[k + bw + 1]!;
      if (checkNodata && (a00 === nd || a01 === nd || a10 === nd || a11 === nd)) { kind[o] = 3; continue; }
      const fx = fxs[o]!;
      const fy = fys[o]!;
      const top = a00 + (a01 - a00) * fx;
      const bottom = a10 + (a11 - a10) * fx;
      dst[o] = top + (bottom - top) * fy;
    }
  }
  for (let o = 0; o < n; o++) {
    const t = kind[o];
    if (t === 0) continue;
    if (t === 1) { valid[o] = 1; continue; }
    // Edge, invalid neighbours or nodata in some band: weights over the usable taps, band by band.
    const x0 = xs[o]!;
    const y0 = ys[o]!;
    const fx = fxs[o]!;
    const fy = fys[o]!;
    let any = false;
    for (let b = 0; b < out.length; b++) {
      const band = block.bands[b]!;
      let acc = 0;
      let ws = 0;
      for (let j = 0; j < 2; j++) {
        const yy = y0 + j;
        if (yy < 0 || yy >= bh) continue;
        const wy = j ? fy : 1 - fy;
        for (let i = 0; i < 2; i++) {
          const xx = x0 + i;
          if (xx < 0 || xx >= bw) continue;
          const k = yy * bw + xx;
          if (!ok[k]) continue;
          const value = band[k]!;
          if (value === nd) continue;
          const w = wy * (i ? fx : 1 - fx);
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
}

/**
 * Bilinear sampling. When the tile is coarser than the level it reads (between two overviews), the
 * tent widens to cover every source pixel under the output pixel, as gdalwarp's bilinear does;
 * otherwise small features would alias in and out as you zoom. Nodata is per band, as in GDAL: a
 * pixel that is nodata in one band still counts in the others.
 */
function sampleBilinear(block: PixelBlock, sx: Float64Array, sy: Float64Array, lw: number, lh: number, out: Float32Array[], valid: Uint8Array, radiusX: number, radiusY: number, nodata: number | null): void {
  if (radiusX === 1 && radiusY === 1) {
    sampleFourTaps(block, sx, sy, lw, lh, out, valid, nodata);
    return;
  }
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
  // Taps per axis: 2 for plain bilinear, more for the widened tent.
  const x0off = rx === 1 ? 0 : -Math.ceil(rx) + 1;
  const y0off = ry === 1 ? 0 : -Math.ceil(ry) + 1;
  const nx = rx === 1 ? 2 : 2 * Math.ceil(rx);
  const ny = ry === 1 ? 2 : 2 * Math.ceil(ry);
  const wxs = new Float64Array(nx);
  for (let o = 0; o < sx.length; o++) {
    const lx = sx[o]!;
    const ly = sy[o]!;
    if (!(lx >= 0 && ly >= 0 && lx < lw && ly < lh)) continue;
    const u = lx - 0.5 - bx;
    const v = ly - 0.5 - by;
    const iu = Math.floor(u);
    const iv = Math.floor(v);
    const xa = iu + x0off;
    const ya = iv + y0off;
    for (let i = 0; i < nx; i++) {
      const w = 1 - Math.abs(xa + i - u) / rx;
      wxs[i] = w > 0 ? w : 0;
    }
    for (let b = 0; b < nb; b++) { acc[b] = 0; wsum[b] = 0; }
    for (let j = 0; j < ny; j++) {
      const yy = ya + j;
      if (yy < 0 || yy >= bh) continue;
      const wy = 1 - Math.abs(yy - v) / ry;
      if (wy <= 0) continue;
      const row = yy * bw;
      for (let i = 0; i < nx; i++) {
        const xx = xa + i;
        const wx = wxs[i]!;
        if (wx === 0 || xx < 0 || xx >= bw) continue;
        const k = row + xx;
        if (!ok[k]) continue;
        const w = wx * wy;
        for (let b = 0; b < nb; b++) {
          const value = src[b]![k]!;
          if (value === nd) continue;
          acc[b] += w * value;
          wsum[b] += w;
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
