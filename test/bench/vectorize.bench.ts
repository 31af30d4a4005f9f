/**
 * `npm run bench:vectorize`: vectorize against gdal_polygonize.py in the same run.
 *
 * 1. The 4096 x 4096 crop of ESA WorldCover N00E006 at (4099, 31700) (9654 polygons in GDAL): wall
 *    time of `gdal_polygonize.py -f GeoJSON` vs ours, each as a fresh process writing GeoJSON, runs
 *    interleaved so background load hits both alike. Ours is timed exact (--simplify 0 --min-area 0,
 *    like GDAL) and with the defaults. We also report our in-process time (without Node/tsx start-up).
 * 2. The full 36000 x 36000 mask, streamed with the defaults: time and peak RSS, also with a small
 *    reader block cache to show how much of the peak is that cache.
 * 3. The worst case for memory: a 1000 x 1000 checkerboard of 1 m pixels, every pixel its own
 *    polygon (1,000,000), to GeoJSON and to FlatGeobuf, ours against gdal_polygonize.py: time and
 *    peak RSS (ours held 4 GB on a 2000² one before polygons were written in batches).
 *
 * Every run is timed by /usr/bin/time: wall, CPU (user + sys; steadier than wall when other jobs
 * share the machine) and peak RSS.
 *
 * Options: --runs N (default 3), --no-full (skip step 2), --gdal-full (also time GDAL on the full mask),
 * --no-speckled (skip step 3).
 * Our runs use a child that imports only the vectorize stage, as `satseg vectorize` does once main.ts
 * loads command modules lazily; the bench also times `node bin/satseg.js vectorize` when it exists.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === '--child') {
  // Child mode: one vectorize run; prints its summary with the process's own peak RSS.
  const { vectorizeMask } = await import('../../server/src/vectorize/vectorize-mask.ts');
  const [mask, out, simplify, minArea] = process.argv.slice(3);
  const summary = await vectorizeMask({ mask: mask!, out: out!, simplifyPx: Number(simplify), minAreaM2: Number(minArea) });
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exit(0);
}

const { gdalPython, hasGdal, hasShared, repoRoot, scenesDir } = await import('../helpers/shared-data.ts');

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] ?? 3) || 3;
const doFull = !args.includes('--no-full');
const gdalFull = args.includes('--gdal-full');
const doSpeckled = !args.includes('--no-speckled');
const worldcover = path.join(scenesDir, 'esa_worldcover_2021_N00E006.tif');
if (!hasShared || !hasGdal || !fs.existsSync(worldcover)) {
  console.log(`bench:vectorize needs ../shared (${worldcover}) and GDAL (gdal-bin, python3-gdal); skipping.`);
  process.exit(0);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-bench-vectorize-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function load(): string {
  return `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores`;
}

interface Timing { wall: number; cpu: number; rssMb: number; stdout: string }

/** Run a command under /usr/bin/time: wall and CPU (user + sys) seconds and peak RSS. */
function timed(cmd: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Timing {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', cmd, ...argv], { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed: ${r.stderr}`);
  const [wall, user, sys, rssKb] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { wall: wall!, cpu: user! + sys!, rssMb: Math.round(rssKb! / 1024), stdout: r.stdout };
}

interface ChildSummary { seconds: number; features: number; featuresByClass: Record<string, number> }

function ours(mask: string, out: string, simplify: number, minArea: number, env?: NodeJS.ProcessEnv): Timing & { summary: ChildSummary } {
  const r = timed(process.execPath, ['--import', 'tsx', self, '--child', mask, out, String(simplify), String(minArea)], env);
  return { ...r, summary: JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildSummary };
}

const gdalPolygonize = execFileSync('which', ['gdal_polygonize.py'], { encoding: 'utf8' }).trim();
function gdal(mask: string, out: string, format = 'GeoJSON'): Timing {
  fs.rmSync(out, { force: true });
  return timed(gdalPython, [gdalPolygonize, '-q', '-f', format, mask, out]);
}

function gdalCount(file: string): number {
  // Keep the dataset referenced while its layer is used (GDAL's Python bindings crash otherwise).
  return Number(execFileSync(gdalPython, ['-c', `from osgeo import ogr; ds = ogr.Open(${JSON.stringify(file)}); print(ds.GetLayer().GetFeatureCount())`], { encoding: 'utf8' }).trim());
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (s: number) => `${s.toFixed(2)} s`;

console.log(`bench:vectorize — ${os.cpus()[0]?.model ?? 'cpu'}; ${load()} (other jobs may be running)`);
const crop = path.join(tmp, 'worldcover_4096.tif');
execFileSync('gdal_translate', ['-q', '-srcwin', '4099', '31700', '4096', '4096', worldcover, crop]);

const satsegCli = path.join(repoRoot, 'bin/satseg.js');
const cliHasVectorize = /^\s+vectorize\b/m.test(spawnSync(process.execPath, [satsegCli, '--help'], { encoding: 'utf8' }).stdout ?? '');

const t = { gdal: [] as Timing[], exact: [] as Timing[], exactIn: [] as number[], defaults: [] as Timing[], defaultsIn: [] as number[], cli: [] as Timing[] };
let exactSummary: ChildSummary | null = null;
let defaultSummary: ChildSummary | null = null;
for (let i = 0; i < runs; i++) {
  t.gdal.push(gdal(crop, path.join(tmp, 'gdal.geojson')));
  const e = ours(crop, path.join(tmp, 'exact.geojson'), 0, 0);
  t.exact.push(e);
  t.exactIn.push(e.summary.seconds);
  exactSummary = e.summary;
  const d = ours(crop, path.join(tmp, 'defaults.geojson'), 1, 20);
  t.defaults.push(d);
  t.defaultsIn.push(d.summary.seconds);
  defaultSummary = d.summary;
  if (cliHasVectorize) t.cli.push(timed(process.execPath, [satsegCli, 'vectorize', crop, '--out', path.join(tmp, 'cli.geojson'), '--simplify', '0', '--min-area', '0']));
}
const gdalPolygons = gdalCount(path.join(tmp, 'gdal.geojson'));
const wall = (xs: Timing[]) => median(xs.map((x) => x.wall));
const cpu = (xs: Timing[]) => median(xs.map((x) => x.cpu));
const g = { wall: wall(t.gdal), cpu: cpu(t.gdal) };
const row = (name: string, xs: Timing[], extra: string) =>
  console.log(`  ${name.padEnd(42)} wall ${fmt(wall(xs))} (${(wall(xs) / g.wall).toFixed(2)}x)  cpu ${fmt(cpu(xs))} (${(cpu(xs) / g.cpu).toFixed(2)}x)  peak RSS ${median(xs.map((x) => x.rssMb))} MB  ${extra}`);
console.log(`\n4096 x 4096 crop (4099, 31700), GeoJSON output, medians of ${runs} runs (ratios vs GDAL):`);
row('gdal_polygonize.py -f GeoJSON', t.gdal, `${gdalPolygons} polygons`);
row('ours, exact (--simplify 0 --min-area 0)', t.exact, `${exactSummary!.features} polygons; in-process ${fmt(median(t.exactIn))} (${(median(t.exactIn) / g.wall).toFixed(2)}x GDAL wall)`);
row('ours, defaults (--simplify 1 --min-area 20)', t.defaults, `${defaultSummary!.features} polygons; in-process ${fmt(median(t.defaultsIn))} (${(median(t.defaultsIn) / g.wall).toFixed(2)}x GDAL wall)`);
if (cliHasVectorize) row('node bin/satseg.js vectorize (exact)', t.cli, '(includes main.ts start-up)');
else console.log('  (bin/satseg.js has no vectorize command yet: not timed)');
console.log(`  walls: gdal ${t.gdal.map((x) => fmt(x.wall)).join(', ')}; exact ${t.exact.map((x) => fmt(x.wall)).join(', ')}; defaults ${t.defaults.map((x) => fmt(x.wall)).join(', ')}`);
console.log(`  ${load()}`);

if (doFull) {
  console.log('\nfull 36000 x 36000 mask, streamed, defaults (--simplify 1 --min-area 20):');
  const full = ours(worldcover, path.join(tmp, 'full.geojson'), 1, 20);
  console.log(`  ours: wall ${fmt(full.wall)}, cpu ${fmt(full.cpu)}, peak RSS ${full.rssMb} MB, ${full.summary.features} polygons`);
  const small = ours(worldcover, path.join(tmp, 'full-small-cache.geojson'), 1, 20, { ...process.env, SATSEG_BLOCK_CACHE_MB: '64' });
  console.log(`  ours with SATSEG_BLOCK_CACHE_MB=64 (reader block cache, default 128; 64 holds one row of its blocks): wall ${fmt(small.wall)}, peak RSS ${small.rssMb} MB`);
  if (gdalFull) {
    const r = gdal(worldcover, path.join(tmp, 'gdal-full.geojson'));
    console.log(`  gdal_polygonize.py: wall ${fmt(r.wall)}, cpu ${fmt(r.cpu)}, peak RSS ${r.rssMb} MB, ${gdalCount(path.join(tmp, 'gdal-full.geojson'))} polygons`);
  }
  console.log(`  ${load()}`);
}

if (doSpeckled) {
  console.log('\n1000 x 1000 checkerboard of 1 m pixels (1,000,000 one-pixel polygons), exact (--simplify 0 --min-area 0):');
  const board = path.join(tmp, 'checkerboard.tif');
  execFileSync(gdalPython, ['-c', [
    'from osgeo import gdal, osr; import numpy as np',
    'n = 1000; a = (np.indices((n, n)).sum(0) % 2).astype("uint8")',
    `d = gdal.GetDriverByName("GTiff").Create(${JSON.stringify(board)}, n, n, 1, gdal.GDT_Byte, ["TILED=YES", "COMPRESS=DEFLATE"])`,
    'd.SetGeoTransform([400000, 1, 0, 5000000, 0, -1]); s = osr.SpatialReference(); s.ImportFromEPSG(32633); d.SetProjection(s.ExportToWkt())',
    'd.GetRasterBand(1).WriteArray(a); d.GetRasterBand(1).SetNoDataValue(255); d = None',
  ].join('\n')]);
  for (const [format, ext] of [['GeoJSON', 'geojson'], ['FlatGeobuf', 'fgb']] as const) {
    const g2 = gdal(board, path.join(tmp, `board-gdal.${ext}`), format);
    const o = ours(board, path.join(tmp, `board.${ext}`), 0, 0);
    console.log(`  ${format.padEnd(10)} gdal_polygonize.py wall ${fmt(g2.wall)}, peak RSS ${g2.rssMb} MB, ${gdalCount(path.join(tmp, `board-gdal.${ext}`))} polygons; ours wall ${fmt(o.wall)} (${(o.wall / g2.wall).toFixed(2)}x), peak RSS ${o.rssMb} MB, ${o.summary.features} polygons`);
  }
  console.log(`  ${load()}`);
}
