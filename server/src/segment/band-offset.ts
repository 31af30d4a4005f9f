/**
 * What is added to each chosen band's values before the model: the scene's digital numbers are
 * not always on the scale a model was made for.
 *
 * Sentinel-2 products of processing baseline 04.00 and later (from 25 January 2022) add 1000 to
 * every digital number (RADIO_ADD_OFFSET / BOA_ADD_OFFSET = -1000). A scale cancels in a band
 * ratio; an offset does not: open water with green 500 and NIR 200 has NDWI 0.43, read with the
 * offset (1500 - 1200) / 2700 = 0.11, under spectral-water's threshold, and every band reads 0.1
 * reflectance too bright for Dynamic World. So:
 *  - the user's offset (`--offset`, options.band_offset) wins, for every chosen band;
 *  - else each band's own, where the file declares one (GDAL metadata OFFSET and SCALE, physical =
 *    value x scale + offset): offset / scale, in the file's own units, so that the model still
 *    sees digital numbers on its own scale;
 *  - else 0.
 */
import type { RasterInfo } from '../read/raster.ts';

export interface BandOffsets {
  /** Added to each chosen band's values (one per channel), before the model's own scaling. */
  offsets: number[];
  /** What was applied and why, for the run's notices; null when nothing is added. */
  notice: string | null;
}

/** Largest offset taken from a user: far beyond any sensor's digital numbers (16-bit: 65535). */
export const MAX_BAND_OFFSET = 1e6;

export function bandOffsets(info: Pick<RasterInfo, 'bands'>, bands: number[], explicit?: number): BandOffsets {
  if (explicit !== undefined) {
    return { offsets: bands.map(() => explicit), notice: explicit ? `${explicit} is added to the values of bands ${bands.join(',')} before the model (--offset / band_offset)` : null };
  }
  const declared = bands.map((b) => {
    const band = info.bands[b - 1];
    const offset = band?.offset ?? 0;
    const scale = band?.scale ?? 1;
    return offset && Number.isFinite(offset / scale) && scale !== 0 ? offset / scale : 0;
  });
  if (declared.every((o) => o === 0)) return { offsets: declared, notice: null };
  const said = bands.map((b, i) => `${b}: ${Number(declared[i]!.toPrecision(6))}`).join(', ');
  return {
    offsets: declared,
    notice: `the scene declares offsets for its bands (GDAL metadata OFFSET / SCALE), added to their values before the model (band ${said}); --offset / band_offset sets another (0: none)`,
  };
}

/**
 * Digital numbers that carry an offset the file does not declare, by sensor: the value a
 * reflectance of 0 has. Sentinel-2 from processing baseline 04.00 adds 1000; Landsat Collection 2
 * Level-2 surface reflectance is DN x 0.0000275 - 0.2, so 0 is DN 7272.7.
 */
const UNDECLARED_OFFSETS: Array<{ sensor: RegExp; zero: number; what: string }> = [
  { sensor: /^sentinel2/, zero: 1000, what: 'a Sentinel-2 product of processing baseline 04.00 or later (from 25 January 2022) adds 1000 to every value' },
  { sensor: /^landsat[89]/, zero: 0.2 / 0.0000275, what: 'Landsat Collection 2 Level-2 surface reflectance is DN x 0.0000275 - 0.2' },
];

/**
 * A hint when no offset was applied and every chosen band's lowest valid value is at least what
 * reflectance 0 is for the sensor's offset products: real scenes hold dark pixels (water, shadow,
 * vegetation in red) far below it, so values that never go under it are most likely offset. A
 * hint, not a change: a scene of only bright ground (snow, desert, cloud) can do the same.
 */
export function undeclaredOffsetHint(sensor: string | undefined, bands: number[], lowest: ArrayLike<number>): string | null {
  const known = sensor ? UNDECLARED_OFFSETS.find((k) => k.sensor.test(sensor)) : undefined;
  if (!known || !bands.length) return null;
  for (let c = 0; c < bands.length; c++) if (!(lowest[c]! >= known.zero && Number.isFinite(lowest[c]!))) return null;
  const offset = -Number(known.zero.toPrecision(6));
  return `every value of bands ${bands.join(',')} is ${Number(known.zero.toPrecision(6))} or more, as in offset products (${known.what}): if this scene is one, the model misreads it; segment it with --offset ${offset} (options.band_offset)`;
}
