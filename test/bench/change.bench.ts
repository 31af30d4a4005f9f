/**
 * `npx tsx test/bench/change.bench.ts` (npm run bench:change): how much comparing two masks costs
 * over the floor of reading them.
 *
 * Builds two 8192 x 8192 class masks of one synthetic landscape in a temp dir with CogWriter: the
 * before mask in UTM 33N at 10 m, the after mask in EPSG:4326 at about 10 x 10 m with some of the
 * landscape changed, offset so the two overlap on about 95 % of the before mask (the reprojecting
 * path, the expensive one). Then, each in a fresh child process
 * (so neither inherits the other's decoded-block cache), runs interleaved:
 *   floor:   read both masks fully, strip by strip, the two reads of a strip concurrent and the
 *            next strip's prefetched, nodata left in the values as compare reads them (the best
 *            the reader does);
 *   compare: compareMasks writing the change COG (reads, resampling, codes, tally, COG writing);
 *   write:   only writing that change COG again from memory (the share of compare that is output).
 *   gdal:    the peer, when GDAL's tools are installed: the same change COG the way an analyst
 *            would make it with GDAL alone, each tool with its threads on (gdalwarp -r near onto the
 *            compared window of the before grid, gdal_calc.py for the codes, gdal_translate -of COG
 *            with mode overviews), timed as processes; it makes no statistics. Its codes are
 *            compared with ours pixel by pixel.
 * Prints each run's in-process seconds, wall (with start-up) and peak RSS, the ratio of the
 * medians, compare / floor (target <= 1.5), and the satseg command's place against GDAL's chain.
 *
 * Options: --runs N (default 3), --size N (default 8192). BENCH_KEEP=DIR writes the masks into DIR
 * and leaves them there (for profiling one step on its own).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../fixtures/seeded-random.ts';
import { compiledCliIsCurrent } from '../../bin/compiled-cli.js';
import { gdalPython, hasGdal } from '../helpers/shared-data.ts';

const self = fileURLToPath(import.meta.url);
const STRIP_ROWS = 256;

/**
 * The modules every child runs: the compiled dist/ when it is current (what the installed `satseg`
 * command runs; the comparison's writer thread then starts without tsx), else the sources.
 */
const compiled = compiledCliIsCurrent();
const module = (name: string) => (compiled ? `../../dist/${name}.js` : `../../server/src/${name}.ts`);

if (process.argv[2] === '--child') {
  const [mode, before, after, out] = process.argv.slice(3);
  // Modules load before the clock starts: start-up is in the wall time printed beside.
  const { openRaster } = await import(module('read/open-raster')) as typeof import('../../server/src/read/open-raster.ts');
  const { compareMasks } = await import(module('change/compare-masks')) as typeof import('../../server/src/change/compare-masks.ts');
  const { CogWriter } = await import(module('write/cog-writer')) as typeof import('../../server/src/write/cog-writer.ts');
  // For 'write': the change mask `before` held in memory first (untimed).
  const held: Uint8Array[] = [];
  const heldSource = mode === 'write' ? await openRaster(before!) : null;
  if (heldSource) {
    const { width, height } = heldSource.info;
    for (let y = 0; y < height; y += STRIP_ROWS) held.push((await heldSource.read({ x: 0, y, width, height: Math.min(STRIP_ROWS, height - y) }, { bands: [1] })).bands[0] as Uint8Array);
  }
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  let detail: Record<string, unknown> = {};
  if (mode === 'floor') {
    const sources = await Promise.all([openRaster(before!), openRaster(after!)]);
    const height = Math.max(...sources.map((s) => s.info.height));
    const readStrip = (y: number) => Promise.all(sources.map((s) => (y < s.info.height
      ? s.read({ x: 0, y, width: s.info.width, height: Math.min(STRIP_ROWS, s.info.height - y) }, { bands: [1], nodataInvalid: false })
      : Promise.resolve(null))));
    let pixels = 0;
    let next = readStrip(0);
    for (let y = 0; y < height; y += STRIP_ROWS) {
      const blocks = await next;
      if (y + STRIP_ROWS < height) next = readStrip(y + STRIP_ROWS);
      for (const b of blocks) pixels += b ? b.width * b.height : 0;
    }
    await Promise.all(sources.map((s) => s.close()));
    detail = { pixels };
  } else if (heldSource) {
    const { width, height, geoTransform, colorMap, metadata } = heldSource.info;
    const writer = await CogWriter.create(out!, {
      width, height, geoTransform, geoKeys: { epsg: 32633, geographic: false }, nodata: 255, overviewResampling: 'mode', colorMap: colorMap ?? undefined, metadata,
    });
    for (let i = 0, y = 0; y < height; y += STRIP_ROWS, i++) await writer.writeRows(held[i]!, Math.min(STRIP_ROWS, height - y));
    await writer.finish();
    detail = { pixels: width * height };
  } else {
    const r = await compareMasks({ before: before!, after: after!, out: out! });
    detail = { window: r.window, valid: r.statistics.valid_pixels, changedShare: r.statistics.changed_share };
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  process.stdout.write(`${JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, ...detail })}\n`);
  process.exit(0);
}

const { CogWriter } = await import('../../server/src/write/cog-writer.ts');
const { converter, transformableProj4, WGS84 } = await import('../../server/src/read/crs-transform.ts');
const { crsFromEpsg } = await import('../../server/src/read/crs.ts');
type GeoTransform = [number, number, number, number, number, number];

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || fallback : fallback);
const runs = option('--runs', 3);
const size = option('--size', 8192);
const tmp = process.env.BENCH_KEEP ?? fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-bench-change-'));
if (!process.env.BENCH_KEEP) process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const load = () => `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores`;

/** A smooth random field over the ground: bilinear value noise on a lattice of `cell` metres. */
function valueNoise(seed: number, cell: number, extent: number): (e: number, n: number) => number {
  const rand = seededRandom(seed);
  const side = Math.ceil(extent / cell) + 3;
  const lattice = Float64Array.from({ length: side * side }, () => rand());
  return (e, n) => {
    const fx = e / cell + 1;
    const fy = n / cell + 1;
    const ix = Math.floor(fx);
    const iy = Math.floor(fy);
    const tx = fx - ix;
    const ty = fy - iy;
    const k = iy * side + ix;
    const top = lattice[k]! + (lattice[k + 1]! - lattice[k]!) * tx;
    const bottom = lattice[k + side]! + (lattice[k + side + 1]! - lattice[k + side]!) * tx;
    return top + (bottom - top) * ty;
  };
}

/**
 * A class mask of one landscape seen at one date: three classes from a smooth field over the
 * ground (regions hundreds of metres to kilometres across, so the two dates' masks agree where
 * nothing changed), `change` of a second field added for the after date, 3 % of pixels speckled
 * like a classifier's noise, and a nodata stripe every 1024 rows. It compresses about as well as a
 * real mask (the spectral-water mask of naip_2020 compresses 9x). `ground` maps a pixel to metres
 * on the ground (an affine fit is enough for a synthetic landscape).
 */
async function writeLandscapeMask(file: string, gt: GeoTransform, epsg: number, geographic: boolean, ground: (x: number, y: number) => [number, number], change: number, seed: number): Promise<void> {
  const extent = size * 12;
  const broad = valueNoise(1, 2000, extent);
  const fine = valueNoise(2, 300, extent);
  const changed = valueNoise(3, 1500, extent);
  const writer = await CogWriter.create(file, {
    width: size, height: size, geoTransform: gt, geoKeys: { epsg, geographic }, nodata: 255, overviewResampling: 'mode',
    colorMap: [[31, 120, 180], [51, 160, 44], [177, 89, 40]],
    metadata: { CLASS_NAMES: '["water","vegetation","other"]', CLASS_COLORS: '["#1f78b4","#33a02c","#b15928"]', MODEL: 'bench' },
  });
  const rows = new Uint8Array(STRIP_ROWS * size);
  let hash = seed * 0x9e3779b1;
  for (let y = 0; y < size; y += STRIP_ROWS) {
    const n = Math.min(STRIP_ROWS, size - y);
    for (let r = 0; r < n; r++) {
      const yy = y + r;
      const o = r * size;
      if (yy % 1024 < 24) { rows.fill(255, o, o + size); continue; }
      for (let x = 0; x < size; x++) {
        hash = Math.imul(hash ^ (hash >>> 15), 0x2c1b3c6d) + x;
        if ((hash & 0xff) < 8) { rows[o + x] = (hash >>> 8) % 3; continue; }
        const [e, nn] = ground(x + 0.5, yy + 0.5);
        const v = 0.7 * broad(e, nn) + 0.3 * fine(e, nn) + (change ? change * (changed(e, nn) - 0.5) : 0);
        rows[o + x] = v < 0.42 ? 0 : v < 0.6 ? 1 : 2;
      }
    }
    await writer.writeRows(rows, n);
  }
  await writer.finish();
}

interface Run { seconds: number; cpuSeconds: number; wall: number; rssMb: number; detail: Record<string, unknown> }

function child(mode: 'floor' | 'compare' | 'write', before: string, after: string, out: string): Run {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, '--import', 'tsx', self, '--child', mode, before, after, out], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${mode} failed: ${r.stderr}`);
  const [wall, rssKb] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  const detail = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown> & { seconds: number; cpuSeconds: number };
  return { seconds: detail.seconds, cpuSeconds: detail.cpuSeconds, wall: wall!, rssMb: Math.round(rssKb! / 1024), detail };
}

console.log(`bench:change — ${os.cpus()[0]?.model ?? 'cpu'}; ${load()} (other jobs may be running)`);
console.log(`(the children run ${compiled ? 'the compiled dist/' : 'the TypeScript sources through tsx: dist/ is missing or older than server/src, run npm run build'})`);
const before = path.join(tmp, 'before.tif');
const after = path.join(tmp, 'after.tif');
let t0 = performance.now();
const x0 = 400000;
const y0 = 5_000_000;
await writeLandscapeMask(before, [x0, 10, 0, y0, 0, -10], 32633, false, (x, y) => [10 * x, 10 * (size - y)], 0, 1);
// The after mask: lon/lat pixels spanning the before mask's extent, its corner 3 % east and 2 % south.
const toWgs = converter(transformableProj4(crsFromEpsg(32633)), WGS84);
const [west, north] = toWgs.forward([x0, y0]);
const [east, south] = toWgs.forward([x0 + size * 10, y0 - size * 10]);
const px = (east! - west!) / size;
const py = (north! - south!) / size;
const afterGt: GeoTransform = [west! + 0.03 * (east! - west!), px, 0, north! - 0.02 * (north! - south!), 0, -py];
// The after pixel grid on the ground, as an affine fit through three exactly projected points.
const toUtm = converter(WGS84, transformableProj4(crsFromEpsg(32633)));
const onGround = (x: number, y: number) => { const [e, n] = toUtm.forward([afterGt[0] + x * afterGt[1], afterGt[3] + y * afterGt[5]]); return [e! - x0, n! - (y0 - size * 10)]; };
const [g0, gx, gy] = [onGround(0, 0), onGround(size, 0), onGround(0, size)];
const afterGround = (x: number, y: number): [number, number] => [
  g0[0]! + ((gx[0]! - g0[0]!) * x + (gy[0]! - g0[0]!) * y) / size,
  g0[1]! + ((gx[1]! - g0[1]!) * x + (gy[1]! - g0[1]!) * y) / size,
];
await writeLandscapeMask(after, afterGt, 4326, true, afterGround, 0.35, 2);
const mb = (f: string) => fs.statSync(f).size / 1e6;
console.log(`masks: ${size} x ${size} each (before EPSG:32633 10 m, after EPSG:4326 ${(px * 3600).toFixed(3)}" x ${(py * 3600).toFixed(3)}"), `
  + `${mb(before).toFixed(1)} + ${mb(after).toFixed(1)} MB (${(size * size / 1e6 / mb(before)).toFixed(1)}x compression), written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const floor: Run[] = [];
const compare: Run[] = [];
const write: Run[] = [];
t0 = performance.now();
for (let i = 0; i < runs; i++) {
  floor.push(child('floor', before, after, ''));
  compare.push(child('compare', before, after, path.join(tmp, 'change.tif')));
  write.push(child('write', path.join(tmp, 'change.tif'), '', path.join(tmp, 'rewritten.tif')));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const show = (name: string, xs: Run[]) => console.log(`  ${name.padEnd(8)} in-process ${xs.map((x) => x.seconds.toFixed(2)).join(', ')} s (median ${median(xs.map((x) => x.seconds)).toFixed(2)}); `
  + `CPU (all threads) median ${median(xs.map((x) => x.cpuSeconds)).toFixed(2)} s; wall with start-up median ${median(xs.map((x) => x.wall)).toFixed(2)} s; peak RSS median ${median(xs.map((x) => x.rssMb))} MB`);
console.log(`\n${runs} runs each, interleaved, each in a fresh process:`);
show('floor', floor);
show('compare', compare);
show('write', write);
console.log('  (write: only writing the change COG that compare wrote, from memory: a part of compare the floor does not include)');
const c = compare[0]!.detail;
console.log(`  compared window ${JSON.stringify(c.window)}, ${c.valid} valid pixels, ${(100 * Number(c.changedShare)).toFixed(1)} % changed; change COG ${(fs.statSync(path.join(tmp, 'change.tif')).size / 1e6).toFixed(1)} MB`);
const ratio = median(compare.map((x) => x.seconds)) / median(floor.map((x) => x.seconds));
const cpuRatio = median(compare.map((x) => x.cpuSeconds)) / median(floor.map((x) => x.cpuSeconds));
console.log(`\nratio compare / floor (in-process medians): ${ratio.toFixed(2)} (target <= 1.5); CPU-time ratio ${cpuRatio.toFixed(2)}`);
console.log(`  ${load()}`);

/** A command's wall and CPU seconds (all its threads), by /usr/bin/time. */
function timed(cmd: string, args: string[]): { wall: number; cpu: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const [wall, user, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { wall: wall!, cpu: user! + sys! };
}

if (!hasGdal) {
  console.log('\nGDAL (gdal-bin, python3-gdal) not installed: no peer figure (.ci/run installs it)');
} else {
  // The compared window of the before grid, in metres (EPSG:32633, 10 m pixels from x0, y0).
  const w = compare[0]!.detail.window as { x: number; y: number; width: number; height: number };
  const [xmin, ymax] = [x0 + w.x * 10, y0 - w.y * 10];
  const [xmax, ymin] = [xmin + w.width * 10, ymax - w.height * 10];
  const beforeWindow = path.join(tmp, 'gdal-before.vrt');
  const warped = path.join(tmp, 'gdal-warped.tif');
  const codes = path.join(tmp, 'gdal-codes.tif');
  const gdalChange = path.join(tmp, 'gdal-change.tif');
  const gdalCalc = execFileSync('which', ['gdal_calc.py'], { encoding: 'utf8' }).trim();
  const chain = () => {
    for (const f of [beforeWindow, warped, codes, gdalChange]) fs.rmSync(f, { force: true });
    // Intermediates uncompressed (the before window a VRT): the fastest GDAL hands one tool's output to the next.
    const steps = [
      timed('gdal_translate', ['-q', '-of', 'VRT', '-srcwin', `${w.x}`, `${w.y}`, `${w.width}`, `${w.height}`, before, beforeWindow]),
      timed('gdalwarp', ['-q', '-multi', '-wo', 'NUM_THREADS=ALL_CPUS', '-r', 'near', '-t_srs', 'EPSG:32633', '-te', `${xmin}`, `${ymin}`, `${xmax}`, `${ymax}`, '-tr', '10', '10', '-co', 'TILED=YES', after, warped]),
      timed(gdalPython, [gdalCalc, '--quiet', '-A', beforeWindow, '-B', warped,
        '--calc=where((A>=3)|(B>=3),255,A*3+B)', '--NoDataValue=255', '--type=Byte', '--co', 'TILED=YES', '--outfile', codes]),
      timed('gdal_translate', ['-q', '-of', 'COG', '-co', 'COMPRESS=DEFLATE', '-co', 'RESAMPLING=MODE', '-co', 'NUM_THREADS=ALL_CPUS', codes, gdalChange]),
    ];
    return { wall: steps.reduce((t, x) => t + x.wall, 0), cpu: steps.reduce((t, x) => t + x.cpu, 0), steps: steps.map((x) => x.wall) };
  };
  const peer = Array.from({ length: runs }, chain);
  const peerWall = median(peer.map((x) => x.wall));
  const oursWall = median(compare.map((x) => x.wall));
  console.log(`\ngdal     wall ${peer.map((x) => `${x.wall.toFixed(2)} (${x.steps.map((t) => t.toFixed(2)).join(' + ')})`).join(', ')} s `
    + `(median ${peerWall.toFixed(2)}; gdal_translate -of VRT (the window) + gdalwarp + gdal_calc.py + gdal_translate -of COG); CPU median ${median(peer.map((x) => x.cpu)).toFixed(2)} s`);
  console.log(`  compare with start-up / GDAL's chain: ${(oursWall / peerWall).toFixed(2)} (ours also counts the transition statistics)`);
  // Both codes, pixel by pixel: gdalwarp's default transforms positions to within 0.125 px, ours to
  // within 0.05. Against gdalwarp transforming every pixel exactly (-et 0; untimed), the after
  // class each of our valid pixels read should all but always be the same.
  const exact = path.join(tmp, 'gdal-warped-exact.tif');
  fs.rmSync(exact, { force: true });
  execFileSync('gdalwarp', ['-q', '-et', '0', '-r', 'near', '-t_srs', 'EPSG:32633', '-te', `${xmin}`, `${ymin}`, `${xmax}`, `${ymax}`, '-tr', '10', '10', after, exact]);
  const agreement = execFileSync(gdalPython, ['-c', `
from osgeo import gdal
import numpy as np
ours = gdal.Open(${JSON.stringify(path.join(tmp, 'change.tif'))}).ReadAsArray()
peer = gdal.Open(${JSON.stringify(gdalChange)}).ReadAsArray()
exact = gdal.Open(${JSON.stringify(exact)}).ReadAsArray()
valid = ours != 255
print(ours.shape == peer.shape == exact.shape and f"{(ours == peer).mean():.6f} {((ours % 3) == exact)[valid].mean():.6f}")
`], { encoding: 'utf8' }).trim();
  if (agreement === 'False') console.log('  GDAL\'s outputs are not the size of ours!');
  else {
    const [codesSame, afterSame] = agreement.split(' ').map(Number);
    console.log(`  pixels with the same code in both: ${(100 * codesSame!).toFixed(3)} %; our valid pixels whose after class is the one gdalwarp -et 0 (exact) picks: ${(100 * afterSame!).toFixed(4)} %`);
  }
}
