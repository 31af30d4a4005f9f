/**
 * npm run bench:workers — 8 area jobs three ways on this one machine: embedded (the server runs
 * them itself, --max-jobs 1), one `satseg worker --threads 2`, and two `satseg worker --threads 1`
 * (both behind `satseg serve --queue`, Redis on a free port).
 *
 *   npm run bench:workers -- [--model aerial-landcover] [--size 3072] [--rounds 2]
 *
 * The three modes run in turn, `rounds` times (a machine shared with other work drifts; running
 * them in turn spreads that drift over all three).
 * For each: jobs per minute (8 jobs submitted at once, no other load); tile p50/p99 on the API
 * server with 4 clients (cache off), idle and while 8 more jobs run; and what the jobs cost the API
 * server and Redis: CPU seconds of each process, Redis commands and bytes, and the bytes workers
 * read from source.tif and upload to PUT /results, counted by a proxy between the workers and the
 * API. The scene is naip_2020.tif upsampled to size x size at the model's resolution (temp dir, kept).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { Redis } from 'ioredis';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { tileRange } from '../../server/src/read/web-mercator.ts';
import { scenesDir } from '../helpers/shared-data.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { spawnSatseg, startServe, waitForJob, waitForWorkers, type SatsegProcess } from '../helpers/satseg-processes.ts';

const run = promisify(execFile);
const { values: flags } = parseArgs({ options: { model: { type: 'string', default: 'aerial-landcover' }, size: { type: 'string', default: '3072' }, rounds: { type: 'string', default: '2' } } });
const modelId = flags.model;
const size = Number(flags.size);
const rounds = Number(flags.rounds);
const source = path.join(scenesDir, 'naip_2020.tif');
if (!fs.existsSync(source)) { console.error(`bench:workers needs ${source} (../shared)`); process.exit(1); }
const pixel = (new ModelRegistry().get(modelId).resolutionCm ?? 100) / 100;
const work = path.join(os.tmpdir(), 'satseg-bench-workers');
const dataDir = path.join(work, `data-${size}-${pixel}`);
fs.mkdirSync(dataDir, { recursive: true });
const scene = path.join(dataDir, 'scene.tif');
if (!fs.existsSync(scene)) {
  const [x0, y0] = [485899, 5209246];
  await run('gdal_translate', ['-q', '-outsize', String(size), String(size), '-r', 'bilinear', '-a_ullr', String(x0), String(y0), String(x0 + size * pixel), String(y0 - size * pixel),
    '-co', 'TILED=YES', '-co', 'COMPRESS=DEFLATE', source, `${scene}.tmp.tif`]);
  fs.renameSync(`${scene}.tmp.tif`, scene);
}

const percentile = (v: number[], p: number) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] ?? Number.NaN;
const ms = (v: number) => `${v.toFixed(1)} ms`;

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Traffic { requests: number; bytes: number; ms: number }

/** An HTTP proxy in front of the API that counts what workers read (source.tif) and upload (PUT /results). */
async function countingProxy(target: string): Promise<{ base: string; counts: Record<'source' | 'upload' | 'other', Traffic>; close(): void }> {
  const t = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const counts = { source: { requests: 0, bytes: 0, ms: 0 }, upload: { requests: 0, bytes: 0, ms: 0 }, other: { requests: 0, bytes: 0, ms: 0 } };
  const server = http.createServer((req, res) => {
    const kind = req.method === 'PUT' && req.url!.startsWith('/results/') ? 'upload' : /\/source\.tif(\?|$)/.test(req.url!) ? 'source' : 'other';
    const c = counts[kind];
    c.requests++;
    const started = performance.now();
    const upstream = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.on('data', (chunk: Buffer) => { if (kind !== 'upload') c.bytes += chunk.length; });
      r.on('end', () => { c.ms += performance.now() - started; });
      r.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.on('data', (chunk: Buffer) => { if (kind === 'upload') c.bytes += chunk.length; });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, counts, close: () => { server.close(); agent.destroy(); } };
}

/** Clients requesting tiles one after another until `until` settles; latencies in ms. */
async function tileLoad(base: string, tiles: string[], clients: number, until: Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  let stop = false;
  void until.finally(() => { stop = true; });
  let i = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (!stop) {
      const t = tiles[(i++ * 7919) % tiles.length]!;
      const s = performance.now();
      await (await fetch(base + t)).arrayBuffer();
      latencies.push(performance.now() - s);
    }
  }));
  return latencies;
}

async function redisStats(client: Redis): Promise<{ commands: number; bytesIn: number; bytesOut: number; cpu: number }> {
  const text = `${await client.info('stats')}\n${await client.info('cpu')}`;
  const get = (key: string) => Number(new RegExp(`^${key}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  return { commands: get('total_commands_processed'), bytesIn: get('total_net_input_bytes'), bytesOut: get('total_net_output_bytes'), cpu: get('used_cpu_sys') + get('used_cpu_user') };
}

console.log(`bench:workers ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} x ${os.cpus()[0]?.model}; model ${modelId}, scene ${size} x ${size} at ${pixel} m (${(fs.statSync(scene).size / 2 ** 20).toFixed(1)} MB, tiled DEFLATE), 8 areas of ${size / 4} x ${size / 2} px`);
console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

const redis = await startRedis();
const redisClient = new Redis(redis.url, { maxRetriesPerRequest: null });
const modes: Array<{ name: string; workers: string[][] }> = [
  { name: 'embedded (serve --max-jobs 1)', workers: [] },
  { name: 'one worker --threads 2', workers: [['--threads', '2']] },
  { name: 'two workers --threads 1', workers: [['--threads', '1'], ['--threads', '1']] },
];
const summary: string[] = [];

for (let round = 1; round <= rounds; round++) for (const mode of modes) {
  for (const f of ['satseg.sqlite', 'satseg.sqlite-wal', 'satseg.sqlite-shm']) fs.rmSync(path.join(dataDir, f), { force: true });
  fs.rmSync(path.join(dataDir, 'results'), { recursive: true, force: true });
  await redisClient.flushall();
  const remote = mode.workers.length > 0;
  const api = await startServe(['--data', dataDir, '--no-samples', ...(remote ? ['--queue', redis.url] : ['--max-jobs', '1'])], { SATSEG_TILE_CACHE_MB: '0' });
  const proxy = remote ? await countingProxy(api.base) : null;
  const workers: SatsegProcess[] = mode.workers.map((flags, i) => spawnSatseg(['worker', '--server', proxy!.base, '--queue', redis.url, '--device', 'cpu', '--name', `bench-${i + 1}`, ...flags]));
  if (remote) await waitForWorkers(api.base, mode.workers.map((_, i) => `bench-${i + 1}`));

  const dataset = (await (await fetch(`${api.base}/datasets`)).json()).datasets[0];
  const [w, s, e, n] = dataset.bounds as [number, number, number, number];
  const dx = (e - w) / 4;
  const dy = (n - s) / 2;
  const inset = dx * 0.01;
  const areas = Array.from({ length: 8 }, (_, i) => [w + (i % 4) * dx + inset, s + Math.floor(i / 4) * dy + inset, w + ((i % 4) + 1) * dx - inset, s + (Math.floor(i / 4) + 1) * dy - inset]);
  const tiles: string[] = [];
  for (let z = 15; z <= 18; z++) {
    const r = tileRange(dataset.bounds, z);
    for (let x = r.minX; x <= r.maxX; x++) for (let y = r.minY; y <= r.maxY; y++) tiles.push(`/datasets/${dataset.id}/tiles/${z}/${x}/${y}.png`);
  }
  const submit = async (bbox: number[]) => {
    const res = await fetch(`${api.base}/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: dataset.id, model: modelId, bbox, options: { device: 'cpu' } }) });
    const body = await res.json();
    if (res.status !== 202) throw new Error(`job rejected: ${JSON.stringify(body)}`);
    return body.id as string;
  };
  const batch = async () => {
    const ids = await Promise.all(areas.map(submit));
    const jobs = await Promise.all(ids.map((id) => waitForJob(api.base, id, 900_000)));
    const failed = jobs.filter((j) => j.status !== 'succeeded');
    if (failed.length) throw new Error(`jobs ended ${failed.map((j) => `${j.status}: ${j.error}`).join('; ')}`);
    return jobs;
  };

  // One job first, so process start-up and first-use compilation are not counted.
  await waitForJob(api.base, await submit(areas[0]!), 900_000);

  const pids = [api.child.pid!, ...workers.map((p) => p.child.pid!)];
  const cpu0 = pids.map(cpuSeconds);
  const redis0 = await redisStats(redisClient);
  const traffic0 = proxy ? JSON.parse(JSON.stringify(proxy.counts)) as typeof proxy.counts : null;
  const t0 = performance.now();
  const jobs = await batch();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = pids.map((pid, i) => cpuSeconds(pid) - cpu0[i]!);
  const redis1 = await redisStats(redisClient);
  const traffic1 = proxy ? JSON.parse(JSON.stringify(proxy.counts)) as typeof proxy.counts : null;
  const maskMb = jobs.reduce((sum, j) => sum + fs.statSync(path.join(dataDir, 'results', j.id, 'mask.tif')).size, 0) / 2 ** 20;

  const idle = await tileLoad(api.base, tiles, 4, new Promise((r) => setTimeout(r, 6000)));
  const t1 = performance.now();
  const busyJobs = batch();
  const busy = await tileLoad(api.base, tiles, 4, busyJobs);
  await busyJobs;
  const busySeconds = (performance.now() - t1) / 1000;

  const perMin = (8 / seconds) * 60;
  const load = os.loadavg()[0]!;
  const mpx = areas.length * (size / 4) * (size / 2) / 1e6;
  console.log(`\nround ${round}, ${mode.name}: 8 jobs in ${seconds.toFixed(1)} s = ${perMin.toFixed(1)} jobs/min (load average ${load.toFixed(2)})`);
  console.log(`  CPU seconds during the 8 jobs (${mpx.toFixed(1)} Mpx): API server ${cpu[0]!.toFixed(1)} (${(cpu[0]! / mpx).toFixed(3)} s per Mpx)${remote ? `, workers ${cpu.slice(1).map((c) => c.toFixed(1)).join(' + ')}` : ' (jobs run inside it)'}`);
  console.log(`  masks written: ${maskMb.toFixed(2)} MB in all`);
  if (traffic0 && traffic1) {
    const d = (k: 'source' | 'upload' | 'other') => ({ requests: traffic1[k].requests - traffic0[k].requests, mb: (traffic1[k].bytes - traffic0[k].bytes) / 2 ** 20, ms: traffic1[k].ms - traffic0[k].ms });
    const src = d('source');
    const up = d('upload');
    console.log(`  workers read source.tif: ${src.mb.toFixed(1)} MB in ${src.requests} range requests (${(src.mb / 8).toFixed(2)} MB a job; the scene is ${(fs.statSync(scene).size / 2 ** 20).toFixed(1)} MB)`);
    console.log(`  workers uploaded: ${up.mb.toFixed(2)} MB in ${up.requests} PUTs, ${(up.ms / up.requests).toFixed(0)} ms a PUT on average (transfer, checks, rename)`);
    console.log(`  Redis: ${redis1.commands - redis0.commands} commands (${((redis1.commands - redis0.commands) / 8).toFixed(0)} a job), ${((redis1.bytesIn - redis0.bytesIn) / 1024).toFixed(0)} KB in, ${((redis1.bytesOut - redis0.bytesOut) / 1024).toFixed(0)} KB out, ${(redis1.cpu - redis0.cpu).toFixed(2)} CPU s`);
  }
  console.log(`  tiles idle:            ${idle.length} requests, p50 ${ms(percentile(idle, 50))}, p99 ${ms(percentile(idle, 99))}`);
  console.log(`  tiles during 8 jobs:   ${busy.length} requests, p50 ${ms(percentile(busy, 50))}, p99 ${ms(percentile(busy, 99))} (the jobs took ${busySeconds.toFixed(1)} s under this load)`);
  summary.push(`| ${round} | ${mode.name} | ${seconds.toFixed(1)} s | ${perMin.toFixed(1)} | ${ms(percentile(idle, 99))} | ${ms(percentile(busy, 99))} | ${(percentile(busy, 99) / percentile(idle, 99)).toFixed(2)}x | ${cpu[0]!.toFixed(1)} s | ${load.toFixed(1)} |`);

  for (const p of workers) await p.stop();
  proxy?.close();
  await api.stop();
}

console.log('\n| round | mode | 8 jobs | jobs/min | tile p99 idle | tile p99 during jobs | ratio | API server CPU during the 8 jobs | load average |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const line of summary) console.log(line);
redisClient.disconnect();
await redis.stop();
