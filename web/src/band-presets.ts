/**
 * The ways to show a dataset: true colour, false colour (NIR as red, so vegetation glows) when a
 * near-infrared band exists, and each band alone in grey.
 */
import type { Dataset, DatasetBand } from './api-types.ts';

export interface BandPreset {
  id: string;
  label: string;
  /** 1-based band numbers for `bands=` (1 or 3). */
  bands: number[];
}

type Role = 'red' | 'green' | 'blue' | 'nir';

function roleOf(b: DatasetBand): Role | null {
  const d = (b.description ?? '').toLowerCase();
  if (/\bnir\b|near[\s_-]?infra/.test(d)) return 'nir';
  if (/red[\s_-]?edge/.test(d)) return null;
  if (/^(b\d+\s*[-:(]?\s*)?red\b|^r$/.test(d)) return 'red';
  if (/^(b\d+\s*[-:(]?\s*)?green\b|^g$/.test(d)) return 'green';
  if (/^(b\d+\s*[-:(]?\s*)?blue\b|^b$/.test(d)) return 'blue';
  const ci = (b.color_interp ?? '').toLowerCase();
  if (ci === 'red' || ci === 'green' || ci === 'blue') return ci;
  return null;
}

/** A band that says nothing about itself (no description, grey or undefined colour). */
function unlabelled(b: DatasetBand): boolean {
  return !b.description && ['gray', 'grey', 'undefined', '', 'null'].includes(String(b.color_interp ?? '').toLowerCase());
}

function rgbLike(bands: DatasetBand[]): boolean {
  const [r, g, b] = bands;
  if (!r || !g || !b) return false;
  const named = roleOf(r) === 'red' && roleOf(g) === 'green' && roleOf(b) === 'blue';
  return named || [r, g, b].every(unlabelled);
}

/** The bands that carry data: every band but an alpha band. */
export function dataBands(dataset: Dataset): DatasetBand[] {
  return (dataset.bands ?? []).filter((b) => (b.color_interp ?? '').toLowerCase() !== 'alpha');
}

/**
 * Sentinel-2 stacks name their bands B1 ... B12 with a B8A (which no other sensor has), or, exported
 * whole, name nothing; then their band count and 16-bit reflectances give them away: 13 bands are
 * L1C in product order (B1, B2, B3, B4, B5, B6, B7, B8, B8A, B9, B10, B11, B12), 12 are L2A (no
 * B10). Returns the [red, green, blue, nir] band numbers (B4, B3, B2, B8), or null.
 */
function sentinel2Order(dataset: Dataset, bands: DatasetBand[]): [number, number, number, number] | null {
  const byName = new Map(bands.map((b) => [(b.description ?? '').trim().toUpperCase().replace(/^B0(\d)$/, 'B$1'), b.index]));
  if (byName.has('B8A')) {
    const [r, g, b, n] = ['B4', 'B3', 'B2', 'B8'].map((k) => byName.get(k));
    return r && g && b && n ? [r, g, b, n] : null;
  }
  const all = dataset.bands ?? [];
  if ((all.length !== 13 && all.length !== 12) || bands.length !== all.length || !all.every(unlabelled)) return null;
  if (!['uint16', 'int16'].includes(dataset.dtype ?? '')) return null;
  return [4, 3, 2, 8];
}

export function bandPresets(dataset: Dataset): BandPreset[] {
  const bands = dataBands(dataset);
  const find = (role: Role) => bands.find((b) => roleOf(b) === role)?.index;
  const presets: BandPreset[] = [];
  let red = find('red');
  let green = find('green');
  let blue = find('blue');
  let nir = find('nir');
  const s2 = sentinel2Order(dataset, bands);
  if ((!red || !green || !blue) && s2) [red, green, blue, nir] = s2;
  if ((!red || !green || !blue) && bands.length >= 3 && rgbLike(bands)) [red, green, blue] = [bands[0]!.index, bands[1]!.index, bands[2]!.index];
  if (red && green && blue) presets.push({ id: 'true-colour', label: `True colour (${red},${green},${blue})`, bands: [red, green, blue] });
  else if (bands.length >= 3) presets.push({ id: 'bands-1-2-3', label: `Bands ${bands[0]!.index},${bands[1]!.index},${bands[2]!.index}`, bands: bands.slice(0, 3).map((b) => b.index) });

  // An RGBN aerial scene (NAIP) usually labels nothing: four bands, the first three RGB-like.
  if (!nir && bands.length === 4 && rgbLike(bands) && unlabelled(bands[3]!)) nir = bands[3]!.index;
  if (nir && red && green) presets.push({ id: 'false-colour', label: `False colour (NIR ${nir},${red},${green})`, bands: [nir, red, green] });

  if (bands.length <= 16) {
    for (const b of bands) presets.push({ id: `band-${b.index}`, label: `Band ${b.index}${b.description ? ` (${b.description})` : ''}, grey`, bands: [b.index] });
  }
  return presets;
}
