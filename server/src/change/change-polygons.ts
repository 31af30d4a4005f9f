/**
 * Polygons of what changed: the vectorize stage run on a change mask with only the changed codes
 * selected, so unchanged pixels make no polygon (and no boundary to trace), and each polygon says
 * which class it was and which it became.
 */
import path from 'node:path';
import { openRaster } from '../read/open-raster.ts';
import { openClassPolygons } from '../vectorize/vectorize-mask.ts';
import { GeoJsonFileWriter } from '../vectorize/geojson-writer.ts';
import { checkOutputPath } from '../write/atomic-file.ts';
import { DEFAULT_MIN_AREA_M2, DEFAULT_SIMPLIFY_PX } from '../vectorize/vectorize-defaults.ts';
import { changeMaskClasses } from './change-classes.ts';
import { ChangeError } from '../errors.ts';
import { changedCodes, transitionName, transitionOf } from './transition-codes.ts';

export interface ChangePolygonOptions {
  /** Drop polygons and fill holes smaller than this (m²); the vectorize default unless given. */
  minAreaM2?: number;
  /** Simplification tolerance in pixels; 0 keeps exact pixel edges. */
  simplifyPx?: number;
  signal?: AbortSignal;
  /** Refuse changes that make more polygons than this (absent: no limit). */
  maxFeatures?: number;
}

export interface ChangePolygonSummary {
  output: string;
  features: number;
  /** Polygon count per transition name ("water → vegetation"). */
  featuresByTransition: Record<string, number>;
  minAreaM2: number;
  simplifyPx: number;
  seconds: number;
}

/** Throws unless `file` can take change polygons (GeoJSON in an existing folder). */
export function checkChangeVectorOutput(file: string): void {
  if (!/\.(geo)?json$/i.test(file)) throw new ChangeError('bad-option', `unsupported output ${path.basename(file)}: change polygons are written as GeoJSON (.geojson, EPSG:4326)`);
  checkOutputPath(file);
}

/**
 * Write the changed regions of a change mask as GeoJSON (EPSG:4326); each feature carries `class`
 * ("water → vegetation"), `class_id` (the code), `from`, `to`, `from_id`, `to_id` and `area_m2`.
 */
export async function changePolygons(mask: string, out: string, options: ChangePolygonOptions = {}): Promise<ChangePolygonSummary> {
  const started = performance.now();
  checkChangeVectorOutput(out);
  const source = await openRaster(mask);
  const classes = await (async () => {
    try {
      return changeMaskClasses(mask, source.info);
    } finally {
      await source.close();
    }
  })();
  const sink = await GeoJsonFileWriter.create(out, undefined, (code) => {
    const { from, to, from_id, to_id } = transitionOf(code, classes);
    return { from, to, from_id, to_id };
  });
  const byCode = new Map<number, number>();
  let features = 0;
  try {
    const codes = changedCodes(classes.names.length);
    // One class: nothing can change, and an empty selection would mean "every class" to vectorize.
    if (codes.length) {
      const stream = await openClassPolygons(mask, 'wgs84', {
        classes: codes.map(String), minAreaM2: options.minAreaM2, simplifyPx: options.simplifyPx, signal: options.signal, maxFeatures: options.maxFeatures,
      });
      for await (const batch of stream.batches) await sink.write(batch);
      features = stream.stats.features;
      for (const [code, n] of stream.stats.byClass) byCode.set(code, n);
    }
    await sink.finish();
  } catch (err) {
    await sink.abort();
    throw err;
  }
  return {
    output: out,
    features,
    featuresByTransition: Object.fromEntries([...byCode.entries()].sort((a, b) => a[0] - b[0]).map(([code, n]) => [transitionName(transitionOf(code, classes)), n])),
    minAreaM2: options.minAreaM2 ?? DEFAULT_MIN_AREA_M2,
    simplifyPx: options.simplifyPx ?? DEFAULT_SIMPLIFY_PX,
    seconds: (performance.now() - started) / 1000,
  };
}
