/**
 * Offsets on band values before the model. Sentinel-2 products of processing baseline 04.00 and
 * later (from 25 January 2022) carry +1000 on every digital number: spectral-water's indices
 * then miss open water. The offset comes from the user (--offset, options.band_offset) or from
 * what the file declares (GDAL metadata OFFSET / SCALE, as gdal_edit.py -offset writes it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { bandOffsets } from '../../server/src/segment/band-offset.ts';
import { inputHint, productLevelHint, reflectanceScaleHint } from '../../server/src/segment/input-hints.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { cutTile } from '../../server/src/plan/cut-tile.ts';
import { reuseKey } from '../../server/src/jobs/job-results.ts';
import type { JobRecord } from '../../server/src/jobs/job-types.ts';
import { TagType } from '../../server/src/write/tiff-layout.ts';
import { writeTestTiff } from '../fixtures/write-tiff.ts';
import { gdalSkipReason, repoRoot, skipWithoutGdal } from '../helpers/shared-data.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-offset-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const registry = new ModelRegistry(path.join(repoRoot, 'models'));

/** GDAL_METADATA naming the bands B3, B4, B8, B11, and declaring `scale`/`offset` on each when given. */
function gdalMetadata(declare?: { scale: number; offset: number }): string {
  const items = ['B3', 'B4', 'B8', 'B11'].map((name, i) => `<Item name="DESCRIPTION" sample="${i}" role="description">${name}</Item>${declare ? `<Item name="SCALE" sample="${i}" role="scale">${declare.scale}</Item><Item name="OFFSET" sample="${i}" role="offset">${declare.offset}</Item>` : ''}`);
  return `<GDALMetadata>${items.join('')}</GDALMetadata>`;
}

/**
 * Sentinel-2 L2A digital numbers of baseline 04.00 (reflectance x 10000 + 1000) in three stripes:
 * open water, vegetation, bare soil; bands B3, B4, B8, B11.
 */
function baseline04Scene(file: string, declare?: { scale: number; offset: number }): void {
  const reflectance = [[0.05, 0.03, 0.02, 0.01], [0.08, 0.04, 0.35, 0.2], [0.15, 0.2, 0.25, 0.3]];
  const w = 90;
  const h = 30;
  const bands = [0, 1, 2, 3].map((b) => Uint16Array.from({ length: w * h }, (_, i) => Math.round(reflectance[Math.floor((i % w) / 30)]![b]! * 10000) + 1000));
  writeTestTiff(file, { width: w, height: h, dtype: 'uint16', bands, geoTransform: [500000, 10, 0, 4000000, 0, -10], extraTags: [{ tag: 42112, type: TagType.ASCII, values: gdalMetadata(declare) }] });
}

async function stripes(out: string): Promise<Array<number[]>> {
  const src = await openRaster(out);
  const ids = (await src.read({ x: 0, y: 0, width: 90, height: 30 })).bands[0]!;
  await src.close();
  // The class of each stripe's every pixel (one value when the stripe is uniform).
  return [0, 1, 2].map((s) => [...new Set(Array.from({ length: 30 * 30 }, (_, k) => ids[Math.floor(k / 30) * 90 + s * 30 + (k % 30)]!))]);
}

describe('band offsets', () => {
  it('are the user\'s for every band, else what the file declares (offset / scale, in its own units), else none', () => {
    const bands = [{ index: 1, description: null, colorInterp: 'gray' as const, scale: 0.0001, offset: -0.1 }, { index: 2, description: null, colorInterp: 'gray' as const }];
    expect(bandOffsets({ bands }, [1, 2], -1000).offsets).toEqual([-1000, -1000]);
    const declared = bandOffsets({ bands }, [1, 2]);
    expect(declared.offsets[0]).toBeCloseTo(-1000, 9);
    expect(declared.offsets[1]).toBe(0);
    expect(declared.notice).toMatch(/declares offsets .*band 1: -1000, 2: 0/);
    expect(bandOffsets({ bands }, [2])).toEqual({ offsets: [0], notice: null });
    expect(bandOffsets({ bands }, [1], 0)).toEqual({ offsets: [0], notice: null });
  });

  it('are part of what makes a job\'s mask reusable by another job: a mask made without them is not one with them', () => {
    const job = (options: JobRecord['options']) => ({ modelId: 'spectral-water', area: null, options }) as unknown as JobRecord;
    expect(reuseKey(job({ bandOffset: -1000 }), 'd')).not.toBe(reuseKey(job({}), 'd'));
    expect(reuseKey(job({ bandOffset: -1000 }), 'd')).toBe(reuseKey(job({ bandOffset: -1000 }), 'd'));
  });

  it('hint at offset products and at linear backscatter from the lowest values read, and stay quiet otherwise', () => {
    expect(inputHint('sentinel2', [2, 3], [1004, 1210])).toMatch(/^every value of bands 2,3 is 1000 or more, .*--offset -1000/);
    expect(inputHint('sentinel2', [2, 3], [250, 1210])).toBeNull();
    expect(inputHint('landsat', [3, 5], [7400, 7800])).toMatch(/is 7272\.7 or more, .*Landsat Collection 2 Level-2 .*--offset -7272\.7/);
    expect(inputHint('sentinel1', [1, 2], [0.0004, 0.0001])).toMatch(/^no value of bands 1,2 is negative, .*linear sigma0 or amplitude.*10 log10/);
    expect(inputHint('sentinel1', [1, 2], [-24, -31])).toBeNull();
    expect(inputHint('naip', [1, 2, 3], [200, 200, 200])).toBeNull();
    // Nothing valid was read: no grounds for a hint.
    expect(inputHint('sentinel2', [1], [Infinity])).toBeNull();
  });

  it('tell Dynamic World\'s user that reflectance from 0 to 1 is not the scale it reads', () => {
    const dw = ['sentinel2-l1c', 'sentinel2-l1c-13', 'sentinel2-l1c-9'];
    expect(reflectanceScaleHint(dw, [1, 2], [0.42, 0.61])).toMatch(/^no value of bands 1,2 is above 0\.61: this looks like reflectance from 0 to 1.*multiply the scene by 10000/);
    expect(reflectanceScaleHint(dw, [1, 2], [4200, 6100])).toBeNull();
    // spectral-water's ratios read any scale.
    expect(reflectanceScaleHint(['sentinel2-l1c', 'naip'], [1, 2], [0.42, 0.61])).toBeNull();
  });

  it('see through zero fill: a reprojected offset scene still gets its hint (4.6 % zeros hid it)', async () => {
    const scene = path.join(tmp, 's2-pb04-filled.tif');
    baseline04Scene(scene);
    // Zeros over a corner, as gdalwarp leaves them with no nodata declared.
    const src = await openRaster(scene);
    const block = await src.read({ x: 0, y: 0, width: 90, height: 30 });
    await src.close();
    // ...and a few values between the fill and the real ones, as an average over the fill's edge
    // leaves (0.7 % of pixels in the probe: the lowest value alone hid the offset again).
    const bands = block.bands.map((b) => Uint16Array.from(b, (v, i) => (i % 90 < 8 && Math.floor(i / 90) < 8 ? 0 : i % 90 === 8 && Math.floor(i / 90) < 8 ? 400 : v)));
    writeTestTiff(scene, { width: 90, height: 30, dtype: 'uint16', bands, geoTransform: [500000, 10, 0, 4000000, 0, -10], extraTags: [{ tag: 42112, type: TagType.ASCII, values: gdalMetadata() }] });
    const said: string[] = [];
    await segmentScene({ input: scene, output: path.join(tmp, 'filled.tif'), model: registry.get('spectral-water'), device: 'cpu', onNotice: (m) => said.push(m) });
    expect(said.join('\n')).toMatch(/every value of bands 1,2,3,4 is 1000 or more/);
  });

  it('say that bands were taken by position only when nothing names them (NAIP described Red, Green, Blue, NIR was told otherwise)', async () => {
    const w = 60;
    const spectra = [[40, 90, 80, 15], [50, 80, 50, 200]];
    const bands = [0, 1, 2, 3].map((b) => Uint8Array.from({ length: w * w }, (_, i) => spectra[Math.floor((i % w) / 30)]![b]!));
    const meta = `<GDALMetadata>${['Red', 'Green', 'Blue', 'NIR'].map((n, i) => `<Item name="DESCRIPTION" sample="${i}" role="description">${n}</Item>`).join('')}</GDALMetadata>`;
    const named = path.join(tmp, 'naip-named.tif');
    writeTestTiff(named, { width: w, height: w, bands, geoTransform: [500000, 1, 0, 4000000, 0, -1], extraTags: [{ tag: 42112, type: TagType.ASCII, values: meta }] });
    const said: string[] = [];
    const s = await segmentScene({ input: named, output: path.join(tmp, 'naip-named-mask.tif'), model: registry.get('spectral-water'), device: 'cpu', onNotice: (m) => said.push(m) });
    expect(s.bands).toEqual([2, 1, 4, 4]);
    expect(said.filter((m) => /nothing in the scene names its bands/.test(m))).toEqual([]);
    // The same bands with nothing naming them: said as the run goes, not only in the summary (a
    // file in another order ran without a word).
    const bare = path.join(tmp, 'naip-bare.tif');
    writeTestTiff(bare, { width: w, height: w, bands, geoTransform: [500000, 1, 0, 4000000, 0, -1], photometric: 1 });
    const told: string[] = [];
    const t = await segmentScene({ input: bare, output: path.join(tmp, 'naip-bare-mask.tif'), model: registry.get('spectral-water'), device: 'cpu', onNotice: (m) => told.push(m) });
    expect(told).toContain(`nothing in the scene names its bands: ${t.bandChoice}`);
  });

  it('tell Dynamic World\'s user that a scene saying it is Level-2A is not what the model was made for', () => {
    const dw = ['sentinel2-l1c', 'sentinel2-l1c-13', 'sentinel2-l1c-9'];
    expect(productLevelHint(dw, 'S2B_MSIL2A_20230105T105339_N0509_R051_T31UFU.tif', {})).toMatch(/^the scene says it is Sentinel-2 Level-2A \(surface reflectance: its name "S2B_MSIL2A_.*"\); this model was made for Level-1C/);
    expect(productLevelHint(dw, 'scene.tif', { PROCESSING_LEVEL: 'Level-2A' })).toMatch(/Level-2A \(surface reflectance, in its metadata\)/);
    expect(productLevelHint(dw, 'S2B_MSIL1C_20230105T105339.tif', { PRODUCT_TYPE: 'S2MSI1C' })).toBeNull();
    expect(productLevelHint(dw, 'flood_l2a_stack.tif', {})).not.toBeNull();
    expect(productLevelHint(dw, 'terrain_l2alpha.tif', {})).toBeNull();
    // spectral-water's ratios suit Level-2A too: it names other sensors, no hint.
    expect(productLevelHint(['sentinel2-l1c', 'landsat8', 'naip'], 'S2B_MSIL2A_x.tif', {})).toBeNull();
  });

  it('tell sar-water\'s user that a scene of linear backscatter is not in dB', async () => {
    const w = 64;
    const linear = [0.05, 0.01].map((v) => Float32Array.from({ length: w * w }, (_, i) => v * (1 + (i % 7) / 10)));
    const scene = path.join(tmp, 's1-linear.tif');
    const meta = '<GDALMetadata><Item name="DESCRIPTION" sample="0" role="description">VV</Item><Item name="DESCRIPTION" sample="1" role="description">VH</Item></GDALMetadata>';
    writeTestTiff(scene, { width: w, height: w, dtype: 'float32', bands: linear, geoTransform: [500000, 10, 0, 4000000, 0, -10], extraTags: [{ tag: 42112, type: TagType.ASCII, values: meta }] });
    const said: string[] = [];
    await segmentScene({ input: scene, output: path.join(tmp, 's1-linear-mask.tif'), model: registry.get('sar-water'), device: 'cpu', onNotice: (m) => said.push(m) });
    expect(said.join('\n')).toMatch(/no value of bands 1,2 is negative, .*linear sigma0 or amplitude/);
  });

  it('shift the values the model sees: ((v + offset) x scale - mean) / std', () => {
    const band = { window: { x: 0, y: 0, width: 2, height: 2 }, width: 2, height: 2, bands: [Float32Array.from([1100, 1200, 1300, 1400])], valid: new Uint8Array([1, 1, 1, 1]) };
    const out = new Float32Array(4);
    cutTile(band as never, 2, 2, 0, 0, 2, { scale: 0.5, mean: [10], std: [2], offset: [-1000] }, out, 0);
    expect(Array.from(out)).toEqual([20, 45, 70, 95]);
  });

  it('make spectral-water find open water in Sentinel-2 values of baseline 04.00 (+1000), which it missed', async () => {
    const scene = path.join(tmp, 's2-pb04.tif');
    baseline04Scene(scene);
    const spec = registry.get('spectral-water');
    const said: string[] = [];
    const raw = await segmentScene({ input: scene, output: path.join(tmp, 'raw.tif'), model: spec, device: 'cpu', onNotice: (m) => said.push(m) });
    expect(raw.bandChoice).toMatch(/B3,B4,B8,B11 by band description/);
    // Water read with the +1000: NDWI 0.11 and MNDWI 0.15, under the 0.2 threshold.
    expect((await stripes(raw.output))[0]).not.toContain(0);
    // No value under 1000 anywhere: the run says what it likely is, and what to do.
    expect(said).toContain('every value of bands 1,2,3,4 is 1000 or more, as in offset products (a Sentinel-2 product of processing baseline 04.00 or later (from 25 January 2022) adds 1000 to every value): if this scene is one, the model misreads it; segment it with --offset -1000 (options.band_offset)');
    const notices: string[] = [];
    const fixed = await segmentScene({ input: scene, output: path.join(tmp, 'fixed.tif'), model: spec, device: 'cpu', bandOffset: -1000, onNotice: (m) => notices.push(m) });
    expect(await stripes(fixed.output)).toEqual([[0], [1], [2]]);
    expect(fixed.bandOffsets).toEqual([-1000, -1000, -1000, -1000]);
    expect(notices).toContain('-1000 is added to the values of bands 1,2,3,4 before the model (--offset / band_offset)');
  });

  it('are taken from the file where it declares them (GDAL OFFSET / SCALE), and 0 turns them off', async () => {
    const scene = path.join(tmp, 's2-declared.tif');
    baseline04Scene(scene, { scale: 0.0001, offset: -0.1 });
    const source = await openRaster(scene);
    expect(source.info.bands.map((b) => [b.scale, b.offset])).toEqual(Array(4).fill([0.0001, -0.1]));
    await source.close();
    const spec = registry.get('spectral-water');
    const notices: string[] = [];
    const auto = await segmentScene({ input: scene, output: path.join(tmp, 'auto.tif'), model: spec, device: 'cpu', onNotice: (m) => notices.push(m) });
    expect(await stripes(auto.output)).toEqual([[0], [1], [2]]);
    expect(notices.join('\n')).toMatch(/the scene declares offsets for its bands .*band 1: -1000, 2: -1000, 3: -1000, 4: -1000/);
    const quiet: string[] = [];
    const off = await segmentScene({ input: scene, output: path.join(tmp, 'off.tif'), model: spec, device: 'cpu', bandOffset: 0, onNotice: (m) => quiet.push(m) });
    expect((await stripes(off.output))[0]).not.toContain(0);
    // Asked for no offset: no hint either.
    expect(quiet.filter((m) => /offset/.test(m))).toEqual([]);
  });

  it.skipIf(skipWithoutGdal)(`reads the scale and offset gdal_edit.py writes, as GDAL reads them ${gdalSkipReason}`, async () => {
    const scene = path.join(tmp, 'edited.tif');
    baseline04Scene(scene);
    execFileSync('gdal_edit.py', ['-scale', '0.0001', '-offset', '-0.1', scene]);
    const gdal = JSON.parse(execFileSync('gdalinfo', ['-json', scene], { encoding: 'utf8' })) as { bands: Array<{ scale?: number; offset?: number }> };
    const source = await openRaster(scene);
    expect(source.info.bands.map((b) => [b.scale, b.offset])).toEqual(gdal.bands.map((b) => [b.scale, b.offset]));
    expect(gdal.bands[0]).toMatchObject({ scale: 0.0001, offset: -0.1 });
    await source.close();
  });
});
