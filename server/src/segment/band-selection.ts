/**
 * Which scene bands feed the model, in which order.
 */
import type { RasterInfo } from '../read/raster.ts';
import type { ModelSpec } from '../infer/model-spec.ts';

export class BandSelectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BandSelectionError';
  }
}

export interface BandChoice {
  /** 1-based scene band indexes, one per model input channel. */
  bands: number[];
  /** How they were chosen, for the log and the summary. */
  how: string;
}

function needs(spec: ModelSpec): string {
  const n = spec.inputChannels;
  const names = spec.bands.names.length ? ` (${spec.bands.names.join(', ')})` : '';
  return `model ${spec.id} needs ${n} band${n === 1 ? '' : 's'}${names}`;
}

/**
 * Explicit bands win; then the model's band names matched against the scene's band descriptions or
 * colour interpretation; then a sensor mapping; then the first N non-alpha bands (so an RGBN aerial
 * scene feeds an RGB model its R, G, B).
 */
export function selectBands(spec: ModelSpec, info: RasterInfo, explicit?: number[], sensor?: string): BandChoice {
  const n = spec.inputChannels;
  if (explicit && explicit.length) {
    if (explicit.length !== n) throw new BandSelectionError(`${needs(spec)}; ${explicit.length} band${explicit.length === 1 ? ' was' : 's were'} given (${explicit.join(',')})`);
    const bad = explicit.find((b) => !Number.isInteger(b) || b < 1 || b > info.bandCount);
    if (bad !== undefined) throw new BandSelectionError(`band ${bad} does not exist: the scene has ${info.bandCount} band${info.bandCount === 1 ? '' : 's'}`);
    return { bands: explicit, how: `bands ${explicit.join(',')} as given` };
  }
  if (sensor) {
    const mapping = spec.bands.sensors[sensor];
    if (!mapping) throw new BandSelectionError(`model ${spec.id} has no band mapping for sensor "${sensor}"; known: ${Object.keys(spec.bands.sensors).join(', ') || 'none'}`);
    const bad = mapping.find((b) => b > info.bandCount);
    if (bad !== undefined) throw new BandSelectionError(`${needs(spec)} as ${sensor} bands ${mapping.join(',')}; the scene has only ${info.bandCount}`);
    return { bands: mapping, how: `${sensor} bands ${mapping.join(',')}` };
  }
  if (spec.bands.names.length) {
    const matched = spec.bands.names.map((name) => {
      const want = name.toLowerCase();
      const hit = info.bands.find((b) => b.description?.toLowerCase() === want)
        ?? info.bands.find((b) => b.colorInterp === want);
      return hit?.index;
    });
    if (matched.every((m) => m !== undefined)) {
      return { bands: matched as number[], how: `matched by name (${spec.bands.names.map((nm, i) => `${nm}=${matched[i]}`).join(', ')})` };
    }
  }
  const usable = info.bands.filter((b) => b.colorInterp !== 'alpha').map((b) => b.index);
  if (usable.length < n) {
    throw new BandSelectionError(`${needs(spec)}; the scene has ${usable.length} usable band${usable.length === 1 ? '' : 's'}${usable.length !== info.bandCount ? ` (plus alpha)` : ''}`);
  }
  return { bands: usable.slice(0, n), how: `first ${n} band${n === 1 ? '' : 's'} (${usable.slice(0, n).join(',')})` };
}
