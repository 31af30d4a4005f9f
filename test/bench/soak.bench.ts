/**
 * npm run bench:soak — does the server's memory plateau under a long mixed load?
 *
 *   npm run bench:soak -- [--minutes 10] [--sample-seconds 60] [--tile-clients 6] [--load tiles,uploads,jobs] [--zooms 14-19] [--scene file.tif] [--outside 0.25]
 *
 * One `satseg serve` in its own process (as users run it; the load generator stays out of its
 * memory) over a temp data folder with a synthetic 4096 x 4096 RGB scene (DEFLATE tiles, no
 * overviews) and the project's test model. For --minutes, at once:
 *   - tiles: --tile-clients loops of random PNG/WebP tiles of zooms minzoom..maxzoom+2 (the tile
 *     cache churns: there are several times more tiles than fit in it), and a share (--outside,
 *     0.25) of random tiles of zooms 10-20 anywhere on Earth, nearly all outside the scene (204),
 *     as a map panned past the data asks for;
 *   - uploads: a 600 x 400 GeoTIFF uploaded, drawn and deleted, and every third round an LZW bomb
 *     (refused with 400);
 *   - jobs: a small area job every few seconds, every third one cancelled at once, the others
 *     run to the end and their result deleted.
 * Every --sample-seconds it prints the server's RSS (with its JS heap, buffers and the rest, read
 * in the server by memory-probe.mjs). At the end: the ratio of the last sample to the one at the
 * third minute (target <= 1.2) and the errors (target 0): any unexpected status or failure.
 * Environment variables (SATSEG_TILE_CACHE_MB, MALLOC_ARENA_MAX, LD_PRELOAD...) reach the server.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn } from 'node:child_process';
import { tileRange } from '../../server/src/read/web-mercator.ts';
import { installTestModel } from '../fixtures/test-model.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { COMPRESSION, lzwBomb, writeTiledTiff } from '../fixtures/hostile-tiff.ts';
import { seededRandom } from '../fixtures/seeded-random.ts';
import { repoRoot } from '../../server/src/runtime-paths.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const minutes = Number(opt('minutes', '10'));
const sampleSeconds = Number(opt('sample-seconds', '60'));
const tileClients = Number(opt('tile-clients', '6'));
/** Which kinds of load run (all by default; fewer to tell which one holds memory). */
const load = new Set(opt('load', 'tiles,uploads,jobs').split(','));
/** Tile zooms (default the scene's minzoom..maxzoom+2); a narrow range makes nearly every request a cache hit. */
const zoomRange = opt('zooms', '');
/** A GeoTIFF to serve instead of the synthetic scene (e.g. ../shared/data/scenes/naip_2020.tif). */
const sceneFile = opt('scene', '');
const outside = Number(opt('outside', '0.25'));
const MB = 2 ** 20;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-soak-'));
const dataDir = path.join(work, 'data');
fs.mkdirSync(dataDir);
const models = installTestModel(path.join(work, 'models'));

/** A 4096 x 4096 RGB scene at 1 m in UTM 33N, pixel-interleaved 256-px DEFLATE tiles. */
function writeScene(file: string): void {
  const size = 4096;
  const tile = 256;
  const [r, g, b] = syntheticScene(size, size, 7);
  const across = size / tile;
  writeTiledTiff(file, {
    width: size, height: size, tileSize: tile, samples: 3, compression: COMPRESSION.deflate,
    geoTransform: [390000, 1, 0, 5820000, 0, -1], epsg: 32633,
    tile: (i) => {
      const tx = (i % across) * tile;
      const ty = Math.floor(i / across) * tile;
      const data = new Uint8Array(tile * tile * 3);
      for (let y = 0; y < tile; y++) {
        for (let x = 0; x < tile; x++) {
          const s = (ty + y) * size + tx + x;
          const o = (y * tile + x) * 3;
          data[o] = r![s]!; data[o + 1] = g![s]!; data[o + 2] = b![s]!;
        }
      }
      return zlib.deflateSync(data, { level: 1 });
    },
  });
}

if (sceneFile) fs.copyFileSync(sceneFile, path.join(dataDir, 'scene.tif'));
else writeScene(path.join(dataDir, 'scene.tif'));
const smallFile = path.join(work, 'small.tif');
writeTestTiff(smallFile, { width: 600, height: 400, bands: syntheticScene(600, 400, 3), geoTransform: [391000, 5, 0, 5819000, 0, -5], epsg: 32633 });
const small = fs.readFileSync(smallFile);
const bombFile = path.join(work, 'bomb.tif');
const bombStream = lzwBomb(439_000);
writeTiledTiff(bombFile, { width: 2048, height: 2048, tileSize: 512, compression: COMPRESSION.lzw, tile: () => bombStream, geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 });
const bomb = fs.readFileSync(bombFile);

const child = spawn(process.execPath, [...(process.env.SOAK_FORCE_GC === '1' ? ['--expose-gc'] : []), '--import', 'tsx', '--import', path.join(repoRoot, 'test/bench/memory-probe.mjs'), path.join(repoRoot, 'server/src/cli/main.ts'), 'serve', '--data', dataDir, '--port', '0', '--host', '127.0.0.1', '--models', models, '--no-samples'], {
  cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SATSEG_SAMPLES: '0' },
});
/** Who waits for the next memory line, in the order they asked (one SIGUSR2 each). */
const probeWaiters: Array<(m: Record<string, number>) => void> = [];
let stderrTail = '';
child.stderr!.on('data', (d: Buffer) => {
  for (const line of d.toString().split('\n')) {
    if (line.startsWith('{"memoryProbe"')) probeWaiters.shift()?.(JSON.parse(line).memoryProbe);
    else if (line.trim()) stderrTail = (stderrTail + line + '\n').slice(-4000);
  }
});
const base = await new Promise<string>((resolve, reject) => {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d; const m = /"port":(\d+)/.exec(out); if (m) resolve(`http://127.0.0.1:${m[1]}`); });
  child.once('exit', (code) => reject(new Error(`the server exited (${code}): ${stderrTail}`)));
});

function memory(): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    probeWaiters.push(resolve);
    child.kill('SIGUSR2');
  });
}

const errors: string[] = [];
const counts = { tiles: 0, uploads: 0, bombs: 0, jobs: 0, cancelled: 0 };
function fail(what: string): void {
  errors.push(what);
  if (errors.length <= 10) console.error(`  error: ${what}`);
}
async function request(p: string, init: RequestInit, expected: number[]): Promise<Response | null> {
  try {
    const res = await fetch(base + p, init);
    if (!expected.includes(res.status)) {
      fail(`${init.method ?? 'GET'} ${p}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      return null;
    }
    return res;
  } catch (err) {
    fail(`${init.method ?? 'GET'} ${p}: ${(err as Error).message}`);
    return null;
  }
}

const datasets = (await (await fetch(`${base}/datasets`)).json()).datasets as Array<{ id: string; name: string }>;
const sceneId = datasets.find((d) => d.name === 'scene.tif')!.id;
const info = await (await fetch(`${base}/datasets/${sceneId}`)).json() as { bounds: [number, number, number, number]; minzoom: number; maxzoom: number };
const [w, s, e, n] = info.bounds;
const [minZoom, maxZoom] = zoomRange ? zoomRange.split('-').map(Number) as [number, number] : [info.minzoom, info.maxzoom + 2];
const deadline = Date.now() + minutes * 60_000;
const running = () => Date.now() < deadline;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function tileLoop(seed: number): Promise<void> {
  const random = seededRandom(seed);
  const zooms: number[] = [];
  for (let z = minZoom; z <= maxZoom; z++) zooms.push(z);
  while (running()) {
    const anywhere = random() < outside;
    const z = anywhere ? 10 + Math.floor(random() * 11) : zooms[Math.floor(random() * zooms.length)]!;
    const r = anywhere ? { minX: 0, maxX: 2 ** z - 1, minY: 0, maxY: 2 ** z - 1 } : tileRange(info.bounds, z);
    const x = r.minX + Math.floor(random() * (r.maxX - r.minX + 1));
    const y = r.minY + Math.floor(random() * (r.maxY - r.minY + 1));
    const format = random() < 0.8 ? 'png' : 'webp';
    const res = await request(`/datasets/${sceneId}/tiles/${z}/${x}/${y}.${format}`, {}, [200, 204]);
    if (res) { await res.arrayBuffer(); counts.tiles++; }
  }
}

async function uploadLoop(): Promise<void> {
  for (let round = 1; running(); round++) {
    const form = new FormData();
    form.append('file', new Blob([small]), `small-${round}.tif`);
    const up = await request('/datasets', { method: 'POST', body: form }, [201]);
    if (up) {
      const d = await up.json() as { id: string; center: [number, number, number] };
      const z = d.center[2];
      const [x, y] = [Math.floor(((d.center[0] + 180) / 360) * 2 ** z), Math.floor(((1 - Math.log(Math.tan((d.center[1] * Math.PI) / 180) + 1 / Math.cos((d.center[1] * Math.PI) / 180)) / Math.PI) / 2) * 2 ** z)];
      const t = await request(`/datasets/${d.id}/tiles/${z}/${x}/${y}.png`, {}, [200]);
      await t?.arrayBuffer();
      await request(`/datasets/${d.id}`, { method: 'DELETE' }, [204]);
      counts.uploads++;
    }
    if (round % 3 === 0) {
      const res = await request('/datasets', { method: 'POST', body: bomb, headers: { 'Content-Type': 'image/tiff', 'X-Filename': 'bomb.tif' } }, [400]);
      if (res) { await res.text(); counts.bombs++; }
    }
    await sleep(1000);
  }
}

async function jobLoop(): Promise<void> {
  const random = seededRandom(99);
  for (let round = 1; running(); round++) {
    // A random 300 x 300 m square of the scene.
    const fx = random() * 0.9;
    const fy = random() * 0.9;
    const bbox = [w + fx * (e - w), s + fy * (n - s), w + (fx + 0.07) * (e - w), s + (fy + 0.07) * (n - s)];
    const res = await request('/jobs', { method: 'POST', body: JSON.stringify({ dataset: sceneId, model: 'test-rgb', bbox, options: { device: 'cpu', tile: 128, batch: 2 } }), headers: { 'Content-Type': 'application/json' } }, [202]);
    if (!res) { await sleep(2000); continue; }
    const { id } = await res.json() as { id: string };
    if (round % 3 === 0) {
      const c = await request(`/jobs/${id}`, { method: 'DELETE' }, [200]);
      if (c) { const job = await c.json() as { status: string }; if (job.status === 'cancelled') counts.cancelled++; else fail(`job ${id}: ${job.status} after cancel`); }
      continue;
    }
    for (;;) {
      await sleep(250);
      const r = await request(`/jobs/${id}`, {}, [200]);
      if (!r) break;
      const job = await r.json() as { status: string; error: string | null; results: { result: string } | null };
      if (job.status === 'succeeded') {
        counts.jobs++;
        await request(`/results/${job.results!.result.split('/').pop()}`, { method: 'DELETE' }, [204]);
        break;
      }
      if (job.status === 'failed' || job.status === 'cancelled') { fail(`job ${id}: ${job.status} ${job.error}`); break; }
    }
    await sleep(1000);
  }
}

interface Sample { t: number; rss: number; heap: number; buffers: number; external: number; native: number }
const samples: Sample[] = [];
const start = Date.now();
async function sample(): Promise<void> {
  const m = await memory();
  // Buffers: Node's own (arrayBuffers); external: every backing store V8 knows of, sharp's output
  // included; native/other: what RSS holds beyond the heap and those (code, libvips, zlib, ONNX
  // Runtime, malloc's free lists and fragmentation).
  const smp = { t: (Date.now() - start) / 1000, rss: m.rss! / MB, heap: m.heapUsed! / MB, buffers: m.arrayBuffers! / MB, external: m.external! / MB, native: (m.rss! - m.heapTotal! - Math.max(m.external!, m.arrayBuffers!)) / MB };
  samples.push(smp);
  console.log(`${(smp.t / 60).toFixed(1).padStart(5)} min  RSS ${smp.rss.toFixed(0).padStart(5)} MB  (JS heap ${smp.heap.toFixed(0)}, buffers ${smp.buffers.toFixed(0)}, external ${smp.external.toFixed(0)}, native/other ${smp.native.toFixed(0)})  tiles ${counts.tiles}  uploads ${counts.uploads}  bombs ${counts.bombs}  jobs ${counts.jobs}  cancelled ${counts.cancelled}  errors ${errors.length}`);
}

console.log(`soak: ${minutes} min of ${[...load].join(', ')} against ${base} (scene ${sceneId}, zooms ${minZoom}-${maxZoom}, ${tileClients} tile clients (${Math.round(outside * 100)} % anywhere on Earth), SATSEG_TILE_CACHE_MB=${process.env.SATSEG_TILE_CACHE_MB ?? '128 (default)'}${process.env.LD_PRELOAD ? `, LD_PRELOAD=${process.env.LD_PRELOAD}` : ''}${process.env.MALLOC_ARENA_MAX ? `, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX}` : ''})`);
await sample();
const sampler = setInterval(() => { void sample(); }, sampleSeconds * 1000);
await Promise.all([
  ...(load.has('tiles') ? Array.from({ length: tileClients }, (_, i) => tileLoop(i + 1)) : []),
  load.has('uploads') ? uploadLoop() : null,
  load.has('jobs') ? jobLoop() : null,
  sleep(deadline - Date.now()),
]);
clearInterval(sampler);
// The ratio compares samples taken under load; this one, after it, is printed for the record.
await sleep(500); // a sample the interval started just before may still be on its way
const underLoad = samples.length;
console.log('  (the load has stopped)');
await sample();
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
fs.rmSync(work, { recursive: true, force: true });

// The reference is the sample at the third minute (warm caches), or a third of a shorter run.
const refTime = minutes >= 4 ? 180 : (minutes * 60) / 3;
const loaded = samples.slice(0, underLoad);
const reference = loaded.reduce((a, b) => (Math.abs(b.t - refTime) < Math.abs(a.t - refTime) ? b : a));
const last = loaded[loaded.length - 1]!;
const ratio = last.rss / reference.rss;
console.log(`\nRSS ${reference.rss.toFixed(0)} MB at ${(reference.t / 60).toFixed(1)} min -> ${last.rss.toFixed(0)} MB at ${(last.t / 60).toFixed(1)} min (under load): ratio ${ratio.toFixed(2)} (target <= 1.2) ${ratio <= 1.2 ? 'OK' : 'OVER'}`);
console.log(`errors: ${errors.length} (target 0) ${errors.length === 0 ? 'OK' : 'OVER'}; requests: ${counts.tiles} tiles, ${counts.uploads} uploads, ${counts.bombs} bombs refused, ${counts.jobs} jobs, ${counts.cancelled} cancelled`);
process.exitCode = ratio <= 1.2 && errors.length === 0 ? 0 : 1;
