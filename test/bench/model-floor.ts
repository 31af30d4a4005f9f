/**
 * The floor for bench:pipeline: the model alone, in its worker, on the scene's own tiles at the
 * same tile size, batch size and threads, with no reading, blending or writing around it.
 * Usage: tsx test/bench/model-floor.ts <scene.tif> <model-id> <tile> <batch> <tiles> [threads]
 * Prints one JSON line {seconds, tiles, batches}.
 */
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { WorkerModel } from '../../server/src/infer/worker-model.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { cutTile } from '../../server/src/plan/cut-tile.ts';
import { selectBands } from '../../server/src/segment/band-selection.ts';

const [scene, modelId, tileText, batchText, tilesText, threadsText] = process.argv.slice(2);
const tile = Number(tileText);
const batch = Number(batchText);
const total = Number(tilesText);
const spec = new ModelRegistry().get(modelId!);
const source = await openRaster(scene!);
const bands = selectBands(spec, source.info).bands;
const plane = spec.inputChannels * tile * tile;

// Real tiles from the scene's first tile rows; cycled when the run needs more.
const samples: Float32Array[] = [];
for (let y = 0; samples.length < 16 && y + tile <= source.info.height; y += tile) {
  const band = await source.read({ x: 0, y, width: source.info.width, height: tile }, { bands });
  for (let x = 0; samples.length < 16 && x + tile <= source.info.width; x += tile) {
    const t = new Float32Array(plane);
    cutTile(band, source.info.width, source.info.height, x, y, tile, { scale: spec.inputScale, mean: spec.mean, std: spec.std }, t, 0);
    samples.push(t);
  }
}
const model = await WorkerModel.open(spec, { device: 'cpu', threads: threadsText ? Number(threadsText) : undefined });
let done = 0;
let batches = 0;
const t0 = performance.now();
while (done < total) {
  const n = Math.min(batch, total - done);
  const input = new Float32Array(n * plane);
  for (let i = 0; i < n; i++) input.set(samples[(done + i) % samples.length]!, i * plane);
  await model.run(input, n, tile, tile);
  done += n;
  batches++;
}
const seconds = (performance.now() - t0) / 1000;
await model.close();
await source.close();
console.log(JSON.stringify({ seconds, tiles: done, batches }));
