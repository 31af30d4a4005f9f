#!/usr/bin/env node
/**
 * The satseg command line: segment, models, vectorize, change, serve, worker.
 */
import { Command, CommanderError } from 'commander';
import type { SegmentCommandOptions } from './segment-command.ts';
import type { ServeOptions } from './serve-command.ts';
import type { WorkerOptions } from './worker-command.ts';
import { registerVectorizeCommand } from './vectorize-command.ts';
import { registerChangeCommand } from './change-command.ts';
import { oneLine } from '../errors.ts';
import { keepOnnxRuntimeOffline } from '../infer/ort-telemetry.ts';
import { cacheSizeProblems } from '../cache-size.ts';

keepOnnxRuntimeOffline();

// Each command loads its own modules when it runs: `satseg vectorize` should not pay for
// onnxruntime and the server, nor `satseg --help` for anything.

const program = new Command();
program
  .name('satseg')
  .description('Segment large GeoTIFFs into seam-free, georeferenced class masks, vectors and map tiles.')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('segment')
  .description('segment a GeoTIFF into a class-mask COG')
  .argument('<input>', 'input GeoTIFF: a path, or an http(s) URL of a COG (read in ranges)')
  .requiredOption('-m, --model <id>', 'model id (see `satseg models`)')
  .requiredOption('-o, --out <file>', 'output mask (Cloud-Optimized GeoTIFF)')
  .option('--tile <px>', 'tile size in model pixels (default: from the model)')
  .option('--overlap <px>', 'overlap between tiles in model pixels (default: from the model)')
  .option('--batch <n>', 'tiles per inference batch', '4')
  .option('--device <device>', 'auto | cpu | cuda', 'auto')
  .option('--threads <n>', 'inference threads (default: all cores)')
  .option('--bands <list>', 'scene bands for the model, 1-based, e.g. 1,2,3')
  .option('--sensor <id>', "use the model's band mapping for this sensor (e.g. sentinel2-l1c, landsat8, naip; an unknown one is answered with the model's list)")
  .option('--offset <n>', 'add n to every band value before the model: -1000 for Sentinel-2 products from 25 January 2022 on (processing baseline 04.00); default: the offsets the file declares (GDAL metadata), else 0')
  .option('--scores <file>', 'also write a confidence COG (max probability x 255)')
  .option('--bbox <w,s,e,n>', 'segment only this lon/lat box (EPSG:4326); the output covers just the box')
  .option('--area <file.geojson>', 'segment only this Polygon or MultiPolygon, or Feature(Collection) of them (EPSG:4326); pixels outside are nodata')
  .option('--vector <file>', 'also vectorize the mask: .geojson (EPSG:4326) or .fgb (native CRS)')
  .option('--tta', 'test-time augmentation: average each tile over its 4 flips (about 4x the inference time)')
  .option('--force', 'run even when the model does not suit the scene (bands or resolution)')
  .option('--register', 'also register the mask as a result in the data folder (shown by `satseg serve`)')
  .option('--data <dir>', 'data folder for --register (default: $SATSEG_DATA or ./data)')
  .option('--json', 'print the summary as one JSON object')
  .option('--no-progress', 'no progress bar')
  .action(async (input: string, o: SegmentCommandOptions) => {
    const { runSegment, formatSummary } = await import('./segment-command.ts');
    // The process ends with the scene: its threads other than the model's may yield the cores.
    const summary = await runSegment(input, o, undefined, { yieldToModel: true });
    process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
  });

program
  .command('models')
  .description('list the installed models')
  .option('--json', 'print as JSON')
  .action(async (o: { json?: boolean }) => {
    const { runModels } = await import('./models-command.ts');
    process.stdout.write(`${runModels(Boolean(o.json))}\n`);
  });

registerVectorizeCommand(program);
registerChangeCommand(program);

program
  .command('serve')
  .description('serve datasets, results, map tiles and the viewer')
  .option('--data <dir>', 'data folder (default: $SATSEG_DATA or ./data)')
  .option('--port <n>', 'port (default: $PORT or 8080)')
  .option('--host <host>', 'interface to listen on; 0.0.0.0 opens it to the network (then set SATSEG_API_KEY)', '127.0.0.1')
  .option('--public-url <url>', 'base URL for links in answers, e.g. https://maps.example.org/satseg (default: $SATSEG_PUBLIC_URL, else the request\'s)')
  .option('--trust-proxy', 'believe X-Forwarded-Proto/-Host from a reverse proxy when building links')
  .option('--no-samples', 'do not show the bundled sample scene')
  .option('--queue <redis-url>', 'run jobs on workers through BullMQ/Redis, e.g. redis://localhost:6379 (default: $SATSEG_QUEUE, else in-process)')
  .option('--models <dir>', 'models folder (default: $SATSEG_MODELS or the models/ folder of this installation)')
  .option('--upload-limit-mb <mb>', 'largest upload accepted (default: 2048)')
  .option('--max-jobs <n>', 'segmentation jobs run at the same time (default: 1)')
  .option('--job-threads <n>', 'inference threads per job (default: every core)')
  .action(async (o: ServeOptions) => {
    const { runServe } = await import('./serve-command.ts');
    await runServe(o);
  });

program
  .command('worker')
  .description('run jobs of a `satseg serve --queue` server on this machine (needs only Redis and HTTP to the server)')
  .requiredOption('--server <url>', "the API server's URL, e.g. http://api:8080")
  .option('--queue <redis-url>', 'the Redis the server queues jobs in, e.g. redis://redis:6379 (required unless $SATSEG_QUEUE is set)')
  .option('--key <key>', "the server's API key, for uploads (default: $SATSEG_API_KEY)")
  .option('--threads <n>', 'inference threads per job (default: every core)')
  .option('--device <device>', 'auto | cpu | cuda: cpu or cuda runs every job there; auto follows each job', 'auto')
  .option('--models <dir>', 'models folder; must hold the same model files as the server (default: $SATSEG_MODELS or the models/ folder of this installation)')
  .option('--name <name>', 'name shown in GET /workers and in jobs (default: host:pid)')
  .action(async (o: WorkerOptions) => {
    const { runWorker } = await import('./worker-command.ts');
    await runWorker(o);
  });

/**
 * Ctrl-C (or a TERM) during a one-shot command: what it was writing is removed, so no temporary
 * file or folder is left beside the outputs, and it ends by the signal (the shell shows 130 or 143).
 * `serve` and `worker` replace this with their own orderly stop.
 */
function removeOutputsWhenInterrupted(): void {
  const stop = async (signal: NodeJS.Signals) => {
    const { removeLiveTemporaries } = await import('../write/atomic-file.ts');
    let removed = removeLiveTemporaries();
    // A folder or file whose creation was already under way appears a moment later: a second pass.
    await new Promise((r) => setTimeout(r, 100));
    removed += removeLiveTemporaries();
    process.stderr.write(`satseg: interrupted by ${signal}${removed ? `; removed ${removed} unfinished output${removed === 1 ? '' : 's'}` : ''}\n`);
    // Ended by the signal itself, as a shell expects (status 130 or 143): process.exit() while
    // onnxruntime's threads run made it abort ("terminate called after throwing ... Napi::Error").
    // No listener is left by then, so the signal takes its default action.
    for (const s of SIGNALS) process.removeListener(s, onSignal);
    process.kill(process.pid, signal);
  };
  // A second signal while the first is handled is ignored: run through `npm run satseg` or tsx,
  // Ctrl-C reaches the command twice (from the terminal, and relayed by its parent), and the
  // second ended it before anything was removed (docs audit).
  let stopping = false;
  const onSignal = (s: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    // Ended by the signal even when removing failed (a read-only folder): not an unhandled rejection.
    stop(s).catch(() => {
      for (const signal of SIGNALS) process.removeListener(signal, onSignal);
      process.kill(process.pid, s);
    });
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

async function main(): Promise<void> {
  const command = process.argv[2];
  if (command === 'segment' || command === 'change' || command === 'vectorize') removeOutputsWhenInterrupted();
  try {
    const problems = cacheSizeProblems();
    if (problems.length) {
      process.stderr.write(`satseg: error: ${problems.join('; ')}\n`);
      process.exitCode = 2;
      return;
    }
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`satseg: error: ${oneLine(err)}\n`);
    process.exitCode = 1;
  }
}

await main();
