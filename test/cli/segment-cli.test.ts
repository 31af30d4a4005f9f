/**
 * The CLI as a user runs it: the summary, --json, `models`, and every bad input the issue lists,
 * each with a non-zero exit, one line naming the problem, and no file at --out.
 */
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installTestModel } from '../fixtures/test-model.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { corpusDir, sharedSkipReason, skipWithoutShared } from '../helpers/shared-data.ts';
import { expectCliFailure, interruptSatseg, runSatseg, runSatsegWithEnv } from '../helpers/satseg-cli.ts';
import { converter, transformableProj4, WGS84 } from '../../server/src/read/crs-transform.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-cli-'));
const models = path.join(tmp, 'models');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const satseg = (...args: string[]) => runSatseg(models, ...args);
const satsegWithEnv = (env: Record<string, string>, ...args: string[]) => runSatsegWithEnv(models, env, ...args);

const scene = path.join(tmp, 'scene.tif');
beforeAll(() => {
  installTestModel(models);
  installTestModel(models, 'test-rgb-1m', { metadata: { resolution: '100' } });
  writeTestTiff(scene, { width: 300, height: 200, bands: syntheticScene(300, 200), geoTransform: [400000, 5, 0, 5000000, 0, -5] });
});

describe('satseg segment', () => {
  it('refuses a model more than 3x finer than the scene, naming both resolutions, unless --force', () => {
    const out = path.join(tmp, 'mask-unsuitable.tif');
    const r = satseg('segment', scene, '--model', 'test-rgb-1m', '--out', out, '--device', 'cpu', '--no-progress');
    expect(r.code).toBe(1);
    expect(r.lines[r.lines.length - 1]).toMatch(/^satseg: error: model test-rgb-1m does not suit this dataset: .*5\.0 m is 5\.0x coarser than test-rgb-1m's 1\.0 m.* \(--force runs it anyway\)$/);
    expect(fs.existsSync(out)).toBe(false);
    const forced = satseg('segment', scene, '--model', 'test-rgb-1m', '--out', out, '--device', 'cpu', '--no-progress', '--force');
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/does not suit this dataset .*run anyway as asked/);
    expect(fs.existsSync(out)).toBe(true);
  });

  it('prints a one-paragraph summary', () => {
    const out = path.join(tmp, 'mask.tif');
    const r = satseg('segment', scene, '--model', 'test-rgb', '--out', out, '--device', 'cpu');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(/^Segmented scene\.tif \(300 x 200 px, bands 1,2,3: matched by name \(red=1, green=2, blue=3\)\) with test-rgb on CPU: \d+ tiles of 256 px with 32 px overlap in [\d.]+ s, [\d.]+ Mpx\/s, peak memory \d+ MB\. Class shares: .*%.*Wrote .*mask\.tif \(COG/);
    expect(r.stderr).toMatch(/segmenting: \d+\/\d+ tiles, [\d.]+ Mpx\/s, ETA/);
    expect(fs.existsSync(out)).toBe(true);
  });

  it("keeps onnxruntime's telemetry off: nothing of it in TMPDIR (with it on, a session file and a log)", () => {
    const traces = (dir: string) => fs.readdirSync(dir).filter((f) => f === '.ses' || f.startsWith('mat-debug-')).sort();
    const run = (name: string, env: Record<string, string>) => {
      const dir = path.join(tmp, name);
      fs.mkdirSync(dir, { recursive: true });
      const r = runSatsegWithEnv(models, { TMPDIR: dir, ...env }, 'segment', scene, '-m', 'test-rgb', '-o', path.join(tmp, `${name}.tif`), '--device', 'cpu', '--no-progress');
      expect(r.code, r.stderr).toBe(0);
      return traces(dir);
    };
    delete process.env.ORT_DISABLE_TELEMETRY;
    expect(run('tmp-default', {})).toEqual([]);
    // The control: an operator who turns it back on gets what every run used to leave. Not on a
    // CI machine: onnxruntime keeps quiet where CI (or GITHUB_ACTIONS, ...) is set, so those go.
    const notCi = Object.fromEntries(['CI', 'TF_BUILD', 'GITHUB_ACTIONS', 'GITLAB_CI', 'CIRCLECI', 'TRAVIS', 'JENKINS_URL', 'CODEBUILD_BUILD_ID', 'BUILDKITE', 'TEAMCITY_VERSION', 'APPVEYOR', 'BITBUCKET_BUILD_NUMBER'].map((k) => [k, undefined]));
    expect(run('tmp-telemetry-on', { ORT_DISABLE_TELEMETRY: '0', ...notCi } as Record<string, string>)).toEqual(['.ses', expect.stringMatching(/^mat-debug-\d+\.log$/)]);
  });

  it('vectorizes the mask with --vector', () => {
    const out = path.join(tmp, 'mask-vector.tif');
    const vec = path.join(tmp, 'mask-vector.geojson');
    const r = satseg('segment', scene, '-m', 'test-rgb', '-o', out, '--device', 'cpu', '--vector', vec, '--json', '--no-progress');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.vector.features).toBeGreaterThan(0);
    const fc = JSON.parse(fs.readFileSync(vec, 'utf8'));
    expect(fc.features).toHaveLength(s.vector.features);
    const bad = satseg('segment', scene, '-m', 'test-rgb', '-o', path.join(tmp, 'x.tif'), '--vector', path.join(tmp, 'x.shp'), '--no-progress');
    expect(bad.code).not.toBe(0);
    expect(bad.lines).toEqual([expect.stringMatching(/^satseg: error: --vector: unsupported output x\.shp: use a \.geojson/)]);
    expect(fs.existsSync(path.join(tmp, 'x.tif'))).toBe(false);
  });

  it('prints the same summary as one JSON object with --json', () => {
    const out = path.join(tmp, 'mask-json.tif');
    const r = satseg('segment', scene, '-m', 'test-rgb', '-o', out, '--device', 'cpu', '--json', '--no-progress', '--tile', '128', '--overlap', '16', '--batch', '2');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ model: 'test-rgb', width: 300, height: 200, tile: 128, overlap: 16, batch: 2, device: 'cpu' });
    expect(s.tiles.total).toBeGreaterThan(1);
    expect(Object.keys(s.classShares)).toEqual(['water', 'vegetation', 'bare', 'built']);
    expect(s.peakRssMb).toBeGreaterThan(0);
  });

  it('segments only a --bbox, and rejects one that misses the scene', () => {
    const out = path.join(tmp, 'bbox.tif');
    // The scene is 300 x 200 px of 5 m in UTM 18N from (400000, 5000000): take its middle third.
    const r = satseg('segment', scene, '-m', 'test-rgb', '-o', out, '--device', 'cpu', '--json', '--no-progress', '--bbox=-75.7,45.1,-75.6,45.2');
    expect(r.code).toBe(1);
    expect(r.lines[r.lines.length - 1]).toMatch(/--bbox: the area does not intersect the dataset/);
    expect(fs.existsSync(out)).toBe(false);
    const bad = satseg('segment', scene, '-m', 'test-rgb', '-o', out, '--bbox=1,2,3', '--no-progress');
    expect(bad.lines).toEqual(['satseg: error: --bbox must be west,south,east,north in degrees (got "1,2,3")']);
    // The middle of the scene, from pixel (100, 50) to (200, 150).
    const toWgs = converter(transformableProj4(crsFromEpsg(32618)), WGS84);
    const [w, n] = toWgs.forward([400000 + 100 * 5, 5000000 - 50 * 5]);
    const [e, s] = toWgs.forward([400000 + 200 * 5, 5000000 - 150 * 5]);
    const ok = satseg('segment', scene, '-m', 'test-rgb', '-o', out, '--device', 'cpu', '--json', '--no-progress', `--bbox=${w},${s},${e},${n}`);
    expect(ok.code).toBe(0);
    const summary = JSON.parse(ok.stdout);
    // A lon/lat box is a slightly rotated quadrilateral on the UTM grid: its window is a bit larger.
    expect(summary.width).toBeGreaterThanOrEqual(100);
    expect(summary.width).toBeLessThanOrEqual(110);
    expect(summary.height).toBeGreaterThanOrEqual(100);
    expect(summary.height).toBeLessThanOrEqual(110);
    expect(summary.nodataPixels).toBeGreaterThan(0); // the corners outside the box
  });

  it('lists models, usable or not', () => {
    fs.writeFileSync(path.join(models, 'broken.onnx'), 'nope');
    const r = satseg('models');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^test-rgb - /m);
    expect(r.stdout).toMatch(/classes: water, vegetation, bare, built/);
    expect(r.stdout).toMatch(/^broken\n {2}UNUSABLE: model broken: cannot read broken\.onnx/m);
    const j = JSON.parse(satseg('models', '--json').stdout);
    expect(j.find((m: { id: string }) => m.id === 'test-rgb').classes).toHaveLength(4);
    fs.rmSync(path.join(models, 'broken.onnx'));
  });
});

describe('bad input: exit code, one line, no output file', () => {
  const cases: Array<[string, () => string, RegExp, string[]?]> = [
    ['not a TIFF', () => { const f = path.join(tmp, 'notes.tif'); fs.writeFileSync(f, 'just some text'); return f; }, /not a TIFF file \(starts with bytes 6a 75 73 74\)/],
    ['a truncated file', () => {
      const f = path.join(tmp, 'truncated.tif');
      fs.writeFileSync(f, fs.readFileSync(scene).subarray(0, 50_000));
      return f;
    }, /file truncated or corrupt\?/],
    ['GCPs only', () => { const f = path.join(tmp, 'gcps.tif'); writeTestTiff(f, { width: 32, height: 32, bands: syntheticScene(32, 32), gcpsOnly: true }); return f; }, /GCPs only, no geotransform/],
    ['a rotated geotransform', () => { const f = path.join(tmp, 'rotated.tif'); writeTestTiff(f, { width: 32, height: 32, bands: syntheticScene(32, 32), geoTransform: [0, 4, 1, 0, 1, -4] }); return f; }, /rotated geotransform not supported/],
    ['zero bands', () => { const f = path.join(tmp, 'nobands.tif'); writeTestTiff(f, { width: 8, height: 8, bands: [], samplesPerPixel: 0 }); return f; }, /zero bands/],
    ['a band count the model cannot use', () => { const f = path.join(tmp, 'gray.tif'); writeTestTiff(f, { width: 32, height: 32, bands: [new Uint8Array(1024)], geoTransform: [0, 5, 0, 0, 0, -5] }); return f; }, /model test-rgb needs 3 bands \(red, green, blue\); the scene has 1 usable band/],
    ['an output path in a missing folder', () => scene, /--out: output folder does not exist: .*no-such-folder/, ['--out', path.join(tmp, 'no-such-folder', 'mask.tif')]],
    ['a missing input', () => path.join(tmp, 'nope.tif'), /nope\.tif: no such file/],
    ['an unknown model', () => scene, /unknown model "nope"; installed: test-rgb/, ['--model', 'nope']],
  ];
  for (const [what, make, reason, extra] of cases) {
    it(what, () => {
      const input = make();
      const out = path.join(tmp, `out-${what.replace(/\W+/g, '-')}.tif`);
      const args = ['segment', input, '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--no-progress', ...(extra ?? [])];
      expectCliFailure(satseg(...args), reason, out, tmp);
    });
  }

  it.skipIf(skipWithoutShared)(`a real truncated COG (IFDs intact, tiles missing) ${sharedSkipReason}`, () => {
    const out = path.join(tmp, 'out-real-truncated.tif');
    // --device auto: the run's own notices ('CUDA not available', the resampling of a 300 m scene
    // for a 5 m model) are held until its first tiles are done, so a run failing at its first tile
    // ends with its error; only what the request itself asked for (--force) is said before.
    const r = satseg('segment', path.join(corpusDir, 'derived/truncated__titiler_cog1_first1MiB.tif'), '--model', 'test-rgb', '--out', out, '--device', 'auto', '--no-progress', '--bands', '1,2,3', '--force');
    expect(r.code).toBe(1);
    expect(r.lines.slice(0, -1)).toEqual([expect.stringMatching(/^satseg: model test-rgb does not suit this dataset .*run anyway as asked$/)]);
    expect(r.lines[r.lines.length - 1]).toMatch(/^satseg: error: tile \d+ failed to decode: its bytes run past the end of the file \(file truncated\?\)$/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('an input that is its own --out, --scores or --vector: refused, the scene left as it was', () => {
    const copy = path.join(tmp, 'own-out.tif');
    fs.copyFileSync(scene, copy);
    const bytes = fs.readFileSync(copy);
    for (const flag of ['--out', '--scores']) {
      const args = flag === '--out' ? ['--out', copy] : ['--out', path.join(tmp, 'own-mask.tif'), '--scores', copy];
      const r = satseg('segment', copy, '--model', 'test-rgb', ...args, '--device', 'cpu', '--no-progress');
      expect(r.code).toBe(1);
      expect(r.lines).toEqual([`satseg: error: ${flag} ${copy} is an input; choose another file`]);
    }
    expect(fs.readFileSync(copy).equals(bytes)).toBe(true);
  });

  it('a fifo as input or as output: refused at once, and the fifo left a fifo', () => {
    const fifo = path.join(tmp, 'pipe.tif');
    execFileSync('mkfifo', [fifo]);
    // Opening a fifo to read waits for a writer: the input is looked at first.
    const asInput = satseg('segment', fifo, '--model', 'test-rgb', '--out', path.join(tmp, 'from-fifo.tif'), '--device', 'cpu', '--no-progress');
    expect(asInput.lines).toEqual(['satseg: error: pipe.tif: not a file']);
    // The output is renamed into place: over a fifo (or /dev/null) that would replace it.
    const asOutput = satseg('segment', scene, '--model', 'test-rgb', '--out', fifo, '--device', 'cpu', '--no-progress');
    expect(asOutput.code).toBe(1);
    expect(asOutput.lines).toEqual([`satseg: error: --out: ${fifo} is not a regular file; write to a file path`]);
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
  });

  it('a raster over the pixel limit, or too wide to hold a row of tiles, is refused before anything is written', () => {
    // Over SATSEG_MAX_PIXELS (the server's limit, applied by the command too): a header claiming
    // 4e9 x 4e9 px died on an allocation message and left the COG's temp folder beside --out.
    const limited = { SATSEG_MAX_PIXELS: '50000' };
    const out = path.join(tmp, 'limited.tif');
    const seg = runSatsegWithEnv(models, limited, 'segment', scene, '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--no-progress');
    expect(seg.code).toBe(1);
    expect(seg.lines).toEqual(['satseg: error: scene.tif: the raster claims 300 x 200 pixels (0.06 Mpx), over the 0.05 Mpx limit (SATSEG_MAX_PIXELS)']);
    const vec = runSatsegWithEnv(models, limited, 'vectorize', scene, '--out', path.join(tmp, 'limited.geojson'));
    expect(vec.lines).toEqual([expect.stringMatching(/^satseg: error: scene\.tif: the raster claims 300 x 200 pixels .*\(SATSEG_MAX_PIXELS\)$/)]);
    const change = runSatsegWithEnv(models, limited, 'change', scene, scene, '--out', path.join(tmp, 'limited-change.tif'));
    expect(change.lines).toEqual([expect.stringMatching(/^satseg: error: scene\.tif: the raster claims 300 x 200 pixels .*\(SATSEG_MAX_PIXELS\)$/)]);
    // Within the pixel limit but 120,000 px wide: the blender's rows alone need more than the job may use.
    const wide = path.join(tmp, 'wide.tif');
    writeTestTiff(wide, { width: 120_000, height: 2, bands: syntheticScene(120_000, 2), geoTransform: [400000, 5, 0, 5000000, 0, -5] });
    const w = runSatsegWithEnv(models, { SATSEG_MAX_JOB_MEMORY_MB: '256' }, 'segment', wide, '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--no-progress');
    expect(w.code).toBe(1);
    expect(w.lines).toEqual([expect.stringMatching(/^satseg: error: the dataset is 120,000 px wide: rows that wide need about [\d.]+ MB of working memory \(and tile 256 with batch 4 [\d.]+ MB\), over the 256 MB a job may use \(SATSEG_MAX_JOB_MEMORY_MB\); segment part of it \(an area or bbox\)$/)]);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('limited') || f.includes('.satseg-tmp-'))).toEqual([]);
  });

  it('a georeference no Earth can hold (1e12 m pixels, latitudes of 1e13°) is refused, not written as Infinity', () => {
    const huge = path.join(tmp, 'huge-gt.tif');
    writeTestTiff(huge, { width: 16, height: 16, bands: syntheticScene(16, 16), geoTransform: [400000, 1e12, 0, 5000000, 0, -1e12] });
    const seg = satseg('segment', huge, '--model', 'test-rgb', '--out', path.join(tmp, 'huge-gt-mask.tif'), '--device', 'cpu', '--no-progress');
    expect(seg.code).toBe(1);
    expect(seg.lines).toEqual(['satseg: error: huge-gt.tif: this raster cannot be placed on Earth: its corners reach 1.60e+13 units from the origin, beyond any projection of the Earth (check its geotransform)']);
    const geo = path.join(tmp, 'huge-geo.tif');
    writeTestTiff(geo, { width: 16, height: 16, bands: [new Uint8Array(256)], geoTransform: [10, 1e12, 0, 50, 0, -1e12], epsg: 4326 });
    const vec = satseg('vectorize', geo, '--out', path.join(tmp, 'huge-geo.geojson'));
    expect(vec.lines).toEqual([expect.stringMatching(/^satseg: error: huge-geo\.tif: this raster cannot be placed on Earth: its latitudes run from -1\.600e\+13 to 50\.00°, beyond ±90°/)]);
    expect(fs.existsSync(path.join(tmp, 'huge-geo.geojson'))).toBe(false);
  });

  it('tiles, batches and threads far beyond the machine: refused with what to lower', () => {
    const out = path.join(tmp, 'huge-tile.tif');
    const tile = satseg('segment', scene, '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--no-progress', '--tile', '100000');
    expect(tile.lines).toHaveLength(1);
    expect(tile.lines[0]).toMatch(/^satseg: error: tile 100000 with batch 4 needs about [\d.]+ MB of working memory \(and rows 300 px wide [\d.]+ MB\), over the [\d.]+ MB a job may use \(SATSEG_MAX_JOB_MEMORY_MB\); use a smaller tile or batch$/);
    const batch = satseg('segment', scene, '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--no-progress', '--batch', '100000');
    expect(batch.lines[0]).toMatch(/with batch 100000 needs about/);
    // A scene 3.3x finer than the model with a large tile: its resampled tiles span thousands of
    // scene pixels; the refusal says so, and how to resample the scene once instead.
    const fine = path.join(tmp, 'fine.tif');
    writeTestTiff(fine, { width: 300, height: 200, bands: syntheticScene(300, 200), geoTransform: [400000, 1.5, 0, 5000000, 0, -1.5], epsg: 32633 });
    const big = satsegWithEnv({ SATSEG_MAX_JOB_MEMORY_MB: '512' }, 'segment', fine, '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--no-progress', '--tile', '2048');
    expect(big.lines).toEqual([expect.stringMatching(/^satseg: error: tile 2048 with batch 4 needs about [\d.]+ (MB|GB) .*; use a smaller tile or batch \(the scene's pixels are 3x finer than model test-rgb's 5 m, so each tile spans 6,8\d\d x 6,8\d\d of them\), or resample the scene to 5 m first \(gdalwarp -tr 5 5 -r average\)$/)]);
    const threads = satseg('segment', scene, '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--no-progress', '--threads', '10000');
    expect(threads.lines).toEqual(['satseg: error: --threads must be at most 1024 (got "10000")']);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('a scene much finer than the model (drone imagery) is segmented on its block averages, and says so', async () => {
    // 12.5 cm pixels for a 5 m model: 40x finer. Segmented at its own resolution, each tile held
    // 10,200 x 10,200 pixels of probabilities and the run was refused for memory.
    const drone = path.join(tmp, 'drone.tif');
    writeTestTiff(drone, { width: 300, height: 200, bands: syntheticScene(300, 200), geoTransform: [400000, 0.125, 0, 5000000, 0, -0.125], epsg: 32633 });
    const out = path.join(tmp, 'drone-mask.tif');
    const r = satsegWithEnv({ SATSEG_MAX_JOB_MEMORY_MB: '512' }, 'segment', drone, '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--no-progress');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/satseg: the scene's 12\.5 cm pixels are 40x finer than model test-rgb's 5\.00 m: it is segmented averaged in 20 x 20 blocks, as gdalwarp -r average would, so the mask has 2\.50 m pixels \(15 x 10\)/);
    expect(r.stdout).toMatch(/^Segmented drone\.tif \(averaged in 20 x 20 blocks to 15 x 10 px, bands 1,2,3/);
    const mask = await openRaster(out);
    try {
      expect(mask.info).toMatchObject({ width: 15, height: 10 });
      expect(mask.info.geoTransform).toEqual([400000, 2.5, 0, 5000000, 0, -2.5]);
    } finally {
      await mask.close();
    }
  });

  it('a bbox beyond -180..180 or -90..90 says so', () => {
    const r = satseg('segment', scene, '--model', 'test-rgb', '--out', path.join(tmp, 'bbox.tif'), '--device', 'cpu', '--no-progress', '--bbox=-200,47,-99,48');
    expect(r.lines).toEqual(['satseg: error: --bbox longitudes must be within -180..180 (got "-200,47,-99,48")']);
    const lat = satseg('segment', scene, '--model', 'test-rgb', '--out', path.join(tmp, 'bbox.tif'), '--device', 'cpu', '--no-progress', '--bbox=-100,47,-99,95');
    expect(lat.lines).toEqual(['satseg: error: --bbox latitudes must be within -90..90 (got "-100,47,-99,95")']);
  });

  it('usage errors exit with 2', () => {
    const r = satseg('segment', scene, '--model', 'test-rgb');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/required option '-o, --out <file>' not specified/);
    const bad = satseg('segment', scene, '--model', 'test-rgb', '--out', path.join(tmp, 'x.tif'), '--device', 'tpu');
    expect(bad.code).toBe(1);
    expect(bad.lines).toEqual(['satseg: error: --device must be auto, cpu or cuda (got "tpu")']);
  });

  it('refuses a cache size that is not a number of megabytes with one line (lru-cache killed the import with a stack)', () => {
    const out = path.join(tmp, 'cache-size.tif');
    for (const value of ['abc', '-1']) {
      const r = runSatsegWithEnv(models, { SATSEG_HTTP_CACHE_MB: value }, 'segment', scene, '--model', 'test-rgb', '--out', out);
      expect(r.code, value).toBe(2);
      expect(r.lines).toEqual([`satseg: error: SATSEG_HTTP_CACHE_MB must be a number of megabytes from 0 to 1048576 (got "${value}")`]);
    }
    // A fraction of a megabyte, and 0 (the tile cache's "off"), are sizes.
    for (const [name, value] of [['SATSEG_BLOCK_CACHE_MB', '0.07'], ['SATSEG_HTTP_CACHE_MB', '0']] as const) {
      expect(runSatsegWithEnv(models, { [name]: value }, 'models').code, `${name}=${value}`).toBe(0);
    }
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('satseg segment interrupted', () => {
  // As soon as it starts writing, and later, while the model runs (process.exit() there made
  // onnxruntime abort the process).
  for (const [signal, afterMs] of [['SIGINT', 0], ['SIGTERM', 0], ['SIGINT', 400]] as const) {
    it(`removes what it was writing on ${signal} ${afterMs} ms into writing, and ends by the signal`, async () => {
      const dir = fs.mkdtempSync(path.join(tmp, 'interrupted-'));
      const big = path.join(dir, 'big.tif');
      writeTestTiff(big, { width: 3200, height: 3200, bands: syntheticScene(3200, 3200), geoTransform: [400000, 5, 0, 5000000, 0, -5] });
      const out = path.join(dir, 'mask.tif');
      let writingSince = 0;
      const r = await interruptSatseg(models, dir, (entries) => {
        if (!entries.some((e) => e.includes('.satseg-tmp-'))) return false;
        writingSince ||= Date.now();
        return Date.now() - writingSince >= afterMs;
      }, signal, 'segment', big, '--model', 'test-rgb', '--out', out, '--scores', path.join(dir, 'scores.tif'), '--device', 'cpu', '--no-progress');
      expect(r.sent).toBe(true);
      // Ended by the signal (a shell shows 130 or 143), not by an abort.
      expect([r.code, r.signal]).toEqual([null, signal]);
      expect(r.stderr).not.toMatch(/terminate called|Napi::Error/);
      expect(r.lines.pop()).toMatch(new RegExp(`^satseg: interrupted by ${signal}; removed [1-9]\\d* unfinished outputs?$`));
      expect(fs.readdirSync(dir).sort()).toEqual(['big.tif']);
    });
  }
});
