/**
 * Which scene bands feed the model, in which order.
 */
import type { BandInfo, RasterInfo } from '../read/raster.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import { BandSelectionError } from '../errors.ts';

/**
 * What identified the bands, strongest evidence first: the user's list, a sensor the user named,
 * band descriptions or colour interpretation, the model's guess for this band count, or nothing
 * at all (the first N bands).
 */
export type BandBasis = 'explicit' | 'sensor' | 'name' | 'description' | 'band-count' | 'first-bands';

export interface BandChoice {
  /** 1-based scene band indexes, one per model input channel. */
  bands: number[];
  /** How they were chosen, for the log and the summary. */
  how: string;
  basis: BandBasis;
  /** The model's sensor mapping used, for the 'sensor', 'description' and 'band-count' bases. */
  sensor?: string;
}

function needs(spec: ModelSpec): string {
  const n = spec.inputChannels;
  const names = spec.bands.names.length ? ` (${spec.bands.names.join(', ')})` : '';
  return `model ${spec.id} needs ${n} band${n === 1 ? '' : 's'}${names}`;
}

/** A band name as compared: lower case, Sentinel-2's zero padding dropped (ESA's B02 is B2, B8A stays). */
function normalName(name: string): string {
  return name.trim().toLowerCase().replace(/^b0(\d)$/, 'b$1');
}

/**
 * The band a name stands for: the one whose description is that name (ESA's B02 for B2); else the
 * one band whose description holds it as a word (SNAP's Sigma0_VH_db for VH, "NIR (band 4)"), when
 * exactly one does (several, as "Red" in "Red Edge 1", are no answer). Probe: a Sentinel-2 stack
 * named B02..B12 fell back to the 13-band order guess, and SNAP's VH,VV export was read as VV,VH.
 */
export function bandNamed(info: RasterInfo, name: string): number | undefined {
  const want = normalName(name);
  const exact = info.bands.find((b) => b.description !== null && normalName(b.description) === want);
  if (exact) return exact.index;
  const holding = info.bands.filter((b) => b.description !== null && b.description.toLowerCase().split(/[^a-z0-9]+/).map(normalName).includes(want));
  return holding.length === 1 ? holding[0]!.index : undefined;
}

/** What a band says it is: its description, else red, green or blue by colour interpretation; '' for nothing. */
export function bandSays(band: BandInfo): string {
  return band.description?.trim() || (['red', 'green', 'blue'].includes(band.colorInterp) ? band.colorInterp : '');
}

/** A sensor mapping resolved against a scene: band indexes, or null when a named band is missing. */
function resolveMapping(mapping: Array<number | string>, info: RasterInfo): number[] | null {
  const out: number[] = [];
  for (const entry of mapping) {
    if (typeof entry === 'number') {
      if (entry > info.bandCount) return null;
      out.push(entry);
    } else {
      const hit = bandNamed(info, entry);
      if (hit === undefined) return null;
      out.push(hit);
    }
  }
  return out;
}

/**
 * Explicit bands win; then a sensor the user names; then the model's band names matched against
 * the scene's band descriptions or colour interpretation; then a sensor mapping whose band names
 * the scene carries (Sentinel-2's B3, B8, ...); then the sensor the model assumes for this band
 * count; then the first N non-alpha bands (so an RGBN aerial scene feeds an RGB model its R, G, B).
 */
export function selectBands(spec: ModelSpec, info: RasterInfo, explicit?: number[], sensor?: string): BandChoice {
  const n = spec.inputChannels;
  if (explicit && explicit.length) {
    if (explicit.length !== n) throw new BandSelectionError(`${needs(spec)}; ${explicit.length} band${explicit.length === 1 ? ' was' : 's were'} given (${explicit.join(',')})`);
    const bad = explicit.find((b) => !Number.isInteger(b) || b < 1 || b > info.bandCount);
    if (bad !== undefined) throw new BandSelectionError(`band ${bad} does not exist: the scene has ${info.bandCount} band${info.bandCount === 1 ? '' : 's'}`);
    return { bands: explicit, how: `bands ${explicit.join(',')} as given`, basis: 'explicit' };
  }
  const sensors = spec.bands.sensors;
  if (sensor) {
    // Own keys only: "__proto__" or "toString" named the object's prototype (500 "mapping is not iterable").
    const mapping = Object.hasOwn(sensors, sensor) ? sensors[sensor] : undefined;
    if (!mapping) throw new BandSelectionError(`model ${spec.id} has no band mapping for sensor "${sensor}"; known: ${Object.keys(sensors).join(', ') || 'none'}`);
    const bands = resolveMapping(mapping, info);
    if (!bands) throw new BandSelectionError(`${needs(spec)} as ${sensor} bands ${mapping.join(',')}; the scene (${info.bandCount} bands) does not have them`);
    return { bands, how: `${sensor} bands ${bands.join(',')}`, basis: 'sensor', sensor };
  }
  if (spec.bands.names.length) {
    const matched = spec.bands.names.map((name) => bandNamed(info, name) ?? info.bands.find((b) => b.colorInterp === name.toLowerCase())?.index);
    if (matched.every((m) => m !== undefined)) {
      return { bands: matched as number[], how: `matched by name (${spec.bands.names.map((nm, i) => `${nm}=${matched[i]}`).join(', ')})`, basis: 'name' };
    }
  }
  for (const [id, mapping] of Object.entries(sensors)) {
    if (!mapping.every((e) => typeof e === 'string')) continue;
    const bands = resolveMapping(mapping, info);
    if (bands) return { bands, how: `${id} bands ${mapping.join(',')} by band description`, basis: 'description', sensor: id };
  }
  // Alpha bands after the image bands do not count (RGBN + alpha is a 4-band scene with a mask).
  const trailingAlpha = info.bands.length - info.bands.findLastIndex((b) => b.colorInterp !== 'alpha') - 1;
  const guess = spec.bands.byBandCount[String(info.bandCount)] ?? (trailingAlpha ? spec.bands.byBandCount[String(info.bandCount - trailingAlpha)] : undefined);
  if (guess) {
    const bands = resolveMapping(sensors[guess]!, info);
    if (bands) return { bands, how: `${guess} bands ${bands.join(',')}, assumed for a ${info.bandCount}-band scene (use --sensor or --bands otherwise)`, basis: 'band-count', sensor: guess };
  }
  const usable = info.bands.filter((b) => b.colorInterp !== 'alpha').map((b) => b.index);
  if (usable.length < n) {
    throw new BandSelectionError(`${needs(spec)}; the scene has ${usable.length} usable band${usable.length === 1 ? '' : 's'}${usable.length !== info.bandCount ? ` (plus alpha)` : ''}`);
  }
  return { bands: usable.slice(0, n), how: `first ${n} band${n === 1 ? '' : 's'} (${usable.slice(0, n).join(',')})`, basis: 'first-bands' };
}
