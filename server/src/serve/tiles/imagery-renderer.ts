/**
 * Imagery tiles: chosen bands, linearly stretched to 0..255 (given min/max, or the 2-98 % percentile
 * stretch from the dataset statistics); paletted single bands keep their colour table.
 */
import type { BandStatistics } from '../../read/band-statistics.ts';
import type { RasterInfo } from '../../read/raster.ts';
import type { TileImage } from '../../read/raster-reader.ts';
import type { Resampling } from '../../read/warp-tile.ts';
import type { RgbaTile, TileRenderer } from './tile-renderer.ts';
import { RequestError } from '../../errors.ts';

export interface ImageryStyle {
  bands: number[];
  /** One [min, max] per band. */
  rescale: Array<[number, number]>;
  palette: Array<[number, number, number]> | null;
}

/** The default band combination: red/green/blue by colour interpretation, else the first three, else band 1. */
export function defaultBands(info: RasterInfo): number[] {
  const bands = info.bands;
  const find = (c: string) => bands.find((b) => b.colorInterp === c)?.index;
  const rgb = [find('red'), find('green'), find('blue')];
  if (rgb.every((b) => b !== undefined)) return rgb as number[];
  const usable = bands.filter((b) => b.colorInterp !== 'alpha').map((b) => b.index);
  return usable.length >= 3 ? usable.slice(0, 3) : [usable[0] ?? 1];
}

export function parseBands(text: string | undefined, info: RasterInfo): number[] {
  if (text === undefined || text === '') return defaultBands(info);
  const parts = text.split(',').map((s) => s.trim());
  const bands = parts.map(Number);
  if (bands.some((b) => !Number.isInteger(b))) throw new RequestError(`bands must be 1-based band numbers like 4,3,2 (got "${text}")`);
  if (bands.length !== 1 && bands.length !== 3) throw new RequestError(`bands takes 1 or 3 bands (got ${bands.length})`);
  const missing = bands.find((b) => b < 1 || b > info.bandCount);
  if (missing !== undefined) throw new RequestError(`band ${missing} does not exist (the dataset has ${info.bandCount} band${info.bandCount === 1 ? '' : 's'})`);
  return bands;
}

export function parseRescale(values: string[], bandCount: number): Array<[number, number]> | null {
  if (!values.length) return null;
  const pairs = values.map((v) => {
    const m = /^\s*(-?[\d.]+(?:e[-+]?\d+)?)\s*,\s*(-?[\d.]+(?:e[-+]?\d+)?)\s*$/i.exec(v);
    const lo = m ? Number(m[1]) : Number.NaN;
    const hi = m ? Number(m[2]) : Number.NaN;
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi <= lo) throw new RequestError(`rescale must be "min,max" with min < max (got "${v}")`);
    // -1e308,1e308 spans more than a double holds: every pixel drew black.
    if (!Number.isFinite(hi - lo)) throw new RequestError(`rescale "${v}" spans more than a number can hold; give a narrower min,max`);
    return [lo, hi] as [number, number];
  });
  if (pairs.length !== 1 && pairs.length !== bandCount) throw new RequestError(`give one rescale for all bands or one per band (${bandCount}); got ${pairs.length}`);
  return pairs.length === 1 ? Array.from({ length: bandCount }, () => pairs[0]!) : pairs;
}

export function imageryStyle(info: RasterInfo, bands: number[], rescale: Array<[number, number]> | null, stats: BandStatistics[] | null): ImageryStyle {
  const paletted = bands.length === 1 && info.colorMap !== null && info.bands[bands[0]! - 1]!.colorInterp === 'palette' && rescale === null;
  if (paletted) return { bands, rescale: [], palette: info.colorMap };
  const ranges = rescale ?? bands.map((b): [number, number] => {
    if (info.dtype === 'uint8') return [0, 255];
    const s = stats?.[b - 1];
    if (s && Number.isFinite(s.p2) && Number.isFinite(s.p98) && s.p98 > s.p2) return [s.p2, s.p98];
    if (s && Number.isFinite(s.min) && s.max > s.min) return [s.min, s.max];
    return [0, 255];
  });
  return { bands, rescale: ranges, palette: null };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class ImageryRenderer implements TileRenderer {
  readonly bands: number[];
  readonly resampling: Resampling;

  constructor(private readonly style: ImageryStyle) {
    this.bands = style.bands;
    this.resampling = style.palette ? 'nearest' : 'bilinear';
  }

  paint(warped: TileImage): RgbaTile {
    const { style } = this;
    const n = warped.size * warped.size;
    const rgba = new Uint8Array(n * 4);
    if (style.palette) {
      const idx = warped.bands[0]!;
      for (let i = 0; i < n; i++) {
        if (!warped.valid[i]) continue;
        const c = style.palette[idx[i]!] ?? [0, 0, 0];
        rgba[4 * i] = c[0]; rgba[4 * i + 1] = c[1]; rgba[4 * i + 2] = c[2]; rgba[4 * i + 3] = 255;
      }
      return { size: warped.size, rgba };
    }
    // One packed RGBA word per pixel, in the platform's byte order.
    const words = new Uint32Array(rgba.buffer);
    const valid = warped.valid;
    // Red, green and blue from the three bands, or all three from a single one (grey).
    const [ri, gi, bi] = style.bands.length === 1 ? [0, 0, 0] : [0, 1, 2];
    const r = warped.bands[ri]!, g = warped.bands[gi]!, b = warped.bands[bi]!;
    const [r0, r1] = style.rescale[ri]!, [g0, g1] = style.rescale[gi]!, [b0, b1] = style.rescale[bi]!;
    const rk = 255 / (r1 - r0), gk = 255 / (g1 - g0), bk = 255 / (b1 - b0);
    const [rs, gs, bs, as] = LITTLE_ENDIAN ? [0, 8, 16, 24] : [24, 16, 8, 0];
    for (let i = 0; i < n; i++) {
      if (!valid[i]) continue;
      words[i] = ((255 << as) | (stretch(r[i]!, r0, rk) << rs) | (stretch(g[i]!, g0, gk) << gs) | (stretch(b[i]!, b0, bk) << bs)) >>> 0;
    }
    return { size: warped.size, rgba };
  }
}

/** A value linearly mapped onto 0..255, rounded half up and clamped. */
function stretch(value: number, lo: number, k: number): number {
  const v = (value - lo) * k;
  return v <= 0 ? 0 : v >= 255 ? 255 : (v + 0.5) | 0;
}
