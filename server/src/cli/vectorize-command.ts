/**
 * `satseg vectorize <mask.tif> --out <file.geojson|file.fgb> [--classes a,b] [--min-area m2] [--simplify px]`
 */
import path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_MIN_AREA_M2, DEFAULT_SIMPLIFY_PX } from '../vectorize/vectorize-defaults.ts';
import { z } from 'zod';
import type { VectorizeSummary } from '../vectorize/vectorize-mask.ts';
import { cliMaxFeatures, numberFlag, openCommandRaster, parseFlags } from './cli-options.ts';
import { RasterError } from '../errors.ts';

export const VectorizeFlags = z.object({
  out: z.string().min(1),
  classes: z.string().transform((t) => t.split(',').map((c) => c.trim()).filter(Boolean))
    .refine((list) => list.length > 0, 'needs at least one class name or id').optional(),
  minArea: numberFlag.default(DEFAULT_MIN_AREA_M2),
  simplify: numberFlag.default(DEFAULT_SIMPLIFY_PX),
  json: z.boolean().optional(),
});

export type VectorizeCommandOptions = z.input<typeof VectorizeFlags>;

export async function runVectorize(mask: string, options: VectorizeCommandOptions): Promise<VectorizeSummary> {
  const o = parseFlags(VectorizeFlags, options);
  const classes = o.classes;
  const minAreaM2 = o.minArea;
  const simplifyPx = o.simplify;
  // Loaded when the command runs, so registering it costs `satseg` nothing at start-up.
  const { vectorizeMask } = await import('../vectorize/vectorize-mask.ts');
  await (await openCommandRaster(mask)).close();
  try {
    return await vectorizeMask({ mask, out: o.out, classes, minAreaM2, simplifyPx, maxFeatures: cliMaxFeatures() });
  } catch (err) {
    // Errors about the mask's own content name it, as segment's name its scene ("no such file" alone said nothing).
    if (err instanceof RasterError) throw Object.assign(err, { message: `${path.basename(mask)}: ${err.message}` });
    throw err;
  }
}

export function formatVectorizeSummary(s: VectorizeSummary): string {
  const perClass = Object.entries(s.featuresByClass).map(([name, n]) => `${name} ${n}`).join(', ');
  const dropped = s.droppedSmall ? `, ${s.droppedSmall} polygons under ${s.minAreaM2} m² dropped` : '';
  const filled = s.filledHoles ? `, ${s.filledHoles} small holes filled` : '';
  return `Vectorized ${path.basename(s.mask)} (${s.width} x ${s.height} px): ${s.features} features (${perClass || 'none'})${dropped}${filled}; `
    + `simplify ${s.simplifyPx} px; ${s.seconds.toFixed(2)} s, peak memory ${s.peakRssMb} MB. `
    + `Wrote ${s.output} (${s.format === 'geojson' ? 'GeoJSON' : 'FlatGeobuf'}, ${s.crs}).`;
}

export function registerVectorizeCommand(program: Command): void {
  program
    .command('vectorize')
    .description('turn a class mask into polygons (GeoJSON in WGS 84, or FlatGeobuf in the mask CRS)')
    .argument('<mask>', 'single-band integer class raster (e.g. satseg segment output)')
    .requiredOption('-o, --out <file>', 'output .geojson (EPSG:4326, RFC 7946) or .fgb (native CRS)')
    .option('--classes <list>', 'only these classes, by name or id, e.g. building,water')
    .option('--min-area <m2>', 'drop polygons and fill holes smaller than this many m²', String(DEFAULT_MIN_AREA_M2))
    .option('--simplify <px>', 'topology-preserving simplification tolerance in pixels (0 = exact pixel edges)', String(DEFAULT_SIMPLIFY_PX))
    .option('--json', 'print the summary as one JSON object')
    .action(async (mask: string, o: VectorizeCommandOptions) => {
      const summary = await runVectorize(mask, o);
      process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : `${formatVectorizeSummary(summary)}\n`);
    });
}
