/**
 * What to call each class id of a mask.
 *
 * Our own masks carry CLASS_NAMES / CLASS_COLORS (JSON lists indexed by class id); our change masks
 * carry TRANSITION_NAMES as well, indexed by their values (transition codes), which name them. Other class
 * rasters rarely do, so we fall back, in order, to: CLASS_<id> items; a legend item with one
 * "<id> <name>" per line (ESA WorldCover writes one); the palette, naming a class by its colour when
 * that colour is unique; and finally the bare id.
 */
import type { DType, RasterInfo } from '../read/raster.ts';
import { VectorizeError } from '../errors.ts';
import { classMaskMetadata, jsonList } from '../write/class-mask.ts';

export interface ClassInfo {
  id: number;
  name: string;
  /** '#rrggbb', or null when the mask has no colour for it. */
  color: string | null;
}

export interface ClassCatalog {
  source: 'satseg' | 'legend' | 'palette' | 'ids';
  /** The classes the mask names (empty when only ids are known). */
  declared: ClassInfo[];
  name(id: number): string;
  color(id: number): string | null;
  /** Class ids for names or ids given by a user; throws a VectorizeError listing the valid names. */
  resolve(requested: string[]): number[];
}

function hex([r, g, b]: [number, number, number]): string {
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

function idRange(dtype: DType): [number, number] {
  switch (dtype) {
    case 'uint8': return [0, 255];
    case 'int8': return [-128, 127];
    case 'uint16': return [0, 65535];
    case 'int16': return [-32768, 32767];
    case 'uint32': return [0, 4294967295];
    default: return [-2147483648, 2147483647];
  }
}

function namesFromMetadata(metadata: Record<string, string>): { names: Map<number, string>; source: ClassCatalog['source'] } | null {
  const list = jsonList(metadata.TRANSITION_NAMES) ?? classMaskMetadata({ metadata })?.classNames;
  if (list) return { names: new Map(list.map((n, i) => [i, n])), source: 'satseg' };
  const items = Object.entries(metadata)
    .map(([k, v]) => [/^CLASS_(\d+)$/.exec(k)?.[1], v] as const)
    .filter((e): e is readonly [string, string] => e[0] !== undefined);
  if (items.length) return { names: new Map(items.map(([i, v]) => [Number(i), v])), source: 'satseg' };
  for (const [key, value] of Object.entries(metadata)) {
    if (!/legend/i.test(key)) continue;
    const names = new Map<number, string>();
    for (const raw of value.split('\n')) {
      // Trimmed first, and no class line is long: /\s*(\S.*?)\s*$/ was quadratic on a line of spaces.
      const line = raw.trim();
      if (line.length > 1000) continue;
      const m = /^(-?\d+)(?:\s*[:=-]\s*|\s+)(\S.*)$/.exec(line);
      if (m) names.set(Number(m[1]), m[2]!);
    }
    if (names.size >= 2) return { names, source: 'legend' };
  }
  return null;
}

export function classCatalog(info: RasterInfo): ClassCatalog {
  const palette = info.colorMap;
  const ourColors = classMaskMetadata(info)?.classColors ?? null;
  const colorOf = (id: number): string | null => {
    if (ourColors?.[id]) return ourColors[id]!;
    const entry = palette?.[id];
    return entry ? hex(entry) : null;
  };
  let names = new Map<number, string>();
  let source: ClassCatalog['source'] = 'ids';
  const fromMeta = namesFromMetadata(info.metadata);
  if (fromMeta) {
    ({ names, source } = fromMeta);
  } else if (palette) {
    const uses = new Map<string, number>();
    for (const entry of palette) uses.set(hex(entry), (uses.get(hex(entry)) ?? 0) + 1);
    palette.forEach((entry, id) => {
      if (id !== info.nodata && uses.get(hex(entry)) === 1) names.set(id, hex(entry));
    });
    if (names.size) source = 'palette';
  }
  const declared = [...names.entries()]
    .filter(([id]) => id !== info.nodata)
    .sort((a, b) => a[0] - b[0])
    .map(([id, name]) => ({ id, name, color: colorOf(id) }));
  const byName = new Map(declared.map((c) => [c.name.toLowerCase(), c.id]));
  const [lo, hi] = idRange(info.dtype);

  return {
    source,
    declared,
    name: (id) => names.get(id) ?? String(id),
    color: colorOf,
    resolve(requested) {
      return requested.map((raw) => {
        const token = raw.trim();
        const named = byName.get(token.toLowerCase());
        if (named !== undefined) return named;
        if (/^-?\d+$/.test(token) && Number(token) >= lo && Number(token) <= hi) return Number(token);
        const valid = declared.length
          ? `valid names: ${declared.map((c) => c.name).join(', ')} (or class ids)`
          : `this mask has no class names; use class ids (integers ${lo}..${hi})`;
        throw new VectorizeError('unknown-class', `unknown class "${token}" in --classes; ${valid}`);
      });
    },
  };
}
