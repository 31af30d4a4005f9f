/**
 * Class-mask tiles in the model's palette. Always nearest neighbour, and zoomed-out tiles read the
 * mask's mode-built overviews, so every pixel shows a true class colour; averaging would blend two
 * classes into the colour of a third.
 */
import type { TileImage } from '../../read/raster-reader.ts';
import type { RgbaTile, TileRenderer } from './tile-renderer.ts';
import { RequestError } from '../../errors.ts';

export interface ClassStyle {
  colors: Array<[number, number, number]>;
  /** Class ids to draw; others are transparent. */
  visible: Set<number>;
  /** 0..255. */
  alpha: number;
}

/** `classes=` accepts names or ids, comma-separated. */
export function parseClassFilter(text: string | undefined, names: string[]): Set<number> {
  if (text === undefined || text === '') return new Set(names.map((_, i) => i));
  const ids = new Set<number>();
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const byName = names.indexOf(part);
    const id = byName >= 0 ? byName : /^\d+$/.test(part) ? Number(part) : -1;
    if (id < 0 || id >= names.length) throw new RequestError(`unknown class "${part}"; classes are: ${names.join(', ')}`);
    ids.add(id);
  }
  if (!ids.size) throw new RequestError(`classes names no class ("${text}"); classes are: ${names.join(', ')}`);
  return ids;
}

export function parseOpacity(text: string | undefined): number {
  if (text === undefined || text === '') return 255;
  const v = Number(text);
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new RequestError(`opacity must be between 0 and 1 (got "${text}")`);
  return Math.round(v * 255);
}

export class ClassRenderer implements TileRenderer {
  readonly bands = [1];
  readonly resampling = 'nearest' as const;

  constructor(private readonly style: ClassStyle) {}

  paint(warped: TileImage): RgbaTile {
    const { colors, visible, alpha } = this.style;
    const n = warped.size * warped.size;
    const rgba = new Uint8Array(n * 4);
    const ids = warped.bands[0]!;
    for (let i = 0; i < n; i++) {
      if (!warped.valid[i]) continue;
      const id = ids[i]!;
      if (!visible.has(id)) continue;
      const c = colors[id];
      if (!c) continue;
      rgba[4 * i] = c[0]; rgba[4 * i + 1] = c[1]; rgba[4 * i + 2] = c[2]; rgba[4 * i + 3] = alpha;
    }
    return { size: warped.size, rgba };
  }
}
