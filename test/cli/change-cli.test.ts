/**
 * `satseg change` as a user runs it, on files made here: two masks compared, two scenes segmented
 * (and their masks reused on the next run), the summary, --json, --stats, --vector, and bad input
 * with a non-zero exit, one line, and no file at --out.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installTestModel } from '../fixtures/test-model.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { expectCliFailure, runSatseg, runSatsegWithEnv } from '../helpers/satseg-cli.ts';
import { blobIds, writeMask } from '../change/change-fixtures.ts';
import { converter, transformableProj4, WGS84 } from '../../server/src/read/crs-transform.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';

const execFileAsync = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-change-cli-'));
const models = path.join(tmp, 'models');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const file = (name: string) => path.join(tmp, name);

const satseg = (...args: string[]) => runSatseg(models, ...args);

const grid = { width: 300, height: 200, geoTransform: [500000, 10, 0, 5000000, 0, -10] as [number, number, number, number, number, number], epsg: 32610 };

beforeAll(async () => {
  installTestModel(models);
  await writeMask(file('before.tif'), { ...grid, ids: blobIds(300, 200, 1) });
  await writeMask(file('after.tif'), { ...grid, ids: blobIds(300, 200, 2) });
  writeTestTiff(file('pre.tif'), { width: 300, height: 200, bands: syntheticScene(300, 200, 1), geoTransform: [400000, 5, 0, 5000000, 0, -5] });
  writeTestTiff(file('post.tif'), { width: 300, height: 200, bands: syntheticScene(300, 200, 3), geoTransform: [400000, 5, 0, 5000000, 0, -5] });
});

describe('satseg change', () => {
  it('compares two masks: the changed share, a "newly <class>" line per class that gained, and the outputs', () => {
    const out = file('change.tif');
    const r = satseg('change', file('before.tif'), file('after.tif'), '--out', out, '--vector', file('change.geojson'), '--stats', file('stats.json'), '--no-progress');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const stats = JSON.parse(fs.readFileSync(file('stats.json'), 'utf8'));
    const km2 = (m2: number) => Number((m2 / 1e6).toPrecision(3));
    expect(lines[0]).toBe(`Compared before.tif → after.tif (test-model) on the before grid, 300 x 200 px (EPSG:32610): ${(stats.changed_share * 100).toFixed(1)}% of ${km2(stats.valid_area_m2)} km² compared changed (${km2(stats.changed_area_m2)} km²).`);
    // 300 x 200 px of 100 m² less the two masks' nodata holes.
    expect(stats.valid_area_m2).toBeLessThan(6e6);
    expect(stats.valid_area_m2).toBeGreaterThan(5e6);
    const gaining = stats.per_class.filter((c: { gained_m2: number }) => c.gained_m2 > 0);
    expect(gaining.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.startsWith('newly '))).toEqual(gaining.map((c: { name: string }) => expect.stringMatching(new RegExp(`^newly ${c.name}: [\\d.]+ km² \\(lost [\\d.]+ km², net [+-][\\d.]+ km²\\)$`))));
    expect(lines[lines.length - 1]).toMatch(/^Wrote .*change\.tif \(COG, transition codes from \* 3 \+ to, 0 overviews\), \d+ change polygons to .*change\.geojson, statistics to .*stats\.json in [\d.]+ s\.$/);
    expect(stats.valid_pixels).toBe(stats.matrix.pixels.flat().reduce((s: number, v: number) => s + v, 0));
    const fc = JSON.parse(fs.readFileSync(file('change.geojson'), 'utf8'));
    expect(fc.features.length).toBeGreaterThan(0);
    expect(Object.keys(fc.features[0].properties)).toEqual(['class', 'class_id', 'from', 'to', 'from_id', 'to_id', 'area_m2']);
  });

  it('says how many pixels hold ids beyond the class list (nodata in the change mask), and says nothing when none do', async () => {
    const ids = blobIds(300, 200, 2);
    for (let i = 0; i < 500; i++) ids[i * 7] = 200;
    await writeMask(file('after-unlisted.tif'), { ...grid, ids });
    const r = satseg('change', file('before.tif'), file('after-unlisted.tif'), '--out', file('change-unlisted.tif'), '--stats', file('stats-unlisted.json'), '--no-progress');
    expect(r.code).toBe(0);
    const stats = JSON.parse(fs.readFileSync(file('stats-unlisted.json'), 'utf8'));
    expect(stats.unlisted_pixels).toBeGreaterThan(0);
    expect(r.stdout).toContain(`Note: ${stats.unlisted_pixels.toLocaleString('en-US')} pixels hold class ids beyond the masks' 3 classes; they are nodata in the change mask and in no figure above.`);
    expect(satseg('change', file('before.tif'), file('after.tif'), '--out', file('change-listed.tif'), '--no-progress').stdout).not.toContain('Note:');
  });

  it('prints one JSON object with --json', () => {
    const r = satseg('change', file('before.tif'), file('after.tif'), '-o', file('change-json.tif'), '--json', '--no-progress');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ before: 'before.tif', after: 'after.tif', width: 300, height: 200, crs: 'EPSG:32610' });
    expect(s.statistics.matrix.area_m2).toHaveLength(3);
    expect(s.statistics.changed_share).toBeGreaterThan(0);
  });

  it('segments --before and --after scenes beside --out, then reuses the masks while they are up to date', () => {
    const out = file('scenes-change.tif');
    const first = satseg('change', '--before', file('pre.tif'), '--after', file('post.tif'), '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--json', '--no-progress');
    expect(first.code).toBe(0);
    const s1 = JSON.parse(first.stdout);
    expect(s1.segmented.before).toMatchObject({ mask: file('scenes-change.before.tif'), reused: false });
    expect(s1.segmented.after).toMatchObject({ mask: file('scenes-change.after.tif'), reused: false });
    expect(s1.statistics.classes).toEqual(['water', 'vegetation', 'bare', 'built']);
    expect(s1.statistics.model).toBe('test-rgb');

    const second = satseg('change', '--before', file('pre.tif'), '--after', file('post.tif'), '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--no-progress');
    expect(second.code).toBe(0);
    expect(second.lines).toEqual([
      `satseg: reusing ${file('scenes-change.before.tif')} as the before mask (model test-rgb, newer than pre.tif)`,
      `satseg: reusing ${file('scenes-change.after.tif')} as the after mask (model test-rgb, newer than post.tif)`,
    ]);
    expect(second.stdout).toMatch(/Masks: .*scenes-change\.before\.tif reused; .*scenes-change\.after\.tif reused\./);

    // A newer scene is segmented again.
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(file('post.tif'), later, later);
    const third = satseg('change', '--before', file('pre.tif'), '--after', file('post.tif'), '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--json', '--no-progress');
    expect(third.code).toBe(0);
    expect(third.lines).toContain(`satseg: segmenting post.tif again: ${file('scenes-change.after.tif')} is older than post.tif`);
    const s3 = JSON.parse(third.stdout);
    expect(s3.segmented.before.reused).toBe(true);
    expect(s3.segmented.after.reused).toBe(false);
    expect(s3.statistics.matrix.pixels).toEqual(s1.statistics.matrix.pixels);
  });

  it('compares drone scenes on their block averages, and reuses those masks (their grid is not the scene\'s)', async () => {
    // 25 cm pixels for test-rgb's 5 m: averaged 10 x 10 into 2.5 m pixels.
    const drone = (name: string, seed: number) => writeTestTiff(file(name), { width: 400, height: 300, bands: syntheticScene(400, 300, seed), geoTransform: [400000, 0.25, 0, 5000000, 0, -0.25], epsg: 32610 });
    drone('drone-pre.tif', 4);
    drone('drone-post.tif', 5);
    const out = file('drone-change.tif');
    const run = () => satseg('change', '--before', file('drone-pre.tif'), '--after', file('drone-post.tif'), '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--json', '--no-progress');
    const first = run();
    expect(first.code).toBe(0);
    expect(first.lines.filter((l) => /averaged in 10 x 10 blocks/.test(l))).toHaveLength(2);
    const change = await openRaster(out);
    try {
      expect([change.info.width, change.info.height]).toEqual([40, 30]);
      expect(change.info.geoTransform).toEqual([400000, 2.5, 0, 5000000, 0, -2.5]);
    } finally {
      await change.close();
    }
    const second = run();
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).segmented).toMatchObject({ before: { reused: true }, after: { reused: true } });
  });

  it('reuses a mask of the whole scene for an area, but not a mask made for another area', () => {
    // pre.tif and post.tif: 300 x 200 px of 5 m from (400000, 5000000) in UTM 18N.
    const toLonLat = converter(transformableProj4(crsFromEpsg(32618)), WGS84);
    const box = (x0: number, y0: number, x1: number, y1: number) => {
      const [w, n] = toLonLat.forward([400000 + 5 * x0, 5000000 - 5 * y0]);
      const [e, s] = toLonLat.forward([400000 + 5 * x1, 5000000 - 5 * y1]);
      return `--bbox=${w},${s},${e},${n}`;
    };
    const boxA = box(40, 30, 200, 150);
    const boxB = box(100, 60, 280, 190);
    // Copies of the scenes made now: masks are reused only while newer than their scene.
    fs.copyFileSync(file('pre.tif'), file('areas-pre.tif'));
    fs.copyFileSync(file('post.tif'), file('areas-post.tif'));
    const change = (out: string, ...extra: string[]) => {
      const r = satseg('change', '--before', file('areas-pre.tif'), '--after', file('areas-post.tif'), '--model', 'test-rgb', '--out', out, '--device', 'cpu', '--json', '--no-progress', ...extra);
      expect(r.code, r.stderr).toBe(0);
      return { lines: r.lines, result: JSON.parse(r.stdout) };
    };
    const run = (...extra: string[]) => change(file('areas.tif'), ...extra);
    const fresh = (area: string) => change(file(`areas-fresh-${area.length}.tif`), area).result.statistics;

    run();
    // Masks of the whole scene serve any area: every pixel inside it is compared, as with masks
    // made for the area (whose classes may differ a little: segmenting a part sees less context).
    const a = run(boxA);
    expect([a.result.segmented.before.reused, a.result.segmented.after.reused]).toEqual([true, true]);
    expect(a.result.statistics.valid_pixels).toBe(fresh(boxA).valid_pixels);

    // Masks made for box A (pixels outside it are nodata) serve neither box B nor the whole scene.
    fs.rmSync(sceneMask('before'));
    fs.rmSync(sceneMask('after'));
    run(boxA);
    const b = run(boxB);
    expect(b.lines).toContain(`satseg: segmenting areas-pre.tif again: ${sceneMask('before')} is made for another area`);
    expect([b.result.segmented.before.reused, b.result.segmented.after.reused]).toEqual([false, false]);
    expect(b.result.statistics.matrix.pixels).toEqual(fresh(boxB).matrix.pixels);
    const whole = run();
    expect(whole.lines).toContain(`satseg: segmenting areas-pre.tif again: ${sceneMask('before')} is made for an area, not the whole scene`);
  });
});

const sceneMask = (which: string) => file(`areas.${which}.tif`);

describe('satseg change and the model\'s threads', () => {
  // In a child process: a thread's priority, once lowered, stays lowered. A second model opened for
  // the after scene would be started by a thread already at the lowest priority, and inherit it.
  it.runIf(process.platform === 'linux')('opens one model for both scenes, before its other threads take the lowest priority', async () => {
    const script = file('one-model.mts');
    fs.writeFileSync(script, `
      import os from 'node:os';
      import { WorkerModel } from ${JSON.stringify(path.resolve('server/src/infer/worker-model.ts'))};
      import { runChange } from ${JSON.stringify(path.resolve('server/src/cli/change-command.ts'))};
      const open = WorkerModel.open;
      const priorities = [];
      WorkerModel.open = (...args) => { priorities.push(os.getPriority(0)); return open.apply(WorkerModel, args); };
      const r = await runChange([], { before: ${JSON.stringify(file('pre.tif'))}, after: ${JSON.stringify(file('post.tif'))}, model: 'test-rgb', out: ${JSON.stringify(file('one-model.tif'))}, device: 'cpu', progress: false }, { yieldToModel: true });
      console.log(JSON.stringify({ priorities, after: os.getPriority(0), segmented: [r.segmented.before.reused, r.segmented.after.reused] }));`);
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', script], { cwd: path.resolve('.'), env: { ...process.env, SATSEG_MODELS: models }, timeout: 60_000 });
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as { priorities: number[]; after: number; segmented: boolean[] };
    expect(r.segmented).toEqual([false, false]);
    expect(r.priorities).toHaveLength(1);
    expect(r.priorities[0]).toBeLessThan(19);
    expect(r.after).toBe(19);
  });
});

describe('bad input: exit code, one line, no output file', () => {
  const cases: Array<[string, () => Promise<string[]>, RegExp]> = [
    ['masks of different models', async () => {
      await writeMask(file('other-model.tif'), { ...grid, ids: blobIds(300, 200, 2), model: 'aerial-landcover' });
      return [file('before.tif'), file('other-model.tif')];
    }, /the masks use different models: before\.tif is model test-model \(water, vegetation, other\), other-model\.tif is model aerial-landcover \(water, vegetation, other\)/],
    ['masks that do not overlap', async () => {
      await writeMask(file('far.tif'), { ...grid, geoTransform: [700000, 10, 0, 5000000, 0, -10], ids: blobIds(300, 200, 2) });
      return [file('before.tif'), file('far.tif')];
    }, /the masks do not overlap: far\.tif covers none of before\.tif/],
    ['more than 15 classes', async () => {
      const names = Array.from({ length: 20 }, (_, i) => `c${i}`);
      await writeMask(file('many-a.tif'), { ...grid, ids: blobIds(300, 200, 1), names });
      await writeMask(file('many-b.tif'), { ...grid, ids: blobIds(300, 200, 2), names });
      return [file('many-a.tif'), file('many-b.tif')];
    }, /20 classes is more than change can code: .* at most 15 classes/],
    ['a bbox that misses the masks', async () => [file('before.tif'), file('after.tif'), '--bbox=10,10,11,11'], /the area does not overlap the before mask before\.tif/],
    ['a malformed bbox', async () => [file('before.tif'), file('after.tif'), '--bbox=1,2,3'], /--bbox must be west,south,east,north in degrees \(got "1,2,3"\)/],
    ['a scene the model does not suit (20 m for a 5 m model)', async () => {
      writeTestTiff(file('coarse.tif'), { width: 75, height: 50, bands: syntheticScene(75, 50, 3), geoTransform: [400000, 20, 0, 5000000, 0, -20] });
      return ['--before', file('pre.tif'), '--after', file('coarse.tif'), '--model', 'test-rgb'];
    }, /the after scene coarse\.tif: model test-rgb does not suit this dataset: .*20\.0 m is 4\.0x coarser than test-rgb's 5\.0 m.*--force/],
    ['one mask only', async () => [file('before.tif')], /give two masks \(BEFORE AFTER\), or --before and --after scenes with --model/],
    ['scenes without a model', async () => ['--before', file('pre.tif'), '--after', file('post.tif')], /--before and --after scenes need each other and --model/],
    ['masks and scenes together', async () => [file('before.tif'), file('after.tif'), '--before', file('pre.tif')], /give two masks, or --before and --after scenes with --model, not both/],
    ['an unknown model', async () => ['--before', file('pre.tif'), '--after', file('post.tif'), '--model', 'nope'], /unknown model "nope"; installed: test-rgb/],
    ['a missing mask', async () => [file('before.tif'), file('nope.tif')], /no such file: .*nope\.tif/],
    ['a polygon output that is not GeoJSON', async () => [file('before.tif'), file('after.tif'), '--vector', file('x.fgb')], /--vector: unsupported output x\.fgb: change polygons are written as GeoJSON/],
    ['--stats naming the input', async () => [file('before.tif'), file('after.tif'), '--stats', file('after.tif')], /--stats .*after\.tif is an input; choose another file/],
    ['--stats and --vector naming one file', async () => [file('before.tif'), file('after.tif'), '--vector', file('same.geojson'), '--stats', file('same.geojson')], /--vector and --stats name the same file, .*same\.geojson; choose another/],
    ['scenes that do not overlap', async () => {
      writeTestTiff(file('elsewhere.tif'), { width: 300, height: 200, bands: syntheticScene(300, 200, 2), geoTransform: [600000, 5, 0, 5000000, 0, -5] });
      return ['--before', file('pre.tif'), '--after', file('elsewhere.tif'), '--model', 'test-rgb'];
    }, /^satseg: error: the scenes do not overlap: elsewhere\.tif covers none of pre\.tif$/],
    ['a scene with too few bands for the model', async () => {
      writeTestTiff(file('one-band.tif'), { width: 300, height: 200, bands: [syntheticScene(300, 200, 2)[0]!], geoTransform: [400000, 5, 0, 5000000, 0, -5] });
      return ['--before', file('one-band.tif'), '--after', file('post.tif'), '--model', 'test-rgb'];
    }, /the before scene one-band\.tif: .*band/],
  ];
  for (const [what, make, reason] of cases) {
    it(what, async () => {
      const out = file(`out-${what.replace(/\W+/g, '-')}.tif`);
      const r = satseg('change', ...(await make()), '--out', out, '--no-progress');
      expect(r.code).toBe(1);
      expectCliFailure(r, reason, out, tmp);
    });
  }

  it('polygons over SATSEG_MAX_FEATURES: no --out put in place (a fresh change mask was left beside exit 1), an earlier one kept', () => {
    const out = file('over-features.tif');
    fs.writeFileSync(out, 'an earlier result');
    const r = runSatsegWithEnv(models, { SATSEG_MAX_FEATURES: '3' }, 'change', file('before.tif'), file('after.tif'), '--out', out, '--vector', file('over-features.geojson'), '--stats', file('over-features.json'), '--min-area', '0', '--no-progress');
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([expect.stringMatching(/^satseg: error: the mask makes more than 3 polygons/)]);
    expect(fs.readFileSync(out, 'utf8')).toBe('an earlier result');
    expect(fs.existsSync(file('over-features.geojson'))).toBe(false);
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.satseg-tmp-'))).toEqual([]);
  });

  it('a --stats file that is the scene mask kept beside --out', () => {
    const r = satseg('change', '--before', file('pre.tif'), '--after', file('post.tif'), '--model', 'test-rgb', '--out', file('y.tif'), '--stats', file('y.after.tif'), '--no-progress');
    expectCliFailure(r, /--stats and the after mask \(kept beside --out\) name the same file, .*y\.after\.tif; choose another/, file('y.tif'), tmp);
    expect(fs.existsSync(file('y.after.tif'))).toBe(false);
  });

  it('an --out whose scene mask would overwrite an input scene', () => {
    fs.copyFileSync(file('pre.tif'), file('x.before.tif'));
    const r = satseg('change', '--before', file('x.before.tif'), '--after', file('post.tif'), '--model', 'test-rgb', '--out', file('x.tif'), '--no-progress');
    expectCliFailure(r, /--out .*x\.tif would write its .*x\.before\.tif mask over an input scene; choose another --out/, file('x.tif'), tmp);
    expect(fs.readFileSync(file('x.before.tif')).equals(fs.readFileSync(file('pre.tif')))).toBe(true);
  });
});
