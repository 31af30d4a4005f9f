/**
 * `satseg change BEFORE_MASK AFTER_MASK --out change.tif`, or
 * `satseg change --before pre.tif --after post.tif --model <id> --out change.tif`
 * (segments both scenes first, keeping the masks beside --out for the next run).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { ChangeProgress, ChangeResult } from '../change/compare-masks.ts';
import type { ChangePolygonSummary } from '../change/change-polygons.ts';
import type { Area } from '../segment/segment-area.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import type { RasterInfo, Window } from '../read/raster.ts';
import type { PreparedJob } from '../segment/prepare-job.ts';
import type { GridSpec } from '../change/grid-mapping.ts';
import type { Model } from '../infer/model.ts';
import { z } from 'zod';
import { DEFAULT_MIN_AREA_M2, DEFAULT_SIMPLIFY_PX } from '../vectorize/vectorize-defaults.ts';
import { AreaError, BandSelectionError, RequestError, UsageError } from '../errors.ts';
import { replaceAtomically, temporaryPathBeside, writeFileAtomic } from '../write/atomic-file.ts';
import { bboxFlag, checkDistinctFiles, checkOutputPath, cliMaxFeatures, deviceFlag, intFlag, numberFlag, openCommandRaster, parseFlags, readAreaFile } from './cli-options.ts';

export const ChangeFlags = z.object({
  out: z.string().min(1),
  before: z.string().optional(),
  after: z.string().optional(),
  model: z.string().optional(),
  area: z.string().optional(),
  bbox: bboxFlag.optional(),
  vector: z.string().optional(),
  stats: z.string().optional(),
  minArea: numberFlag.optional(),
  simplify: numberFlag.optional(),
  device: deviceFlag.default('auto'),
  threads: intFlag(1, 1024).optional(),
  json: z.boolean().optional(),
  progress: z.boolean().optional(),
  force: z.boolean().optional(),
});

export type ChangeCommandOptions = z.input<typeof ChangeFlags>;
type ChangeFlagValues = z.output<typeof ChangeFlags>;

export interface SegmentedMask {
  scene: string;
  mask: string;
  /** True when an existing mask was used instead of segmenting again. */
  reused: boolean;
  seconds: number;
}

export interface ChangeCommandResult extends ChangeResult {
  /** The masks made (or reused) from --before / --after scenes. */
  segmented?: { before: SegmentedMask; after: SegmentedMask };
  vector?: ChangePolygonSummary;
  statsFile?: string;
}

const notice = (message: string) => process.stderr.write(`satseg: ${message}\n`);

async function readArea(o: ChangeFlagValues): Promise<Area | null> {
  if (!o.area && !o.bbox) return null;
  if (o.area && o.bbox) throw new UsageError('give --bbox or --area, not both');
  const flag = o.bbox ? '--bbox' : '--area';
  const { parseArea } = await import('../segment/segment-area.ts');
  const { repairAreaBounded } = await import('../segment/area-repair.ts');
  const geojson = o.area ? readAreaFile(o.area) : undefined;
  try {
    const area = parseArea(geojson, o.bbox);
    return area ? (await repairAreaBounded(area)).area : null;
  } catch (err) {
    if (err instanceof AreaError) throw new UsageError(`${flag}: ${err.message}`);
    throw err;
  }
}

/** `change.tif` → `change.before.tif`: where the masks of --before / --after scenes are kept. */
export function sceneMaskPath(out: string, which: 'before' | 'after'): string {
  const ext = path.extname(out);
  return `${ext ? out.slice(0, -ext.length) : out}.${which}${ext || '.tif'}`;
}

/**
 * The mask metadata item naming the area a scene mask was made for: pixels outside an area are
 * nodata, so a mask made for one area cannot stand in for another (or for none).
 */
export const MASK_AREA_ITEM = 'SATSEG_CHANGE_AREA';

/** The area's value of MASK_AREA_ITEM: 'none' for the whole scene, else a digest of the repaired area. */
export function maskAreaKey(area: Area | null): string {
  return area ? crypto.createHash('sha1').update(JSON.stringify(area)).digest('hex') : 'none';
}

/** Why an existing mask cannot stand in for segmenting `scene` for this area, or null when it can. */
async function staleReason(mask: string, scene: string, model: string, grid: RasterInfo, window: Window, areaKey: string): Promise<string | null> {
  if (!fs.existsSync(mask)) return 'missing';
  if (fs.statSync(mask).mtimeMs <= fs.statSync(scene).mtimeMs) return `older than ${path.basename(scene)}`;
  const { openRaster } = await import('../read/open-raster.ts');
  const m = await openRaster(mask);
  try {
    if (m.info.metadata.MODEL !== model) return `made by model ${m.info.metadata.MODEL ?? 'unknown'}`;
    // A mask of the whole scene serves any area; one made for an area only that area.
    const madeFor = m.info.metadata[MASK_AREA_ITEM];
    if (madeFor === undefined) return 'not known to have been made for this area';
    if (madeFor !== 'none' && madeFor !== areaKey) return areaKey === 'none' ? 'made for an area, not the whole scene' : 'made for another area';
    const mg = m.info.geoTransform;
    // The grid the model segments the scene on (the scene's own, or its block averages).
    const sg = grid.geoTransform;
    const ox = (mg[0] - sg[0]) / sg[1];
    const oy = (mg[3] - sg[3]) / sg[5];
    const sameGrid = m.info.crs.proj4 === grid.crs.proj4 && Math.abs(mg[1] - sg[1]) < 1e-9 * Math.abs(sg[1]) && Math.abs(mg[5] - sg[5]) < 1e-9 * Math.abs(sg[5])
      && Math.abs(ox - Math.round(ox)) < 1e-6 && Math.abs(oy - Math.round(oy)) < 1e-6;
    if (!sameGrid) return `not on ${path.basename(scene)}'s grid`;
    const x = Math.round(ox);
    const y = Math.round(oy);
    const covers = x <= window.x && y <= window.y && x + m.info.width >= window.x + window.width && y + m.info.height >= window.y + window.height;
    return covers ? null : 'does not cover the area';
  } catch {
    return 'unreadable';
  } finally {
    await m.close();
  }
}

/**
 * Prepare a scene as any job is prepared: the model must suit it (--force otherwise), and the area
 * gives the window and the pixels inside. Both scenes are prepared before either is segmented, so
 * a bad after scene fails before minutes are spent on the before one. Also gives the window's grid.
 */
async function prepareScene(scene: string, which: 'before' | 'after', spec: ModelSpec, area: Area | null, o: ChangeFlagValues): Promise<PreparedJob & { grid: GridSpec }> {
  const { RasterReader } = await import('../read/raster-reader.ts');
  const { prepareJob } = await import('../segment/prepare-job.ts');
  const { windowGrid } = await import('../change/grid-mapping.ts');
  const reader = new RasterReader(await openCommandRaster(scene));
  const role = `the ${which} scene ${path.basename(scene)}`;
  try {
    const prepared = await prepareJob(reader, spec, { area: area ?? undefined, allowUnsuitable: o.force });
    return { ...prepared, grid: windowGrid(prepared.info, prepared.window) };
  } catch (err) {
    if (err instanceof AreaError) throw new UsageError(`${o.bbox ? '--bbox' : '--area'}: ${role}: ${err.message}`);
    if (err instanceof RequestError || err instanceof BandSelectionError) throw new UsageError(`${role}: ${err.message.replace('options.allow_unsuitable', '--force')}`);
    throw err;
  } finally {
    await reader.close();
  }
}

/** Segment a prepared scene into `mask` (only the area's window), unless an up-to-date mask is there. */
async function maskForScene(scene: string, mask: string, which: 'before' | 'after', spec: ModelSpec, prepared: PreparedJob, areaKey: string, o: ChangeFlagValues, model: () => Promise<Model>): Promise<SegmentedMask> {
  const started = performance.now();
  const stale = await staleReason(mask, scene, spec.id, prepared.info, prepared.window, areaKey);
  if (!stale) {
    notice(`reusing ${mask} as the ${which} mask (model ${spec.id}, newer than ${path.basename(scene)})`);
    return { scene, mask, reused: true, seconds: (performance.now() - started) / 1000 };
  }
  if (stale !== 'missing') notice(`segmenting ${path.basename(scene)} again: ${mask} is ${stale}`);
  const { segmentScene } = await import('../segment/segment-scene.ts');
  let lastLine = 0;
  await segmentScene({
    input: scene,
    output: mask,
    model: spec,
    modelInstance: await model(),
    window: prepared.window,
    areaMask: prepared.areaMask,
    bandChoice: prepared.bands,
    metadata: { [MASK_AREA_ITEM]: areaKey },
    onNotice: notice,
    onProgress: (p) => {
      if (o.progress === false || (p.tilesDone !== p.tilesTotal && Date.now() - lastLine < 5000)) return;
      lastLine = Date.now();
      process.stderr.write(`segmenting ${which}: ${p.tilesDone}/${p.tilesTotal} tiles, ${p.mpxPerSec.toFixed(2)} Mpx/s\n`);
    },
  });
  return { scene, mask, reused: false, seconds: (performance.now() - started) / 1000 };
}

/** `yieldToModel`: as for runSegment; the `satseg` command sets it. */
export async function runChange(masks: string[], options: ChangeCommandOptions, { yieldToModel = false } = {}): Promise<ChangeCommandResult> {
  const o = parseFlags(ChangeFlags, options);
  const scenes = o.before !== undefined || o.after !== undefined;
  if (scenes && masks.length) throw new UsageError('give two masks, or --before and --after scenes with --model, not both');
  if (scenes && (!o.before || !o.after || !o.model)) throw new UsageError('--before and --after scenes need each other and --model');
  if (!scenes && o.model) throw new UsageError('--model segments --before and --after scenes; two masks are compared as they are');
  if (!scenes && masks.length !== 2) throw new UsageError('give two masks (BEFORE AFTER), or --before and --after scenes with --model');
  checkOutputPath(o.out, '--out');
  if (o.stats) checkOutputPath(o.stats, '--stats');
  const minAreaM2 = o.minArea ?? DEFAULT_MIN_AREA_M2;
  const simplifyPx = o.simplify ?? DEFAULT_SIMPLIFY_PX;
  const { checkChangeVectorOutput, changePolygons } = await import('../change/change-polygons.ts');
  if (o.vector) {
    try {
      checkChangeVectorOutput(o.vector);
    } catch (err) {
      throw new UsageError(`--vector: ${(err as Error).message}`);
    }
  }
  const inputs = scenes ? [o.before!, o.after!] : masks;
  for (const input of inputs) {
    if (!fs.existsSync(input)) throw new UsageError(`no such file: ${input}`);
  }
  // --out, --vector and --stats: none an input, no two the same.
  const outputs: Array<[string, string | undefined]> = [['--out', o.out], ['--vector', o.vector], ['--stats', o.stats]];
  checkDistinctFiles(inputs, outputs);
  const area = await readArea(o);

  let segmented: ChangeCommandResult['segmented'];
  let [beforeMask, afterMask] = masks;
  // Masks given as they are: within the raster limits before the comparison allocates for them.
  if (!scenes) for (const mask of masks) await (await openCommandRaster(mask)).close();
  if (scenes) {
    const { ModelRegistry } = await import('../infer/model-registry.ts');
    const { MAX_CHANGE_CLASSES } = await import('../change/change-classes.ts');
    const spec = new ModelRegistry().get(o.model!);
    // Known before segmenting anything: change codes at most 15 classes.
    if (spec.classNames.length > MAX_CHANGE_CLASSES) throw new UsageError(`model ${spec.id} has ${spec.classNames.length} classes; change can code at most ${MAX_CHANGE_CLASSES}`);
    beforeMask = sceneMaskPath(o.out, 'before');
    afterMask = sceneMaskPath(o.out, 'after');
    for (const mask of [beforeMask, afterMask]) {
      if (inputs.some((input) => path.resolve(input) === path.resolve(mask))) throw new UsageError(`--out ${o.out} would write its ${mask} mask over an input scene; choose another --out`);
    }
    checkDistinctFiles(inputs, [...outputs, ['the before mask (kept beside --out)', beforeMask], ['the after mask (kept beside --out)', afterMask]]);
    const prepared = {
      before: await prepareScene(o.before!, 'before', spec, area, o),
      after: await prepareScene(o.after!, 'after', spec, area, o),
    };
    // Two scenes that miss each other are refused before either is segmented.
    const { gridsOverlap } = await import('../change/grid-mapping.ts');
    if (!gridsOverlap(prepared.before.grid, prepared.after.grid)) {
      throw new UsageError(`the scenes do not overlap${area ? ' inside the area' : ''}: ${path.basename(o.after!)} covers none of ${path.basename(o.before!)}`);
    }
    // One model for both scenes, opened when the first needs it. Its threads are started once,
    // before this process's other threads yield to them: a second model's threads would be
    // started by a thread already at the lowest priority, and inherit it.
    const shared: { model?: Promise<Model> } = {};
    const model = () => (shared.model ??= import('../infer/worker-model.ts')
      .then(({ WorkerModel }) => WorkerModel.open(spec, { device: o.device, threads: o.threads, onNotice: notice, yieldCores: yieldToModel })));
    const areaKey = maskAreaKey(area);
    try {
      segmented = {
        before: await maskForScene(o.before!, beforeMask, 'before', spec, prepared.before, areaKey, o, model),
        after: await maskForScene(o.after!, afterMask, 'after', spec, prepared.after, areaKey, o, model),
      };
    } finally {
      // A model that failed to open has reported it already, through the segmentation that asked.
      await (await shared.model?.catch(() => null))?.close();
    }
  }

  const { compareMasks } = await import('../change/compare-masks.ts');
  let lastLine = 0;
  let result: ChangeCommandResult | undefined;
  // The change mask is put in place last, once its polygons and statistics are written: a run that
  // failed making polygons (over SATSEG_MAX_FEATURES) left a fresh --out, over any earlier one,
  // beside an exit status of 1.
  await replaceAtomically(o.out, async (pending) => {
    result = await compareMasks({
      before: beforeMask!,
      after: afterMask!,
      out: pending,
      area,
      onProgress: (p: ChangeProgress) => {
        if (o.progress === false || (p.rowsDone !== p.rowsTotal && Date.now() - lastLine < 5000)) return;
        lastLine = Date.now();
        process.stderr.write(`comparing: ${p.rowsDone}/${p.rowsTotal} rows\n`);
      },
    });
    result.output = o.out;
    if (o.vector) result.vector = await changePolygons(pending, o.vector, { minAreaM2, simplifyPx, maxFeatures: cliMaxFeatures() });
    if (o.stats) {
      await writeFileAtomic(o.stats, `${JSON.stringify(result.statistics, null, 2)}\n`);
      result.statsFile = o.stats;
    }
  }, temporaryPathBeside(o.out, '.tif'));
  if (segmented) result!.segmented = segmented;
  return result!;
}

/** km² to three significant digits, without exponents. */
function km2(m2: number): string {
  return `${Number((m2 / 1e6).toPrecision(3))} km²`;
}

export function formatChangeSummary(r: ChangeCommandResult): string {
  const s = r.statistics;
  const lines = [
    `Compared ${r.before} → ${r.after}${s.model ? ` (${s.model})` : ''} on the before grid, ${r.width} x ${r.height} px (${r.crs}): `
    + `${(s.changed_share * 100).toFixed(1)}% of ${km2(s.valid_area_m2)} compared changed (${km2(s.changed_area_m2)}).`,
  ];
  for (const c of s.per_class) {
    if (c.gained_m2 > 0) lines.push(`newly ${c.name}: ${km2(c.gained_m2)} (lost ${km2(c.lost_m2)}, net ${c.net_m2 >= 0 ? '+' : '-'}${km2(Math.abs(c.net_m2))})`);
  }
  // Ids beyond the class list (a mask not written by satseg, or damaged) are nodata in the change
  // mask and left out of every figure: said, not only counted in the statistics' unlisted_pixels.
  if (s.unlisted_pixels > 0) lines.push(`Note: ${s.unlisted_pixels.toLocaleString('en-US')} pixels hold class ids beyond the masks' ${s.classes.length} classes; they are nodata in the change mask and in no figure above.`);
  if (r.segmented) {
    const made = (m: SegmentedMask) => `${m.mask} ${m.reused ? 'reused' : `segmented from ${path.basename(m.scene)}`}`;
    lines.push(`Masks: ${made(r.segmented.before)}; ${made(r.segmented.after)}.`);
  }
  lines.push(`Wrote ${r.output} (COG, transition codes from * ${s.classes.length} + to, ${r.overviews} overview${r.overviews === 1 ? '' : 's'})`
    + (r.vector ? `, ${r.vector.features} change polygon${r.vector.features === 1 ? '' : 's'} to ${r.vector.output}` : '')
    + (r.statsFile ? `, statistics to ${r.statsFile}` : '')
    + ` in ${r.seconds.toFixed(1)} s.`);
  return lines.join('\n');
}

export function registerChangeCommand(program: Command): void {
  program
    .command('change')
    .description('compare a before and an after class mask (same model): a COG of transition codes, statistics and change polygons')
    .argument('[masks...]', 'BEFORE and AFTER class masks (satseg segment output); or give --before/--after scenes and --model')
    .requiredOption('-o, --out <file>', 'change mask (COG) on the before grid: each pixel is from * N + to for N classes '
      + '(unchanged pixels keep c * N + c and are drawn grey), 255 where either mask has no data')
    .option('--before <scene>', 'segment this scene as the before mask, kept beside --out (change.tif: change.before.tif) and reused while it is newer than the scene and made by --model')
    .option('--after <scene>', 'segment this scene as the after mask (change.tif: change.after.tif)')
    .option('-m, --model <id>', 'model for --before/--after (see `satseg models`)')
    .option('--bbox <w,s,e,n>', 'compare only this lon/lat box (EPSG:4326)')
    .option('--area <file.geojson>', 'compare only inside this Polygon/MultiPolygon (EPSG:4326)')
    .option('--vector <file.geojson>', 'also write the changed regions as polygons with from, to, from_id, to_id, area_m2 (EPSG:4326)')
    .option('--stats <file.json>', 'also write the statistics (transition matrix in pixels and m², gained/lost/net per class)')
    .option('--min-area <m2>', 'with --vector: drop polygons and fill holes smaller than this many m²', String(DEFAULT_MIN_AREA_M2))
    .option('--simplify <px>', 'with --vector: simplification tolerance in pixels (0 = exact pixel edges)', String(DEFAULT_SIMPLIFY_PX))
    .option('--device <device>', 'with --before/--after: auto | cpu | cuda', 'auto')
    .option('--threads <n>', 'with --before/--after: inference threads (default: all cores)')
    .option('--force', 'with --before/--after: run even when the model does not suit a scene (bands or resolution)')
    .option('--json', 'print the summary as one JSON object')
    .option('--no-progress', 'no progress lines')
    .action(async (masks: string[], o: ChangeCommandOptions) => {
      // The process ends with the comparison: its threads other than the model's may yield the cores.
      const result = await runChange(masks, o, { yieldToModel: true });
      process.stdout.write(o.json ? `${JSON.stringify(result)}\n` : `${formatChangeSummary(result)}\n`);
    });
}
