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
