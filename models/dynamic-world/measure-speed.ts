/**
 * Times model.onnx on 512 x 512 tiles in onnxruntime-node on the CPU, as the model card reports it.
 * Run: npx tsx models/dynamic-world/measure-speed.ts [threads=2] [runs=6] [batch=1]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';

const TILE = 512;
const [threads = 2, runs = 6, batch = 1] = process.argv.slice(2).map(Number);
const model = path.join(path.dirname(fileURLToPath(import.meta.url)), 'model.onnx');
const session = await ort.InferenceSession.create(fs.readFileSync(model), {
  executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
});
// Reflectance-like values that vary from pixel to pixel (the run time does not depend on them).
const input = new Float32Array(batch * 9 * TILE * TILE).map((_, i) => 300 + ((i * 7919) % 3000));
const feeds = { input: new ort.Tensor('float32', input, [batch, 9, TILE, TILE]) };
await session.run(feeds); // warm-up
const seconds: number[] = [];
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  await session.run(feeds);
  seconds.push((performance.now() - t) / 1000);
}
const sorted = [...seconds].sort((a, b) => a - b);
const mpx = (batch * TILE * TILE) / 1e6;
const median = sorted[Math.floor(sorted.length / 2)]!;
console.log(`${threads} threads, batch ${batch}, runs ${seconds.map((s) => s.toFixed(2)).join(' ')} s`);
console.log(`best ${sorted[0]!.toFixed(2)} s (${(mpx / sorted[0]!).toFixed(3)} Mpx/s), median ${median.toFixed(2)} s (${(mpx / median).toFixed(3)} Mpx/s); load average ${os.loadavg()[0]!.toFixed(1)}; rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`);
