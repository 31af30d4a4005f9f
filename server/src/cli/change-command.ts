/**
 * `satseg change BEFORE_MASK AFTER_MASK --out change.tif`, or
 * `satseg change --before pre.tif --after post.tif --model <id> --out change.tif`
 * (segments both scenes first, keeping the masks beside --out for the next run).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { ChangeProgress, ChangeResult } from '../change/compare-masks.ts';
import type { ChangePolygonSummary } from '../change/change-polygons.ts';
import type { Area } from '../segment/segment-area.ts';
import type { ModelSpec } from '../infer/model-spec.ts';
import type { Window } from '../read/raster.ts';
import { DEFAULT_MIN_AREA_M2, DEFAULT_SIMPLIFY_PX } from '../vectorize/vectorize-defaults.ts';
import { AreaError, UsageError } from '../errors.ts';

export interface ChangeCommandOptions {
  out: string;
  before?: string;
  after?: string;
  model?: string;
  area?: string;
  bbox?: string;
  vector?: string;
  stats?: string;
  minArea?: string;
  simplify?: string;
  device?: string;
  threads?: string;
  json?: boolean;
  progress?: boolean;
}

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

function nonNegative(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a number >= 0 (got "${value}")`);
  return n;
}

function checkOutputFile(file: string, flag: string): void {
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new UsageError(`${flag}: output folder does not exist: ${dir}`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UsageError(`${flag}: ${file} is a folder, not a file path`);
}

async function readArea(o: ChangeCommandOptions): Promise<Area | null> {
  if (!o.area && !o.bbox) return null;
  if (o.area && o.bbox) throw new UsageError('give --bbox or --area, not both');
  const flag = o.bbox ? '--bbox' : '--area';
  const { parseArea, repairArea } = await import('../segment/segment-area.ts');
  try {
    const bbox = o.bbox?.split(',').map((v) => Number(v.trim()));
    const geojson = o.area ? JSON.parse(fs.readFileSync(o.area, 'utf8')) : undefined;
    const area = parseArea(geojson, bbox);
    return area ? repairArea(area).area : null;
  } catch (err) {
    if (err instanceof AreaError) throw new UsageError(`${flag}: ${err.message}`);
    if (err instanceof SyntaxError || (err as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`--area: cannot read ${o.area}: ${(err as Error).message}`);
    throw err;
  }
}

/** `change.tif` → `change.before.tif`: where the masks of --before / --after scenes are kept. */
export function sceneMaskPath(out: string, which: 'before' | 'after'): string {
  const ext = path.extname(out);
  return `${ext ? out.slice(0, -ext.length) : out}.${which}${ext || '.tif'}`;
}

/** Why an existing mask cannot stand in for segmenting `scene`, or null when it can. */
async function staleReason(mask: string, scene: string, model: string, window: Window): Promise<string | null> {
  if (!fs.existsSync(mask)) return 'missing';
  if (fs.statSync(mask).mtimeMs <= fs.statSync(scene).mtimeMs) return `older than ${path.basename(scene)}`;
  const { openRaster } = await import('../read/open-raster.ts');
  const [m, s] = await Promise.all([openRaster(mask), openRaster(scene)]);
  try {
    if (m.info.metadata.MODEL !== model) return `made by model ${m.info.metadata.MODEL ?? 'unknown'}`;
    const mg = m.info.geoTransform;
    const sg = s.info.geoTransform;
    const ox = (mg[0] - sg[0]) / sg[1];
    const oy = (mg[3] - sg[3]) / sg[5];
    const sameGrid = m.info.crs.proj4 === s.info.crs.proj4 && Math.abs(mg[1] - sg[1]) < 1e-9 * Math.abs(sg[1]) && Math.abs(mg[5] - sg[5]) < 1e-9 * Math.abs(sg[5])
      && Math.abs(ox - Math.round(ox)) < 1e-6 && Math.abs(oy - Math.round(oy)) < 1e-6;
    if (!sameGrid) return `not on ${path.basename(scene)}'s grid`;
    const x = Math.round(ox);
    const y = Math.round(oy);
    const covers = x <= window.x && y <= window.y && x + m.info.width >= window.x + window.width && y + m.info.height >= window.y + window.height;
    return covers ? null : 'does not cover the area';
  } catch {
    return 'unreadable';
  } finally {
    await Promise.all([m.close(), s.close()]);
  }
}

/** Segment a scene into `mask` (only the area's window), unless an up-to-date mask is there. */
async function maskForScene(scene: string, mask: string, which: 'before' | 'after', spec: ModelSpec, area: Area | null, o: ChangeCommandOptions): Promise<SegmentedMask> {
  const started = performance.now();
  const { openRaster } = await import('../read/open-raster.ts');
  const { areaOnGrid } = await import('../segment/segment-area.ts');
  const source = await openRaster(scene);
  let window: Window = { x: 0, y: 0, width: source.info.width, height: source.info.height };
  try {
    if (area) {
      const grid = areaOnGrid(area, source.info.geoTransform, source.info.width, source.info.height, source.info.crs);
      if (!grid) throw new UsageError(`${o.bbox ? '--bbox' : '--area'} does not overlap ${path.basename(scene)}`);
      window = grid.window;
    }
  } finally {
    await source.close();
  }
  const stale = await staleReason(mask, scene, spec.id, window);
  if (!stale) {
    notice(`reusing ${mask} as the ${which} mask (model ${spec.id}, newer than ${path.basename(scene)})`);
    return { scene, mask, reused: true, seconds: (performance.now() - started) / 1000 };
  }
  if (stale !== 'missing') notice(`segmenting ${path.basename(scene)} again: ${mask} is ${stale}`);
  const { segmentScene } = await import('../segment/segment-scene.ts');
  const threads = o.threads === undefined ? undefined : Number(o.threads);
  let lastLine = 0;
  await segmentScene({
    input: scene,
    output: mask,
    model: spec,
    device: (o.device ?? 'auto') as 'auto' | 'cpu' | 'cuda',
    threads,
    window,
    onNotice: notice,
    onProgress: (p) => {
      if (o.progress === false || (p.tilesDone !== p.tilesTotal && Date.now() - lastLine < 5000)) return;
      lastLine = Date.now();
      process.stderr.write(`segmenting ${which}: ${p.tilesDone}/${p.tilesTotal} tiles, ${p.mpxPerSec.toFixed(2)} Mpx/s\n`);
    },
  });
  return { scene, mask, reused: false, seconds: (performance.now() - started) / 1000 };
}

async function writeJsonFile(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.satseg-tmp-${process.pid}`;
  await fs.promises.writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await fs.promises.rename(tmp, file);
}

export async function runChange(masks: string[], o: ChangeCommandOptions): Promise<ChangeCommandResult> {
  const scenes = o.before !== undefined || o.after !== undefined;
  if (scenes && masks.length) throw new UsageError('give two masks, or --before and --after scenes with --model, not both');
  if (scenes && (!o.before || !o.after || !o.model)) throw new UsageError('--before and --after scenes need each other and --model');
  if (!scenes && o.model) throw new UsageError('--model segments --before and --after scenes; two masks are compared as they are');
  if (!scenes && masks.length !== 2) throw new UsageError('give two masks (BEFORE AFTER), or --before and --after scenes with --model');
  const device = o.device ?? 'auto';
  if (!['auto', 'cpu', 'cuda'].includes(device)) throw new UsageError(`--device must be auto, cpu or cuda (got "${o.device}")`);
  if (o.threads !== undefined && !(Number.isInteger(Number(o.threads)) && Number(o.threads) > 0)) throw new UsageError(`--threads must be a positive integer (got "${o.threads}")`);
  checkOutputFile(o.out, '--out');
  if (o.stats) checkOutputFile(o.stats, '--stats');
  const minAreaM2 = nonNegative('--min-area', o.minArea, DEFAULT_MIN_AREA_M2);
  const simplifyPx = nonNegative('--simplify', o.simplify, DEFAULT_SIMPLIFY_PX);
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
    if (path.resolve(input) === path.resolve(o.out)) throw new UsageError(`--out must differ from the input ${input}`);
  }
  const area = await readArea(o);

  let segmented: ChangeCommandResult['segmented'];
  let [beforeMask, afterMask] = masks;
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
    segmented = {
      before: await maskForScene(o.before!, beforeMask, 'before', spec, area, o),
      after: await maskForScene(o.after!, afterMask, 'after', spec, area, o),
    };
  }

  const { compareMasks } = await import('../change/compare-masks.ts');
  let lastLine = 0;
  const result: ChangeCommandResult = await compareMasks({
    before: beforeMask!,
    after: afterMask!,
    out: o.out,
    area,
    onProgress: (p: ChangeProgress) => {
      if (o.progress === false || (p.rowsDone !== p.rowsTotal && Date.now() - lastLine < 5000)) return;
      lastLine = Date.now();
      process.stderr.write(`comparing: ${p.rowsDone}/${p.rowsTotal} rows\n`);
    },
  });
  if (segmented) result.segmented = segmented;
  if (o.vector) result.vector = await changePolygons(o.out, o.vector, { minAreaM2, simplifyPx });
  if (o.stats) {
    await writeJsonFile(o.stats, result.statistics);
    result.statsFile = o.stats;
  }
  return result;
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
    .option('--json', 'print the summary as one JSON object')
    .option('--no-progress', 'no progress lines')
    .action(async (masks: string[], o: ChangeCommandOptions) => {
      const result = await runChange(masks, o);
      process.stdout.write(o.json ? `${JSON.stringify(result)}\n` : `${formatChangeSummary(result)}\n`);
    });
}
