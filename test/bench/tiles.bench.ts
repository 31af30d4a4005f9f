/**
 * npm run bench:tiles — tile rendering throughput against gdal2tiles, and latency under load.
 *
 * 1. Every tile of zooms 13-17 of naip_2020.tif, rendered through the HTTP server one request at a
 *    time with a cold tile cache, against `gdal2tiles.py --xyz -z 13-17 --processes=1 -r bilinear`
 *    on the same scene, in the same run: tiles/s for both and the ratio.
 * 2. autocannon, 64 connections, random tiles of those zooms: p50/p99 latency and req/s with the
 *    tile cache off (every request renders) and with a warm cache.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import { tileRange } from '../../server/src/read/web-mercator.ts';
import { repoRoot, scenesDir } from '../helpers/shared-data.ts';

const run = promisify(execFile);
const scene = path.join(scenesDir, 'naip_2020.tif');
if (!fs.existsSync(scene)) {
  console.error(`bench:tiles needs ${scene} (../shared)`);
  process.exit(1);
}
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-bench-tiles-'));
const dataDir = path.join(work, 'data');
fs.mkdirSync(dataDir);
fs.copyFileSync(scene, path.join(dataDir, 'naip_2020.tif'));

/** `satseg serve` in its own process, as users run it; the benchmark's HTTP client stays out of its way. */
async function startServer(tileCacheMb: number): Promise<{ base: string; id: string; close: () => void }> {
  for (const f of ['satseg.sqlite', 'satseg.sqlite-wal', 'satseg.sqlite-shm']) fs.rmSync(path.join(dataDir, f), { force: true });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'server/src/cli/main.ts'), 'serve', '--data', dataDir, '--no-samples', '--port', '0', '--host', '127.0.0.1'], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SATSEG_TILE_CACHE_MB: String(tileCacheMb) },
  });
  const base = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d; const m = /"port":(\d+)/.exec(out); if (m) resolve(`http://127.0.0.1:${m[1]}`); });
  });
  const id = (await (await fetch(`${base}/datasets`)).json()).datasets[0].id as string;
  return { base, id, close: () => child.kill('SIGTERM') };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const zooms = [13, 14, 15, 16, 17];
  const srv = await startServer(0);
  const info = await (await fetch(`${srv.base}/datasets/${srv.id}`)).json() as { bounds: [number, number, number, number] };
  const tiles: string[] = [];
  for (const z of zooms) {
    const r = tileRange(info.bounds, z);
    for (let x = r.minX; x <= r.maxX; x++) for (let y = r.minY; y <= r.maxY; y++) tiles.push(`/datasets/${srv.id}/tiles/${z}/${x}/${y}.png`);
  }

  // 1a. satseg, sequential, cold tile cache.
  const latencies: number[] = [];
  const t0 = performance.now();
  let bytes = 0;
  // Zooms 13-15 are at or below the scene's native zoom (5 m ~ zoom 15); 16-17 upsample it.
  const native = { tiles: 0, ms: 0 };
  for (const t of tiles) {
    const s = performance.now();
    const res = await fetch(srv.base + t);
    bytes += (await res.arrayBuffer()).byteLength;
    if (res.status !== 200 && res.status !== 204) throw new Error(`${t}: HTTP ${res.status}`);
    latencies.push(performance.now() - s);
    if (Number(/tiles\/(\d+)\//.exec(t)![1]) <= 15) { native.tiles++; native.ms += performance.now() - s; }
  }
  const oursSeconds = (performance.now() - t0) / 1000;
  srv.close();

  // 1b. gdal2tiles, one process, same zooms and resampling.
  const outDir = path.join(work, 'gdal2tiles');
  const g0 = performance.now();
  await run('gdal2tiles.py', ['--xyz', '-z', '13-17', '--processes=1', '-r', 'bilinear', '--webviewer=none', '-q', scene, outDir], { maxBuffer: 1 << 26 });
  const gdalSeconds = (performance.now() - g0) / 1000;
  const count = (dir: string, zs: number[]) => {
    let n = 0;
    let size = 0;
    for (const z of zs) {
      const zd = path.join(dir, String(z));
      if (!fs.existsSync(zd)) continue;
      for (const x of fs.readdirSync(zd)) {
        for (const f of fs.readdirSync(path.join(zd, x)).filter((name) => name.endsWith('.png'))) { n++; size += fs.statSync(path.join(zd, x, f)).size; }
      }
    }
    return { n, size };
  };
  const { n: gdalTiles, size: gdalBytes } = count(outDir, zooms);
  const nativeDir = path.join(work, 'gdal2tiles-native');
  const n0 = performance.now();
  await run('gdal2tiles.py', ['--xyz', '-z', '13-15', '--processes=1', '-r', 'bilinear', '--webviewer=none', '-q', scene, nativeDir], { maxBuffer: 1 << 26 });
  const gdalNativeSeconds = (performance.now() - n0) / 1000;
  const gdalNativeTiles = count(nativeDir, [13, 14, 15]).n;

  const sorted = [...latencies].sort((a, b) => a - b);
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GB, load average ${os.loadavg()[0]!.toFixed(2)} at start of autocannon`);
  console.log(`zooms 13-17 of naip_2020.tif (934 x 723 px, 5 m)`);
  console.log(`satseg  : ${tiles.length} tiles in ${oursSeconds.toFixed(2)} s = ${(tiles.length / oursSeconds).toFixed(1)} tiles/s (sequential HTTP, cold tile cache; p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms; ${(bytes / 1e6).toFixed(1)} MB)`);
  console.log(`gdal2tiles: ${gdalTiles} tiles in ${gdalSeconds.toFixed(2)} s = ${(gdalTiles / gdalSeconds).toFixed(1)} tiles/s (--processes=1 -r bilinear; ${(gdalBytes / 1e6).toFixed(1)} MB)`);
  console.log(`ratio (satseg tiles/s / gdal2tiles tiles/s): ${((tiles.length / oursSeconds) / (gdalTiles / gdalSeconds)).toFixed(2)}x`);
  console.log(`zooms 13-15 only (not upsampled): satseg ${native.tiles} tiles at ${(native.tiles / (native.ms / 1000)).toFixed(1)} tiles/s, gdal2tiles ${gdalNativeTiles} tiles at ${(gdalNativeTiles / gdalNativeSeconds).toFixed(1)} tiles/s: ${((native.tiles / (native.ms / 1000)) / (gdalNativeTiles / gdalNativeSeconds)).toFixed(2)}x`);

  // 2. Load: 64 connections, random tiles.
  for (const [label, cacheBytes] of [['cold (tile cache off: every request renders)', 0], ['cached (warm tile cache)', 128]] as const) {
    const s = await startServer(cacheBytes);
    const paths = tiles.map((t) => t.replace(/datasets\/[^/]+/, `datasets/${s.id}`));
    if (cacheBytes) for (const p of paths) await (await fetch(s.base + p)).arrayBuffer();
    let i = 0;
    const result = await autocannon({
      url: s.base,
      connections: 64,
      duration: 10,
      requests: [{ setupRequest: ((req: Record<string, unknown>) => ({ ...req, path: paths[(i++ * 7919) % paths.length] })) as never }],
    });
    console.log(`autocannon 64 connections, ${label}: ${result.requests.average.toFixed(0)} req/s, latency p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ${result.non2xx} non-2xx, ${result.errors} errors (${result.timeouts} timeouts, ${result.resets} resets)`);
    s.close();
  }
  fs.rmSync(work, { recursive: true, force: true });
}

await main();
