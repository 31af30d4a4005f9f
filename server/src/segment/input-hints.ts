/**
 * What a run says when the values it read do not look like what its model was made for: a hint,
 * not a change, given once the whole scene has been read (the 1st and 99th percentiles of each
 * chosen band's values, sampled by the tile batcher, stand for its lowest and highest). Real scenes
 * hold dark pixels (water, shadow, vegetation in red), so the low end says much; a scene of only
 * bright ground (snow, desert, cloud) can mislead it, which is why these are hints.
 * Besides, what is known before a pixel is read: bands taken by position alone, an offset added,
 * a product level the model was not made for (startNotices).
 */
import type { RasterInfo } from '../read/raster.ts';
import { bandSays, type BandChoice } from './band-selection.ts';
import type { BandOffsets } from './band-offset.ts';

/**
 * The value reflectance 0 has in products whose digital numbers carry an offset the file rarely
 * declares: Sentinel-2 from processing baseline 04.00 adds 1000; Landsat Collection 2 Level-2
 * surface reflectance is DN x 0.0000275 - 0.2, so 0 is DN 7272.7.
 */
const UNDECLARED_OFFSETS: Array<{ family: string; zero: number; what: string }> = [
  { family: 'sentinel2', zero: 1000, what: 'a Sentinel-2 product of processing baseline 04.00 or later (from 25 January 2022) adds 1000 to every value' },
  { family: 'landsat', zero: 0.2 / 0.0000275, what: 'Landsat Collection 2 Level-2 surface reflectance is DN x 0.0000275 - 0.2' },
];

/** The sensor family of a sensor id: "sentinel2-l1c-13" → sentinel2, "landsat8" → landsat. */
export function sensorFamily(sensor: string): string {
  const base = sensor.replace(/-.*$/, '');
  return /^landsat\d+$/.test(base) ? 'landsat' : base;
}

/** Whether a model's sensor mappings are all Sentinel-2 Level-1C ones (Dynamic World). */
function madeForL1C(modelSensors: string[]): boolean {
  return modelSensors.length > 0 && modelSensors.every((s) => /l1c/i.test(s));
}

/**
 * The hint for a run on `family` data whose chosen bands' lowest valid values are `lowest`, where
 * no offset was given or declared; null when the values look as the model expects.
 */
export function inputHint(family: string | undefined, bands: number[], lowest: ArrayLike<number>): string | null {
  if (!family || !bands.length) return null;
  const lows = Array.from({ length: bands.length }, (_, c) => lowest[c]!);
  if (!lows.every(Number.isFinite)) return null;
  if (family === 'sentinel1') {
    // Backscatter in dB is mostly negative (water -20, land -10): none below 0 is linear power or amplitude.
    return lows.every((v) => v >= 0)
      ? `no value of bands ${bands.join(',')} is negative, as backscatter in dB mostly is (water about -20, land about -10): this looks like linear sigma0 or amplitude, which the model misreads; convert it to dB (10 log10) first`
      : null;
  }
  const known = UNDECLARED_OFFSETS.find((k) => k.family === family);
  if (!known || !lows.every((v) => v >= known.zero)) return null;
  const zero = Number(known.zero.toPrecision(5));
  return `every value of bands ${bands.join(',')} is ${zero} or more, as in offset products (${known.what}): if this scene is one, the model misreads it; segment it with --offset ${-zero} (options.band_offset)`;
}

/**
 * A model that reads Sentinel-2 reflectance x 10000 (its sensor mappings all Level-1C: Dynamic
 * World; spectral-water's ratios read any scale) given values no higher than a few units: reflectance
 * 0-1, as SNAP and other tools export it as floats (probe: Dynamic World called 98.7 % of such a
 * scene trees).
 */
export function reflectanceScaleHint(modelSensors: string[], bands: number[], highest: ArrayLike<number>): string | null {
  if (!madeForL1C(modelSensors) || !bands.length) return null;
  const highs = Array.from({ length: bands.length }, (_, c) => highest[c]!);
  if (!highs.every((v) => Number.isFinite(v) && v <= 3)) return null;
  return `no value of bands ${bands.join(',')} is above ${Number(Math.max(...highs).toPrecision(3))}: this looks like reflectance from 0 to 1, and the model reads reflectance x 10000 (as in Sentinel-2 products); multiply the scene by 10000 first`;
}

/**
 * A model made for Sentinel-2 Level-1C (all its sensor mappings are L1C ones: Dynamic World) given
 * a scene whose name or metadata says Level-2A: surface reflectance has another distribution, and
 * the model misclassifies it without a word. Known only from what the file says of itself.
 */
export function productLevelHint(modelSensors: string[], sceneName: string, metadata: Record<string, string>): string | null {
  if (!madeForL1C(modelSensors)) return null;
  const said = [sceneName, ...Object.values(metadata)].find((v) => /MSIL2A|S2MSI2A|Level-2A|(^|[^a-z0-9])L2A([^a-z0-9]|$)/i.test(v));
  return said === undefined ? null : `the scene says it is Sentinel-2 Level-2A (surface reflectance${said === sceneName ? `: its name ${JSON.stringify(sceneName)}` : ', in its metadata'}); this model was made for Level-1C (top-of-atmosphere) values and misreads Level-2A ones: give it the Level-1C product of the same date`;
}

/** What a run is told of its input before it starts, in the order said. */
export function startNotices(o: { info: RasterInfo; choice: BandChoice; shift: BandOffsets; modelSensors: string[]; sceneName: string }): string[] {
  const { info, choice } = o;
  const notices: string[] = [];
  // Bands taken by their position alone are said where they are seen, not only in the summary:
  // a file in another order runs without a word otherwise (probe: Landsat read as NAIP). Only
  // where nothing names them: a NAIP file whose bands say Red, Green, Blue (and agree with the
  // guess, or it would have been refused) was told otherwise.
  const unnamed = choice.bands.every((b) => !bandSays(info.bands[b - 1]!));
  if ((choice.basis === 'band-count' || choice.basis === 'first-bands') && unnamed) notices.push(`nothing in the scene names its bands: ${choice.how}`);
  if (o.shift.notice) notices.push(o.shift.notice);
  const level = productLevelHint(o.modelSensors, o.sceneName, info.metadata);
  if (level) notices.push(level);
  return notices;
}

/**
 * What a run is told once the scene has been read: the hints above, from `quantile(channel, q)`
 * of the sampled values. No offset hint where an offset was given or declared (`offsetApplied`).
 */
export function valueNotices(o: { choice: BandChoice; modelSensors: string[]; offsetApplied: boolean; quantile: (channel: number, q: number) => number }): string[] {
  const { choice, modelSensors } = o;
  // A model whose sensors are all of one family (Dynamic World, sar-water) takes that family's
  // scenes, whatever picked the bands.
  const families = [...new Set(modelSensors.map(sensorFamily))];
  const family = choice.sensor ? sensorFamily(choice.sensor) : families.length === 1 ? families[0] : undefined;
  // The 1st and 99th percentiles of each band's sampled values stand for its lowest and highest.
  const low = choice.bands.map((_, c) => o.quantile(c, 0.01));
  const high = choice.bands.map((_, c) => o.quantile(c, 0.99));
  return [o.offsetApplied ? null : inputHint(family, choice.bands, low), reflectanceScaleHint(modelSensors, choice.bands, high)].filter((h): h is string => h !== null);
}
