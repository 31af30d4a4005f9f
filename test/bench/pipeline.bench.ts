/**
 * npm run bench:pipeline — the whole segmentation path on large inputs built from a real scene.
 *
 *   npm run bench:pipeline -- [--model aerial-landcover] [--sizes 2048,8192,16384] [--timing 8192] [--batch 4]
 *
 * Inputs are naip_2020.tif (R,G,B,NIR, 934 x 723) upsampled with gdal_translate to N x N and given
 * the model's ground resolution, so no resampling happens, in a temp dir (kept between runs).
 * For the timing size it reports the total wall time, the wall time of the model alone on the same
 * number of the scene's tiles at the same tile, batch and threads (the floor), their ratio and
 * Mpx/s; for every size, the peak RSS of the whole process (each run is its own process).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { repoRoot, scenesDir } from '../helpers/shared-data.ts';

const run = promisify(execFile);
const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const modelId = opt('model', 'aerial-landcover');
const sizes = opt('sizes', '2048,8192,16384').split(',').map(Number);
const timingSize = Number(opt('timing', '8192'));
const batch = opt('batch', '4');
const scene = path.join(scenesDir, 'naip_2020.tif');
if (!fs.existsSync(scene)) { console.error(`bench:pipeline needs ${scene} (../shared)`); process.exit(1); }
const spec = new ModelRegistry().get(modelId);
const pixel = (spec.resolutionCm ?? 100) / 100;
const work = path.join(os.tmpdir(), 'satseg-bench-pipeline');
fs.mkdirSync(work, { recursive: true });

async function input(size: number): Promise<string> {
  const file = path.join(work, `naip-${size}-${pixel}m.tif`);
  if (!fs.existsSync(file)) {
    const [x0, y0] = [485899, 5209246];
    await run('gdal_translate', ['-q', '-outsize', String(size), String(size), '-r', 'bilinear', '-a_ullr', String(x0), String(y0), String(x0 + size * pixel), String(y0 - size * pixel),
      '-co', 'TILED=YES', '-co', 'COMPRESS=DEFLATE', '-co', 'BIGTIFF=IF_SAFER', scene, `${file}.tmp.tif`]);
    fs.renameSync(`${file}.tmp.tif`, file);
  }
  return file;
}

interface Summary { seconds: number; mpxPerSec: number; peakRssMb: number; tiles: { total: number; inferred: number }; tile: number; overlap: number; batch: number; device: string }

async function segment(file: string): Promise<Summary> {
  const out = path.join(work, 'out.tif');
  const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), 'segment', file, '-m', modelId, '-o', out, '--json', '--no-progress', '--device', 'cpu', '--batch', batch],
    { cwd: repoRoot, maxBuffer: 1 << 24 });
  fs.rmSync(out, { force: true });
  return JSON.parse(stdout) as Summary;
}

const cpu = os.cpus();
console.log(`bench:pipeline ${new Date().toISOString().slice(0, 10)} on ${cpu.length} x ${cpu[0]?.model}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GB RAM, Node ${process.version}; model ${modelId} (${pixel} m/px), batch ${batch}, CPU`);
console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

const results = new Map<number, Summary>();
for (const size of sizes) {
  const file = await input(size);
  const s = await segment(file);
  results.set(size, s);
  console.log(`${size} x ${size}: ${s.tiles.inferred} tiles of ${s.tile} px (overlap ${s.overlap}), ${s.seconds.toFixed(1)} s, ${s.mpxPerSec.toFixed(3)} Mpx/s, peak RSS ${s.peakRssMb} MB`);
}

const timed = results.get(timingSize) ?? (await segment(await input(timingSize)));
const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test/bench/model-floor.ts'), await input(timingSize), modelId, String(timed.tile), batch, String(timed.tiles.inferred)],
  { cwd: repoRoot, maxBuffer: 1 << 24 });
const floor = JSON.parse(stdout.trim().split('\n').pop()!) as { seconds: number; tiles: number };
console.log('');
console.log(`timing at ${timingSize} x ${timingSize} (${((timingSize * timingSize) / 1e6).toFixed(0)} Mpx):`);
console.log(`  total wall time          ${timed.seconds.toFixed(1)} s (${timed.mpxPerSec.toFixed(3)} Mpx/s)`);
console.log(`  model alone (the floor)  ${floor.seconds.toFixed(1)} s for the same ${floor.tiles} tiles, batch ${batch}`);
console.log(`  ratio total / floor      ${(timed.seconds / floor.seconds).toFixed(3)} (target <= 1.15)`);
const small = results.get(Math.min(...sizes));
const big = results.get(Math.max(...sizes));
if (small && big && small !== big) {
  console.log(`peak RSS ${Math.max(...sizes)}² / ${Math.min(...sizes)}²: ${(big.peakRssMb / small.peakRssMb).toFixed(2)} (target <= 1.5)`);
}
