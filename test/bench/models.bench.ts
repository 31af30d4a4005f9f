/**
 * npm run bench:models — how fast each installed model runs on this machine's CPU, alone and
 * through the pipeline on a scene it suits.
 *
 *   npm run bench:models -- [--threads 2] [--tile 512] [--batch 1]
 *
 * Model alone: a batch of real tiles cut from its scene, timed over a few runs after a warm-up
 * (the floor the pipeline is measured against). Pipeline: `satseg segment` of the whole scene,
 * process start included. Scenes come from ../shared: NAIP for spectral-water, the Sentinel-2
 * chip for dynamic-world, the Sentinel-1 chip for sar-water, a Dubai image (as a 1 m GeoTIFF)
 * for aerial-landcover.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { WorkerModel } from '../../server/src/infer/worker-model.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { cutTile } from '../../server/src/plan/cut-tile.ts';
import { selectBands } from '../../server/src/segment/band-selection.ts';
import { repoRoot, scenesDir } from '../helpers/shared-data.ts';
import { dubaiImage, dubaiScene } from '../helpers/dubai.ts';

const run = promisify(execFile);
const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : fallback; };
const threads = Number(opt('threads', '2'));
const tile = Number(opt('tile', '512'));
const batch = Number(opt('batch', '1'));
const work = path.join(os.tmpdir(), 'satseg-bench-models');
fs.mkdirSync(work, { recursive: true });

const dubai = path.join(work, 'dubai-8-1.tif');
if (!fs.existsSync(dubai) && fs.existsSync(dubaiImage(8, 1).image)) await dubaiScene(dubaiImage(8, 1).image, dubai);
const scenes: Record<string, string> = {
  'spectral-water': path.join(scenesDir, 'naip_2020.tif'),
  'dynamic-world': path.join(scenesDir, 'sen1floods11_spain_s2.tif'),
  'sar-water': path.join(scenesDir, 'sen1floods11_spain_s1.tif'),
  'aerial-landcover': dubai,
};

const cpu = os.cpus();
console.log(`bench:models ${new Date().toISOString().slice(0, 10)} on ${cpu.length} x ${cpu[0]?.model}, Node ${process.version}; ${threads} threads, ${tile} px tiles, batch ${batch}, CPU`);
const registry = new ModelRegistry();
for (const entry of registry.list()) {
  if (!entry.spec) continue;
  const spec = entry.spec;
  const scene = scenes[spec.id];
  if (!scene || !fs.existsSync(scene)) { console.log(`${spec.id}: no scene for it (${scene ?? 'none'}), skipped`); continue; }
  const source = await openRaster(scene);
  const bands = selectBands(spec, source.info).bands;
  const plane = spec.inputChannels * tile * tile;
  const input = new Float32Array(batch * plane);
  const block = await source.read({ x: 0, y: 0, width: source.info.width, height: Math.min(source.info.height, tile) }, { bands });
  for (let i = 0; i < batch; i++) cutTile(block, source.info.width, source.info.height, 0, 0, tile, { scale: spec.inputScale, mean: spec.mean, std: spec.std }, input, i * plane);
  await source.close();
  const model = await WorkerModel.open(spec, { device: 'cpu', threads });
  await model.run(input.slice(), batch, tile, tile);
  const runs = 3;
  const t0 = performance.now();
  for (let r = 0; r < runs; r++) await model.run(input.slice(), batch, tile, tile);
  const alone = (performance.now() - t0) / 1000 / runs;
  await model.close();
  const out = path.join(work, `${spec.id}.tif`);
  const t1 = performance.now();
  const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), 'segment', scene, '-m', spec.id, '-o', out, '--json', '--no-progress', '--device', 'cpu', '--threads', String(threads), '--batch', String(batch), '--force'], { cwd: repoRoot, maxBuffer: 1 << 24 });
  const wall = (performance.now() - t1) / 1000;
  const s = JSON.parse(stdout) as { width: number; height: number; tiles: { total: number }; seconds: number };
  fs.rmSync(out, { force: true });
  console.log(`${spec.id.padEnd(17)} model alone ${(alone * 1000).toFixed(0)} ms per ${batch} x ${tile}² (${((batch * tile * tile) / 1e6 / alone).toFixed(2)} Mpx/s) | pipeline on ${path.basename(scene)} (${s.width} x ${s.height}, ${s.tiles.total} tiles): ${s.seconds.toFixed(1)} s in-process, ${wall.toFixed(1)} s with process start (${((s.width * s.height) / 1e6 / wall).toFixed(2)} Mpx/s)`);
}
