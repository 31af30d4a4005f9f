/**
 * The whole pipeline on real files: seams, georeferencing, nodata, resampling, devices, cancelling.
 * Runs on synthetic scenes built here; the NAIP scene from ../shared is added when present.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import type { ModelSpec } from '../../server/src/infer/model-spec.ts';
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { planTiles } from '../../server/src/plan/plan-tiles.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { installTestModel } from '../fixtures/test-model.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { gdalRead, hasGdal, scenesDir, sharedSkipReason, skipWithoutShared } from '../helpers/shared-data.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BandSelectionError, DeviceError, SegmentAbortedError } from '../../server/src/errors.ts';

const execFileAsync = promisify(execFile);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-seg-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let spec: ModelSpec;
const scene = path.join(tmp, 'scene.tif');

beforeAll(() => {
  spec = new ModelRegistry(installTestModel(path.join(tmp, 'models'))).get('test-rgb');
  // 5 m pixels: the test model's resolution, so no resampling.
  writeTestTiff(scene, { width: 700, height: 500, bands: syntheticScene(700, 500), geoTransform: [400000, 5, 0, 5000000, 0, -5], epsg: 32633 });
});

async function labels(file: string): Promise<Uint8Array> {
  const src = await openRaster(file);
  const block = await src.read({ x: 0, y: 0, width: src.info.width, height: src.info.height });
  await src.close();
  return block.bands[0] as Uint8Array;
}

/** Agreement between tiled and single-pass masks, overall and within 2 px of internal tile borders. */
async function seamAgreement(input: string, width: number, height: number, tile: number, overlap: number) {
  const tiledOut = path.join(tmp, `tiled-${path.basename(input)}`);
  const singleOut = path.join(tmp, `single-${path.basename(input)}`);
  const tiled = await segmentScene({ input, output: tiledOut, model: spec, tile, overlap, device: 'cpu' });
  const singleTile = Math.max(width, height) + 64;
  const single = await segmentScene({ input, output: singleOut, model: spec, tile: singleTile, overlap: 0, device: 'cpu' });
  expect(single.tiles.total).toBe(1);
  expect(tiled.tiles.total).toBeGreaterThan(4);
  const a = await labels(tiledOut);
  const b = await labels(singleOut);
  const plan = planTiles(width, height, tile, overlap);
  const edgesX = plan.xs.flatMap((x) => [x, x + tile]).filter((v) => v > 0 && v < width);
  const edgesY = plan.ys.flatMap((y) => [y, y + tile]).filter((v) => v > 0 && v < height);
  let same = 0;
  let border = 0;
  let borderSame = 0;
  for (let y = 0; y < height; y++) {
    const nearY = edgesY.some((e) => Math.abs(y - e) <= 2);
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const eq = a[i] === b[i];
      if (eq) same++;
      if (nearY || edgesX.some((e) => Math.abs(x - e) <= 2)) { border++; if (eq) borderSame++; }
    }
  }
  return { overall: same / (width * height), nearBorders: borderSame / border, borderPixels: border };
}

describe('seams', () => {
  it('tiled-and-blended output equals the single-pass output (synthetic scene)', async () => {
    const r = await seamAgreement(scene, 700, 500, 256, 32);
    console.log(`seam test, synthetic 700x500, tile 256 overlap 32: ${(r.overall * 100).toFixed(3)}% of pixels equal single pass; ${(r.nearBorders * 100).toFixed(3)}% of the ${r.borderPixels} pixels within 2 px of a tile border`);
    expect(r.overall).toBeGreaterThanOrEqual(0.995);
    expect(r.nearBorders).toBeGreaterThanOrEqual(0.99);
  });

  it.each([
    ['3.3 m pixels for a 5 m model', [400000, 3.3, 0, 5000000, 0, -3.3]],
    ['5 x 10 m pixels (each axis resampled on its own)', [400000, 5, 0, 5000000, 0, -10]],
  ] as const)('resampled tiles blend into the single-pass output: %s', async (what, gt) => {
    // Every tile is sampled on the model's one pixel lattice (tile-sampling.ts), so neighbours
    // feed the model the same values for the same ground.
    const input = path.join(tmp, `seam-resampled-${gt[1]}-${gt[5]}.tif`);
    writeTestTiff(input, { width: 600, height: 400, bands: syntheticScene(600, 400, 3), geoTransform: [...gt], epsg: 32633 });
    const tiled = await segmentScene({ input, output: `${input}.tiled.tif`, model: spec, device: 'cpu', tile: 96, overlap: 24 });
    const single = await segmentScene({ input, output: `${input}.single.tif`, model: spec, device: 'cpu', tile: 1200, overlap: 0 });
    expect(tiled.resampled).not.toBeNull();
    expect(single.tiles.total).toBe(1);
    expect(tiled.tiles.total).toBeGreaterThan(8);
    const a = await labels(`${input}.tiled.tif`);
    const b = await labels(`${input}.single.tif`);
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    console.log(`seam test, ${what}: ${tiled.tiles.total} tiles of 96 model px agree with one tile on ${(100 * same / a.length).toFixed(3)} %`);
    expect(same / a.length).toBeGreaterThanOrEqual(0.995);
  });

  it('samples a window (an area job) on the scene\'s lattice: its mask equals the whole scene\'s inside it', async () => {
    // 3.3 m pixels for the 5 m model; the window starts 2 px in, a third of a model pixel off the
    // lattice of the window's own first pixel.
    const input = path.join(tmp, 'seam-resampled-3.3--3.3.tif');
    if (!fs.existsSync(input)) writeTestTiff(input, { width: 600, height: 400, bands: syntheticScene(600, 400, 3), geoTransform: [400000, 3.3, 0, 5000000, 0, -3.3], epsg: 32633 });
    const win = { x: 2, y: 7, width: 500, height: 300 };
    const whole = await segmentScene({ input, output: `${input}.whole.tif`, model: spec, device: 'cpu', tile: 1200, overlap: 0 });
    const part = await segmentScene({ input, output: `${input}.window.tif`, model: spec, device: 'cpu', tile: 1200, overlap: 0, window: win });
    expect([whole.tiles.total, part.tiles.total]).toEqual([1, 1]);
    const a = await labels(`${input}.whole.tif`);
    const b = await labels(`${input}.window.tif`);
    // Away from the window's edges, where the whole scene has context the window reflects.
    let same = 0;
    let n = 0;
    for (let y = 16; y < win.height - 16; y++) {
      for (let x = 16; x < win.width - 16; x++, n++) if (b[y * win.width + x] === a[(y + win.y) * 600 + x + win.x]) same++;
    }
    console.log(`window vs whole scene, resampled: ${(100 * same / n).toFixed(3)} % equal away from the window's edges`);
    expect(same / n).toBeGreaterThanOrEqual(0.999);
  });

  it('segments with a tile smaller than 16 scene pixels once resampled (a 16 px tile on a 2x coarser scene crashed)', async () => {
    const input = path.join(tmp, 'coarse-small-tiles.tif');
    writeTestTiff(input, { width: 120, height: 80, bands: syntheticScene(120, 80, 5), geoTransform: [400000, 10, 0, 5000000, 0, -10], epsg: 32633 });
    const s = await segmentScene({ input, output: `${input}.mask.tif`, model: spec, device: 'cpu', tile: 16, overlap: 2 });
    expect(s.resampled).toEqual({ x: 2, y: 2 });
    expect(s.tiles.total).toBeGreaterThan(20);
    expect((await labels(`${input}.mask.tif`)).every((v) => v < 4)).toBe(true);
    // A tile that covers less than a scene pixel is refused, naming the smallest that works.
    const wide = path.join(tmp, 'very-coarse.tif');
    writeTestTiff(wide, { width: 40, height: 40, bands: syntheticScene(40, 40, 5), geoTransform: [400000, 100, 0, 5000000, 0, -100], epsg: 32633 });
    await expect(segmentScene({ input: wide, output: `${wide}.mask.tif`, model: spec, device: 'cpu', tile: 16, overlap: 0 })).rejects.toThrow(/a 16 px tile of model test-rgb covers less than one of the scene's pixels \(20\.0 model pixels each\); use a tile of at least 21 px/);
  });

  it.skipIf(skipWithoutShared)(`tiled-and-blended output equals the single-pass output (naip_2020.tif) ${sharedSkipReason}`, async () => {
    const r = await seamAgreement(path.join(scenesDir, 'naip_2020.tif'), 934, 723, 256, 32);
    console.log(`seam test, naip_2020.tif 934x723, tile 256 overlap 32: ${(r.overall * 100).toFixed(3)}% of pixels equal single pass; ${(r.nearBorders * 100).toFixed(3)}% of the ${r.borderPixels} pixels within 2 px of a tile border`);
    expect(r.overall).toBeGreaterThanOrEqual(0.995);
    expect(r.nearBorders).toBeGreaterThanOrEqual(0.99);
  });
});

describe('segmentScene', () => {
  it('writes a mask on the input grid with class metadata, and a summary', async () => {
    const out = path.join(tmp, 'mask.tif');
    const scores = path.join(tmp, 'scores.tif');
    const progress: number[] = [];
    const s = await segmentScene({ input: scene, output: out, scoresOutput: scores, model: spec, device: 'cpu', batch: 3, onProgress: (p) => progress.push(p.tilesDone) });
    expect(s).toMatchObject({ width: 700, height: 500, model: 'test-rgb', device: 'cpu', bands: [1, 2, 3], tile: 256, overlap: 32, batch: 3 });
    expect(progress[progress.length - 1]).toBe(s.tiles.total);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const shares = Object.values(s.classShares);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(shares.filter((v) => v > 0.01).length).toBeGreaterThanOrEqual(2);
    const mask = await openRaster(out);
    expect(mask.info.geoTransform).toEqual([400000, 5, 0, 5000000, 0, -5]);
    expect(mask.info.crs.epsg).toBe(32633);
    expect(mask.info.nodata).toBe(255);
    expect(JSON.parse(mask.info.metadata.CLASS_NAMES!)).toEqual(spec.classNames);
    expect(mask.info.colorMap![0]).toEqual([0x1f, 0x78, 0xb4]);
    await mask.close();
    const conf = await openRaster(scores);
    const c = await conf.read({ x: 0, y: 0, width: 700, height: 500 });
    expect((c.bands[0] as Uint8Array).reduce((m, v) => Math.min(m, v), 255)).toBeGreaterThanOrEqual(Math.floor(255 / 4)); // max of 4 probabilities >= 1/4
    await conf.close();
    if (hasGdal) {
      const g = gdalRead(out);
      expect(g.geotransform).toEqual([400000, 5, 0, 5000000, 0, -5]);
      expect(g.epsg).toBe(32633);
    }
  });

  it('keeps nodata as nodata and skips all-nodata tiles', async () => {
    const [r, g, b] = syntheticScene(600, 400, 3);
    for (let y = 0; y < 400; y++) for (let x = 0; x < 600; x++) if (x < 300 || (x - 450) ** 2 + (y - 200) ** 2 < 900) { const i = y * 600 + x; r![i] = 0; g![i] = 0; b![i] = 0; }
    const input = path.join(tmp, 'nodata.tif');
    writeTestTiff(input, { width: 600, height: 400, bands: [r!, g!, b!], nodata: 0, geoTransform: [0, 5, 0, 0, 0, -5] });
    const out = path.join(tmp, 'nodata-mask.tif');
    const s = await segmentScene({ input, output: out, model: spec, device: 'cpu', tile: 128, overlap: 16 });
    expect(s.tiles.skipped).toBeGreaterThan(0);
    const l = await labels(out);
    let wrong = 0;
    for (let y = 0; y < 400; y++) {
      for (let x = 0; x < 600; x++) {
        const isNodata = x < 300 || (x - 450) ** 2 + (y - 200) ** 2 < 900;
        if ((l[y * 600 + x] === 255) !== isNodata) wrong++;
      }
    }
    expect(wrong).toBe(0);
    expect(s.nodataPixels).toBe(l.filter((v) => v === 255).length);
  });

  it('leaves unclassified a pixel missing in one band only (NaN in a float band, or the nodata value in one), except in 8-bit imagery', async () => {
    // A swath edge where the bands' footprints differ: NaN in the third band over a disc, and the
    // nodata value in the first band over a stripe. Each went into the model as a value.
    const bands = syntheticScene(300, 200, 3).map((b) => Float32Array.from(b));
    const disc = (x: number, y: number) => (x - 100) ** 2 + (y - 100) ** 2 < 40 ** 2;
    const stripe = (x: number) => x >= 220 && x < 240;
    for (let y = 0; y < 200; y++) {
      for (let x = 0; x < 300; x++) {
        if (disc(x, y)) bands[2]![y * 300 + x] = Number.NaN;
        if (stripe(x)) bands[0]![y * 300 + x] = -9999;
      }
    }
    const input = path.join(tmp, 'band-gaps.tif');
    writeTestTiff(input, { width: 300, height: 200, dtype: 'float32', bands, nodata: -9999, geoTransform: [0, 5, 0, 0, 0, -5] });
    const out = path.join(tmp, 'band-gaps-mask.tif');
    const s = await segmentScene({ input, output: out, model: spec, device: 'cpu', tile: 128, overlap: 16 });
    const l = await labels(out);
    let wrong = 0;
    for (let y = 0; y < 200; y++) for (let x = 0; x < 300; x++) if ((l[y * 300 + x] === 255) !== (disc(x, y) || stripe(x))) wrong++;
    expect(wrong).toBe(0);
    expect(s.nodataPixels).toBe(l.filter((v) => v === 255).length);
    // In 8-bit imagery a 0 in one band is a dark pixel as often as a gap: classified.
    const dark = syntheticScene(300, 200, 3).map((band) => band.map((v) => Math.max(1, v)));
    for (let y = 0; y < 200; y++) for (let x = 0; x < 300; x++) if (disc(x, y)) dark[2]![y * 300 + x] = 0;
    const byte = path.join(tmp, 'band-zero-8bit.tif');
    writeTestTiff(byte, { width: 300, height: 200, bands: dark, nodata: 0, geoTransform: [0, 5, 0, 0, 0, -5] });
    await segmentScene({ input: byte, output: path.join(tmp, 'band-zero-8bit-mask.tif'), model: spec, device: 'cpu', tile: 128, overlap: 16 });
    expect((await labels(path.join(tmp, 'band-zero-8bit-mask.tif'))).filter((v) => v === 255)).toHaveLength(0);
    // Imagery is still drawn where any band has data: a plain read keeps those pixels valid.
    const source = await openRaster(input);
    try {
      const block = await source.read({ x: 0, y: 0, width: 300, height: 200 });
      expect(block.valid[100 * 300 + 100]).toBe(1);
      expect((await source.read({ x: 0, y: 0, width: 300, height: 200 }, { anyBandNodata: true })).valid[100 * 300 + 100]).toBe(0);
    } finally {
      await source.close();
    }
  });

  it('resamples each axis to the model\'s square ground pixels when pixels are much taller than wide on the ground', async () => {
    const run = async (gt: [number, number, number, number, number, number], name: string, epsg?: number) => {
      const input = path.join(tmp, `${name}.tif`);
      writeTestTiff(input, { width: 200, height: 100, bands: syntheticScene(200, 100), geoTransform: gt, ...(epsg ? { epsg } : {}) });
      const said: string[] = [];
      const s = await segmentScene({ input, output: path.join(tmp, `${name}-mask.tif`), model: spec, device: 'cpu', onNotice: (m) => said.push(m) });
      return { said: said.filter((m) => /on the ground/.test(m)), resampled: s.resampled };
    };
    const tall = await run([0, 5, 0, 0, 0, -10], 'tall-pixels');
    expect(tall.said).toEqual([expect.stringMatching(/^the scene's pixels are (4\.9\d|5\.0\d) m wide and (9\.9\d|10\.0) m tall on the ground, 2\.0x as tall as wide: resampling each axis of the tiles to model test-rgb's square 5\.00 m pixels and back$/)]);
    expect(tall.resampled!.x).toBeCloseTo(1, 1);
    expect(tall.resampled!.y).toBeCloseTo(2, 1);
    expect(await run([0, 5, 0, 0, 0, -5.5], 'square-enough')).toEqual({ said: [], resampled: null });
    // Square in the grid, not on the ground: World Equidistant Cylindrical (EPSG:4087) at 60° N,
    // where a metre of easting is half a metre of ground.
    const eqc = await run([1_113_195, 10, 0, 6_679_169, 0, -10], 'eqc-60n', 4087);
    expect(eqc.said).toEqual([expect.stringMatching(/^the scene's pixels are (4\.9\d|5\.0\d) m wide and (9\.9\d|10\.0) m tall on the ground, 2\.0x as tall as wide: resampling each axis/)]);
    expect(eqc.resampled!.x).toBeCloseTo(1, 1);
    expect(eqc.resampled!.y).toBeCloseTo(2, 1);
  });

  it('gives the mask of square pixels from the same ground seen through pixels twice as tall (each axis resampled)', async () => {
    // One landscape at 5 m (the model's resolution), and the same ground in pixels 5 m wide and
    // 10 m tall (each two rows averaged). A model without a resolution cannot be resampled and
    // sees it squashed; with one, each axis is brought to 5 m and the mask agrees with the
    // square one far better.
    const W = 320;
    const H = 320;
    const square = syntheticScene(W, H, 7);
    const squashed = square.map((b) => {
      const out = new Uint8Array(W * (H / 2));
      for (let y = 0; y < H / 2; y++) for (let x = 0; x < W; x++) out[y * W + x] = Math.round((b[2 * y * W + x]! + b[(2 * y + 1) * W + x]!) / 2);
      return out;
    });
    const squareIn = path.join(tmp, 'ground-square.tif');
    const tallIn = path.join(tmp, 'ground-tall.tif');
    writeTestTiff(squareIn, { width: W, height: H, bands: square, geoTransform: [400000, 5, 0, 5000000, 0, -5], epsg: 32633 });
    writeTestTiff(tallIn, { width: W, height: H / 2, bands: squashed, geoTransform: [400000, 5, 0, 5000000, 0, -10], epsg: 32633 });
    const noResolution = new ModelRegistry(installTestModel(path.join(tmp, 'models-any-resolution'), 'test-rgb-any', { omit: ['resolution'] })).get('test-rgb-any');
    const reference = path.join(tmp, 'ground-square-mask.tif');
    await segmentScene({ input: squareIn, output: reference, model: spec, device: 'cpu' });
    const agreement = async (model: ModelSpec, name: string) => {
      const out = path.join(tmp, `ground-tall-${name}.tif`);
      const said: string[] = [];
      await segmentScene({ input: tallIn, output: out, model, device: 'cpu', onNotice: (m) => said.push(m) });
      const ref = await labels(reference);
      const tall = await labels(out);
      let same = 0;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (ref[y * W + x] === tall[(y >> 1) * W + x]) same++;
      return { share: same / (W * H), said };
    };
    const resampled = await agreement(spec, 'resampled');
    const asIs = await agreement(noResolution, 'as-is');
    // A model without a resolution says what it cannot do.
    expect(asIs.said).toContainEqual(expect.stringMatching(/m tall on the ground: the model sees the ground stretched 2\.0x along one axis; for its best results reproject/));
    expect(resampled.said).toContainEqual(expect.stringMatching(/resampling each axis/));
    console.log(`agreement with the square mask: resampled ${(resampled.share * 100).toFixed(1)} %, as is ${(asIs.share * 100).toFixed(1)} %`);
    expect(resampled.share).toBeGreaterThan(asIs.share + 0.05);
  });

  it('resamples tiles to the model resolution and back when the scene is 2x coarser', async () => {
    const input = path.join(tmp, 'coarse.tif');
    writeTestTiff(input, { width: 300, height: 200, bands: syntheticScene(300, 200), geoTransform: [0, 10, 0, 0, 0, -10] });
    const notices: string[] = [];
    const s = await segmentScene({ input, output: path.join(tmp, 'coarse-mask.tif'), model: spec, device: 'cpu', onNotice: (m) => notices.push(m) });
    expect(s.resampled).toEqual({ x: 2, y: 2 });
    expect(notices.join('\n')).toMatch(/differs from model test-rgb's 5\.00 m by 2\.0x; resampling tiles/);
    const mask = await openRaster(s.output);
    expect([mask.info.width, mask.info.height]).toEqual([300, 200]);
    await mask.close();
  });

  it('rejects a scene whose bands the model cannot use, naming the bands it needs', async () => {
    const input = path.join(tmp, 'gray.tif');
    writeTestTiff(input, { width: 64, height: 64, bands: [new Uint8Array(64 * 64).fill(9)], geoTransform: [0, 5, 0, 0, 0, -5] });
    const out = path.join(tmp, 'gray-mask.tif');
    await expect(segmentScene({ input, output: out, model: spec, device: 'cpu' })).rejects.toThrow(BandSelectionError);
    await expect(segmentScene({ input, output: out, model: spec, device: 'cpu' })).rejects.toThrow('model test-rgb needs 3 bands (red, green, blue); the scene has 1 usable band');
    await expect(segmentScene({ input: scene, output: out, model: spec, device: 'cpu', bands: [1, 2] })).rejects.toThrow(/needs 3 bands .*2 bands were given/);
    await expect(segmentScene({ input: scene, output: out, model: spec, device: 'cpu', bands: [1, 2, 7] })).rejects.toThrow(/band 7 does not exist: the scene has 3 bands/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('stops within a batch when cancelled and leaves no output', async () => {
    const out = path.join(tmp, 'cancelled.tif');
    const controller = new AbortController();
    const run = segmentScene({ input: scene, output: out, model: spec, device: 'cpu', tile: 64, overlap: 8, batch: 2, signal: controller.signal, onProgress: (p) => { if (p.tilesDone >= 4) controller.abort(); } });
    await expect(run).rejects.toThrow(SegmentAbortedError);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(tmp).filter((f) => f.includes('cancelled.tif'))).toEqual([]);
  });
});

describe('yieldToModel', () => {
  // In a child process: a thread's priority, once lowered, stays lowered.
  it.runIf(process.platform === 'linux')('lowers the calling thread and the threads before the model\'s to nice 19, and leaves the model threads as they were', async () => {
    const script = `
      import os from 'node:os';
      import fs from 'node:fs';
      import { segmentScene } from ${JSON.stringify(path.resolve('server/src/segment/segment-scene.ts'))};
      import { ModelRegistry } from ${JSON.stringify(path.resolve('server/src/infer/model-registry.ts'))};
      const spec = new ModelRegistry(${JSON.stringify(path.join(tmp, 'models'))}).get('test-rgb');
      const before = os.getPriority(0);
      let threads = [];
      await segmentScene({ input: ${JSON.stringify(scene)}, output: ${JSON.stringify(path.join(tmp, 'yield.tif'))}, model: spec, device: 'cpu', yieldToModel: true,
        onProgress: () => { if (threads.length) return; threads = fs.readdirSync('/proc/self/task').map((t) => Number(fs.readFileSync('/proc/self/task/' + t + '/stat', 'utf8').split(') ')[1].split(' ')[16])); } });
      console.log(JSON.stringify({ before, after: os.getPriority(0), threads }));`;
    const file = path.join(tmp, 'yield.mts');
    fs.writeFileSync(file, script);
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', file], { cwd: path.resolve('.'), timeout: 60_000 });
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as { before: number; after: number; threads: number[] };
    expect(r.before).toBeLessThan(19);
    expect(r.after).toBe(19);
    // The model's threads keep the old priority; the threads there were before them (this one and
    // V8's helpers at least) yield.
    // The model's thread and onnxruntime's pool: one thread per core between them (its default).
    expect(r.threads.filter((n) => n === r.before).length).toBeGreaterThanOrEqual(os.availableParallelism());
    expect(r.threads.filter((n) => n === 19).length).toBeGreaterThan(1);
    expect(fs.existsSync(path.join(tmp, 'yield.tif'))).toBe(true);
  });
});

describe('devices', () => {
  it('auto falls back to the CPU with a one-line notice when CUDA is missing; cuda fails clearly', async () => {
    const notices: string[] = [];
    const s = await segmentScene({ input: scene, output: path.join(tmp, 'auto.tif'), model: spec, device: 'auto', onNotice: (m) => notices.push(m) });
    if (s.device === 'cuda') return; // a machine with CUDA: nothing to fall back from
    expect(s.device).toBe('cpu');
    const fallback = notices.find((n) => n.startsWith('CUDA not available'));
    expect(fallback).toMatch(/^CUDA not available \(.+\); running on CPU$/);
    expect(fallback).not.toContain('\n');
    const out = path.join(tmp, 'cuda.tif');
    const err = await segmentScene({ input: scene, output: out, model: spec, device: 'cuda' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect((err as Error).message).toMatch(/^CUDA is not available \(.+\); install the CUDA execution provider/);
    expect(fs.existsSync(out)).toBe(false);
    // The model opens while the outputs are created and the first batch is read: a model that
    // fails to open still leaves nothing behind.
    expect(fs.readdirSync(tmp).filter((f) => f.includes('cuda.tif'))).toEqual([]);
  });
});

describe('a scene written over while it is segmented', () => {
  it('fails the run, naming it, and writes no mask (it gave a mask of two images without a word)', async () => {
    const input = path.join(tmp, 'overwritten.tif');
    writeTestTiff(input, { width: 700, height: 500, bands: syntheticScene(700, 500, 1), geoTransform: [400000, 5, 0, 5000000, 0, -5], epsg: 32633 });
    const other = path.join(tmp, 'other.tif');
    writeTestTiff(other, { width: 700, height: 500, bands: syntheticScene(700, 500, 2), geoTransform: [400000, 5, 0, 5000000, 0, -5], epsg: 32633 });
    const out = path.join(tmp, 'overwritten-mask.tif');
    let written = false;
    const run = segmentScene({
      input, output: out, model: spec, tile: 128, overlap: 16, device: 'cpu',
      // Written over in place (same file, as cp does) once the first tiles are done.
      onProgress: (p) => { if (p.tilesDone > 0 && !written) { written = true; fs.writeFileSync(input, fs.readFileSync(other)); } },
    });
    await expect(run).rejects.toThrow(/^overwritten\.tif was written over while it was being read \(its size, modification or change time changed\)/);
    expect(written).toBe(true);
    expect(fs.existsSync(out)).toBe(false);
    // Written over with its old modification time put back (cp -p, touch -r): the change time tells.
    const kept = path.join(tmp, 'kept-mtime.tif');
    fs.copyFileSync(other, kept);
    const third = path.join(tmp, 'third.tif');
    writeTestTiff(third, { width: 700, height: 500, bands: syntheticScene(700, 500, 3), geoTransform: [400000, 5, 0, 5000000, 0, -5], epsg: 32633 });
    const { mtime, atime } = fs.statSync(kept);
    let rewritten = false;
    const sneaky = segmentScene({
      input: kept, output: path.join(tmp, 'kept-mask.tif'), model: spec, tile: 128, overlap: 16, device: 'cpu',
      onProgress: (p) => { if (p.tilesDone > 0 && !rewritten) { rewritten = true; fs.writeFileSync(kept, fs.readFileSync(third)); fs.utimesSync(kept, atime, mtime); } },
    });
    await expect(sneaky).rejects.toThrow(/^kept-mtime\.tif was written over while it was being read/);
    // Untouched, it runs.
    const clean = await segmentScene({ input: other, output: path.join(tmp, 'other-mask.tif'), model: spec, tile: 128, overlap: 16, device: 'cpu' });
    expect(clean.tiles.inferred).toBeGreaterThan(1);
  });
});
