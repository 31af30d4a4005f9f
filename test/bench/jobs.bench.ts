/**
 * npm run bench:jobs — four area jobs at once against the same four areas one after another
 * through the CLI, and how fast tiles are served while jobs run.
 *
 *   npm run bench:jobs -- [--model aerial-landcover] [--size 3072] [--max-jobs 1] [--job-threads N]
 *
 * The scene is naip_2020.tif upsampled to size x size at the model's resolution (temp dir, kept).
 * Tile latency: 4 clients request random tiles of zooms 15-18 with the tile cache off (every
 * request renders), first with the server idle, then while the four jobs run; p50/p99 of both.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { tileRange } from '../../server/src/read/web-mercator.ts';
import { repoRoot, scenesDir } from '../helpers/shared-data.ts';

const run = promisify(execFile);
const args = process.argv.slice(2);
const opt = (name: string, fallback?: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const modelId = opt('model', 'aerial-landcover')!;
const size = Number(opt('size', '3072'));
const maxJobs = opt('max-jobs', '1')!;
const jobThreads = opt('job-threads');
const scene = path.join(scenesDir, 'naip_2020.tif');
if (!fs.existsSync(scene)) { console.error(`bench:jobs needs ${scene} (../shared)`); process.exit(1); }
const spec = new ModelRegistry().get(modelId);
const pixel = (spec.resolutionCm ?? 100) / 100;
const work = path.join(os.tmpdir(), 'satseg-bench-jobs');
const dataDir = path.join(work, `data-${size}-${pixel}`);
fs.mkdirSync(dataDir, { recursive: true });
const input = path.join(dataDir, 'scene.tif');
const [x0, y0] = [485899, 5209246];
if (!fs.existsSync(input)) {
  await run('gdal_translate', ['-q', '-outsize', String(size), String(size), '-r', 'bilinear', '-a_ullr', String(x0), String(y0), String(x0 + size * pixel), String(y0 - size * pixel),
    '-co', 'TILED=YES', '-co', 'COMPRESS=DEFLATE', scene, `${input}.tmp.tif`]);
  fs.renameSync(`${input}.tmp.tif`, input);
}
for (const f of ['satseg.sqlite', 'satseg.sqlite-wal', 'satseg.sqlite-shm']) fs.rmSync(path.join(dataDir, f), { force: true });
fs.rmSync(path.join(dataDir, 'results'), { recursive: true, force: true });

function percentile(v: number[], p: number): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

async function startServer(): Promise<{ child: ChildProcess; base: string }> {
  const flags = ['serve', '--data', dataDir, '--no-samples', '--port', '0', '--host', '127.0.0.1', '--max-jobs', maxJobs, ...(jobThreads ? ['--job-threads', jobThreads] : [])];
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), ...flags], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SATSEG_TILE_CACHE_MB: '0' } });
  const base = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d; const m = /"port":(\d+)/.exec(out); if (m) resolve(`http://127.0.0.1:${m[1]}`); });
  });
  return { child, base };
}

/** Clients requesting random tiles until `until` resolves; returns latencies in ms. */
async function load(base: string, tiles: string[], clients: number, until: Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  let stop = false;
  void until.then(() => { stop = true; });
  let i = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (!stop) {
      const t = tiles[(i++ * 7919) % tiles.length]!;
      const s = performance.now();
      const res = await fetch(base + t);
      await res.arrayBuffer();
      latencies.push(performance.now() - s);
    }
  }));
  return latencies;
}

// Four areas: the quadrants of the scene, inset a little.
const { bounds } = await (async () => {
  const s = await startServer();
  const d = (await (await fetch(`${s.base}/datasets`)).json()).datasets[0];
  s.child.kill('SIGTERM');
  return { bounds: d.bounds as [number, number, number, number] };
})();
const [w, so, e, n] = bounds;
const mx = (w + e) / 2;
const my = (so + n) / 2;
const inset = (e - w) * 0.02;
const areas: Array<[number, number, number, number]> = [
  [w + inset, my + inset, mx - inset, n - inset], [mx + inset, my + inset, e - inset, n - inset],
  [w + inset, so + inset, mx - inset, my - inset], [mx + inset, so + inset, e - inset, my - inset],
];

console.log(`bench:jobs ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} x ${os.cpus()[0]?.model}; model ${modelId}, scene ${size} x ${size} at ${pixel} m, 4 quadrant areas, --max-jobs ${maxJobs}${jobThreads ? ` --job-threads ${jobThreads}` : ''}`);
console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

// 1. The CLI, one area after another.
const c0 = performance.now();
for (const [i, a] of areas.entries()) {
  await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), 'segment', input, '-m', modelId, '-o', path.join(work, `cli-${i}.tif`), `--bbox=${a.join(',')}`, '--no-progress', '--device', 'cpu', ...(jobThreads ? ['--threads', jobThreads] : [])], { cwd: repoRoot });
}
const cliSeconds = (performance.now() - c0) / 1000;
console.log(`CLI, 4 areas one after another: ${cliSeconds.toFixed(1)} s`);

// 2. The server: 4 jobs at once; then tile latency idle and while 4 more jobs run.
const server = await startServer();
const id = (await (await fetch(`${server.base}/datasets`)).json()).datasets[0].id as string;
const tiles: string[] = [];
for (let z = 15; z <= 18; z++) {
  const r = tileRange(bounds, z);
  for (let x = r.minX; x <= r.maxX; x++) for (let y = r.minY; y <= r.maxY; y++) tiles.push(`/datasets/${id}/tiles/${z}/${x}/${y}.png`);
}
async function submitAll(): Promise<{ ids: string[]; done: Promise<void> }> {
  const ids: string[] = [];
  for (const a of areas) {
    const res = await fetch(`${server.base}/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: id, model: modelId, bbox: a, options: { device: 'cpu' } }) });
    const body = await res.json();
    if (res.status !== 202) throw new Error(`job rejected: ${JSON.stringify(body)}`);
    ids.push(body.id);
  }
  const done = (async () => {
    for (;;) {
      const jobs = await Promise.all(ids.map(async (j) => (await (await fetch(`${server.base}/jobs/${j}`)).json()).status as string));
      if (jobs.every((st) => st === 'succeeded' || st === 'failed' || st === 'cancelled')) {
        if (jobs.some((st) => st !== 'succeeded')) throw new Error(`jobs ended ${jobs.join(', ')}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return { ids, done };
}

const j0 = performance.now();
await (await submitAll()).done;
const jobSeconds = (performance.now() - j0) / 1000;
console.log(`server, 4 jobs submitted at once: ${jobSeconds.toFixed(1)} s (${(jobSeconds / cliSeconds).toFixed(2)}x the CLI total)`);

const idle = await load(server.base, tiles, 4, new Promise((r) => setTimeout(r, 8000)));
console.log(`tiles while idle:     ${idle.length} requests, p50 ${percentile(idle, 50).toFixed(1)} ms, p99 ${percentile(idle, 99).toFixed(1)} ms`);
const l0 = performance.now();
const second = await submitAll();
const busy = await load(server.base, tiles, 4, second.done);
await second.done;
console.log(`4 jobs again, with 4 tile clients: ${((performance.now() - l0) / 1000).toFixed(1)} s`);
console.log(`tiles during the jobs: ${busy.length} requests, p50 ${percentile(busy, 50).toFixed(1)} ms, p99 ${percentile(busy, 99).toFixed(1)} ms`);
console.log(`tile p99 during jobs / idle: ${(percentile(busy, 99) / percentile(idle, 99)).toFixed(2)} (target <= 3)`);
server.child.kill('SIGTERM');
