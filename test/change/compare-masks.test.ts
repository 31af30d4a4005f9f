/**
 * compareMasks on masks crafted here (nothing outside the repo): hand-counted transitions, nodata,
 * areas, the change mask's codes, colours and metadata, refusals, and resampling across grids and
 * CRSs checked pixel by pixel against a brute-force exact lookup written in the test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as turf from '@turf/turf';
import { afterAll, describe, expect, it } from 'vitest';
import { compareMasks } from '../../server/src/change/compare-masks.ts';
import { ChangeError } from '../../server/src/errors.ts';
import { changePolygons } from '../../server/src/change/change-polygons.ts';
import { converter, transformableProj4, WGS84 } from '../../server/src/read/crs-transform.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { blobIds, CLASSES, countCodes, readAll, writeMask, type MaskSpec } from './change-fixtures.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-change-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const file = (name: string) => path.join(tmp, name);

const N = 255;
const UTM: Pick<MaskSpec, 'epsg'> = { epsg: 32610 };

async function expectChangeError(p: Promise<unknown>, code: string, message: RegExp, out: string): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ChangeError);
  expect((err as ChangeError).code).toBe(code);
  expect((err as Error).message).toMatch(message);
  expect(fs.existsSync(out)).toBe(false);
  expect(fs.readdirSync(path.dirname(out)).filter((f) => f.includes('satseg-tmp'))).toEqual([]);
}

describe('compareMasks on one grid', () => {
  // 4 x 3 px of 10 m; N = 255 is nodata.
  const before = Uint8Array.from([0, 0, 1, 1, /**/ 0, 2, 2, 1, /**/ N, 0, 1, 2]);
  const after = Uint8Array.from([0, 1, 1, 1, /**/ 2, 2, N, 0, /**/ 0, 0, 1, 2]);
  const grid = { width: 4, height: 3, geoTransform: [500000, 10, 0, 5000000, 0, -10] as MaskSpec['geoTransform'], ...UTM };

  it('codes every pixel from * N + to, nodata where either mask is nodata, and counts the hand-counted matrix', async () => {
    await writeMask(file('hand-before.tif'), { ...grid, ids: before });
    await writeMask(file('hand-after.tif'), { ...grid, ids: after });
    const out = file('hand-change.tif');
    const r = await compareMasks({ before: file('hand-before.tif'), after: file('hand-after.tif'), out });
    const mask = await readAll(out);
    // water=0, vegetation=1, other=2 with N = 3: 0→1 = 1, 0→2 = 2, 1→0 = 3, 1→1 = 4, 2→2 = 8.
    expect(Array.from(mask.ids)).toEqual([0, 1, 4, 4, /**/ 2, 8, N, 3, /**/ N, 0, 4, 8]);
    expect(mask.geoTransform).toEqual(grid.geoTransform);
    const s = r.statistics;
    expect(s.matrix.pixels).toEqual([[2, 1, 1], [1, 3, 0], [0, 0, 2]]);
    expect(s.matrix.area_m2).toEqual([[200, 100, 100], [100, 300, 0], [0, 0, 200]]);
    expect(s.valid_pixels).toBe(10);
    expect(s.nodata_pixels).toBe(2);
    expect(s.changed_pixels).toBe(3);
    expect(s.changed_area_m2).toBe(300);
    expect(s.changed_share).toBeCloseTo(0.3, 12);
    expect(s.area_method).toBe('projected');
    expect(s.per_class.map((c) => [c.name, c.gained_m2, c.lost_m2, c.net_m2])).toEqual([
      ['water', 100, 200, -100], ['vegetation', 100, 100, 0], ['other', 100, 0, 100],
    ]);
    expect(s.transitions.map((t) => [t.name, t.code, t.pixels])).toEqual(
      expect.arrayContaining([['water → vegetation', 1, 1], ['water → other', 2, 1], ['vegetation → water', 3, 1]]),
    );
    expect(s.transitions).toHaveLength(3);
    expect(r.window).toEqual({ x: 0, y: 0, width: 4, height: 3 });
  });

  it('writes a paletted COG: unchanged grey, changed in the colour of the class it became, and the metadata of a class mask', async () => {
    const mask = await readAll(file('hand-change.tif'));
    expect(JSON.parse(mask.metadata.CLASS_NAMES!)).toEqual(CLASSES);
    const names = JSON.parse(mask.metadata.TRANSITION_NAMES!) as string[];
    expect(names).toHaveLength(9);
    expect(names[1]).toBe('water → vegetation');
    expect(names[4]).toBe('vegetation → vegetation');
    expect(mask.metadata.MODEL).toBe('test-model');
    expect(mask.metadata.CHANGE_OF).toBe('hand-before.tif|hand-after.tif');
    expect(mask.metadata.CLASS_COLORS).toBeUndefined();
    const table = mask.colorMap!;
    for (const unchanged of [0, 4, 8]) expect(table[unchanged]).toEqual([190, 190, 190]);
    expect(table[1]).toEqual([0x33, 0xa0, 0x2c]); // → vegetation
    expect(table[3]).toEqual([0x1f, 0x78, 0xb4]); // → water
    expect(table[5]).toEqual([0xb1, 0x59, 0x28]); // vegetation → other
  });

  it('leaves pixels outside the area nodata and clips the output to the area', async () => {
    // The area: the middle two columns of the grid (x 500010..500030), as lon/lat.
    const toWgs = converter(transformableProj4(crsFromEpsg(32610)), WGS84);
    const ring = [[500011, 4999971], [500029, 4999971], [500029, 5000000 - 1], [500011, 5000000 - 1], [500011, 4999971]].map(([x, y]) => toWgs.forward([x!, y!]));
    const out = file('hand-area.tif');
    const r = await compareMasks({ before: file('hand-before.tif'), after: file('hand-after.tif'), out, area: turf.polygon([ring]).geometry });
    expect(r.window).toEqual({ x: 1, y: 0, width: 2, height: 3 });
    expect(Array.from((await readAll(out)).ids)).toEqual([1, 4, /**/ 8, N, /**/ 0, 4]);
    expect(r.statistics.valid_pixels).toBe(5);
  });

  it('refuses more than 15 classes, masks of different models or class lists, and masks that do not overlap', async () => {
    const names16 = Array.from({ length: 16 }, (_, i) => `c${i}`);
    await writeMask(file('many-a.tif'), { ...grid, ids: before, names: names16 });
    await writeMask(file('many-b.tif'), { ...grid, ids: after, names: names16 });
    const out = file('refused.tif');
    await expectChangeError(compareMasks({ before: file('many-a.tif'), after: file('many-b.tif'), out }), 'too-many-classes', /16 classes is more than change can code.*at most 15 classes/, out);

    await writeMask(file('other-model.tif'), { ...grid, ids: after, model: 'aerial-landcover' });
    await expectChangeError(compareMasks({ before: file('hand-before.tif'), after: file('other-model.tif'), out }), 'class-mismatch',
      /different models: hand-before\.tif is model test-model \(water, vegetation, other\), other-model\.tif is model aerial-landcover/, out);
    await writeMask(file('other-names.tif'), { ...grid, ids: after, names: ['water', 'trees', 'other'] });
    await expectChangeError(compareMasks({ before: file('hand-before.tif'), after: file('other-names.tif'), out }), 'class-mismatch',
      /different class lists: .*\(water, vegetation, other\), other-names\.tif is model test-model \(water, trees, other\)/, out);

    await writeMask(file('far.tif'), { ...grid, geoTransform: [600000, 10, 0, 5000000, 0, -10], ids: after });
    await expectChangeError(compareMasks({ before: file('hand-before.tif'), after: file('far.tif'), out }), 'no-overlap', /the masks do not overlap: far\.tif covers none of hand-before\.tif/, out);

    // An area on the before mask that misses the after mask.
    await writeMask(file('left-half.tif'), { ...grid, width: 2, ids: Uint8Array.from([0, 0, 1, 1, 2, 2]) });
    const toWgs = converter(transformableProj4(crsFromEpsg(32610)), WGS84);
    const ring = [[500021, 4999971], [500039, 4999971], [500039, 4999999], [500021, 4999999], [500021, 4999971]].map(([x, y]) => toWgs.forward([x!, y!]));
    await expectChangeError(compareMasks({ before: file('hand-before.tif'), after: file('left-half.tif'), out, area: turf.polygon([ring]).geometry }), 'no-overlap', /the area does not overlap the after mask left-half\.tif/, out);

    // Overlapping, but never both with data.
    await writeMask(file('all-nodata.tif'), { ...grid, ids: new Uint8Array(12).fill(N) });
    await expectChangeError(compareMasks({ before: file('hand-before.tif'), after: file('all-nodata.tif'), out }), 'no-overlap', /overlap only where one of them is nodata/, out);
  });

  it('refuses a raster that is not a class mask, or a change mask given as one', async () => {
    const out = file('refused-2.tif');
    await writeMask(file('no-names.tif'), { ...grid, ids: after, names: [] });
    await expectChangeError(compareMasks({ before: file('hand-before.tif'), after: file('no-names.tif'), out }), 'not-a-mask', /no-names\.tif does not list its classes/, out);
    await expectChangeError(compareMasks({ before: file('hand-change.tif'), after: file('hand-after.tif'), out }), 'not-a-mask', /hand-change\.tif is a change mask/, out);
    // What is wrong with a class list is said (both were refused without a reason).
    await writeMask(file('bad-names.tif'), { ...grid, ids: after, metadata: { CLASS_NAMES: 'water,vegetation,other' } });
    await expectChangeError(compareMasks({ before: file('hand-before.tif'), after: file('bad-names.tif'), out }), 'not-a-mask', /bad-names\.tif does not list its classes .*: its CLASS_NAMES is not a JSON list of strings \("water,vegetation,other"\)/, out);
    await writeMask(file('nodata-class.tif'), { ...grid, ids: after, nodata: 0 });
    await expectChangeError(compareMasks({ before: file('nodata-class.tif'), after: file('hand-after.tif'), out }), 'not-a-mask', /nodata-class\.tif does not list its classes .*: its nodata value 0 is the id of its class "water"/, out);
  });
});

/** Brute force: the after pixel under each output pixel centre, transformed exactly one by one. */
function bruteForce(outWin: { x: number; y: number; width: number; height: number }, b: MaskSpec, a: MaskSpec, exact: (x: number, y: number) => [number, number]): { codes: Uint8Array } {
  const codes = new Uint8Array(outWin.width * outWin.height);
  for (let j = 0; j < outWin.height; j++) {
    for (let i = 0; i < outWin.width; i++) {
      const bx = outWin.x + i;
      const by = outWin.y + j;
      const [X, Y] = exact(b.geoTransform[0] + (bx + 0.5) * b.geoTransform[1], b.geoTransform[3] + (by + 0.5) * b.geoTransform[5]);
      const u = (X - a.geoTransform[0]) / a.geoTransform[1];
      const v = (Y - a.geoTransform[3]) / a.geoTransform[5];
      let code = N;
      if (u >= 0 && v >= 0 && u < a.width && v < a.height) {
        const f = b.ids[by * b.width + bx]!;
        const t = a.ids[Math.floor(v) * a.width + Math.floor(u)]!;
        if (f !== N && t !== N) code = f * 3 + t;
      }
      codes[j * outWin.width + i] = code;
    }
  }
  return { codes };
}

describe('compareMasks across grids', () => {
  it('reads a much finer after mask without overviews, rotated against the before grid, in windows of bounded size', async () => {
    // A lon/lat before grid of 24 x 16 px at 70° N over an EPSG:3413 after mask of 5 m pixels,
    // turned about 45° against it, read as though it had no overviews: one output row lay
    // diagonally across the after mask, and its window was the box around it (a 20000² version of
    // this made 2.1 GB from a 640 KB file).
    const a: MaskSpec = { width: 4000, height: 4000, geoTransform: [1537098, 5, 0, -1537098, 0, -5], epsg: 3413, ids: blobIds(4000, 4000, 30) };
    const b: MaskSpec = { width: 24, height: 16, geoTransform: [-0.3, 0.025, 0, 70.2, 0, -0.025], epsg: 4326, geographic: true, ids: blobIds(24, 16, 31) };
    await writeMask(file('fine-3413.tif'), a);
    await writeMask(file('coarse-ll.tif'), b);
    const real = await openRaster(file('fine-3413.tif'));
    const windows: number[] = [];
    const noOverviews = new Proxy(real, {
      get(target, key) {
        if (key === 'levelCount') return 1;
        if (key === 'read') return (w: { width: number; height: number }, o: unknown) => { windows.push(w.width * w.height); return target.read(w as never, o as never); };
        const v = Reflect.get(target, key, target) as unknown;
        return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
      },
    });
    try {
      const r = await compareMasks({ before: file('coarse-ll.tif'), after: noOverviews, out: file('fine-change.tif') });
      expect(r.statistics.valid_pixels).toBeGreaterThan(0);
      expect(r.statistics.matrix.pixels.flat().reduce((x, y) => x + y, 0)).toBe(r.statistics.valid_pixels);
      // AFTER_PIXELS (2^23): every window read fits (one of 14.1 M px before the blocks were halved).
      expect(Math.max(...windows)).toBeLessThanOrEqual(1 << 23);
      console.log(`after windows read: ${windows.length}, the largest ${Math.max(...windows).toLocaleString("en-US")} px`);
    } finally {
      await real.close();
    }
  });

  it('resamples an after mask of another resolution and offset by nearest neighbour, over several strips', async () => {
    // Before: 1300 x 1000 px of 10 m (two strips). After: 7.3 m pixels, shifted by a fraction of a
    // pixel, covering only part of the before mask.
    const b: MaskSpec = { width: 1300, height: 1000, geoTransform: [500000, 10, 0, 5000000, 0, -10], ...UTM, ids: blobIds(1300, 1000, 1) };
    const a: MaskSpec = { width: 1500, height: 1200, geoTransform: [503003.1, 7.3, 0, 4998002.7, 0, -7.3], ...UTM, ids: blobIds(1500, 1200, 2) };
    await writeMask(file('grid-before.tif'), b);
    await writeMask(file('grid-after.tif'), a);
    const out = file('grid-change.tif');
    const r = await compareMasks({ before: file('grid-before.tif'), after: file('grid-after.tif'), out });
    // Clipped to the pixels whose centres the after mask covers: it starts at x 503003.1 (before
    // column 300.31, so column 300's centre is in) and y 4998002.7 (row 199.73, so row 199's is not).
    expect(r.window.x).toBe(300);
    expect(r.window.y).toBe(200);
    expect(r.window.x + r.window.width).toBe(1300);
    expect(r.window.y + r.window.height).toBe(1000);
    const expected = bruteForce(r.window, b, a, (x, y) => [x, y]);
    const got = await readAll(out);
    expect(got.levels).toBeGreaterThan(1);
    let differ = 0;
    for (let i = 0; i < got.ids.length; i++) if (got.ids[i] !== expected.codes[i]) differ++;
    expect(differ).toBe(0);
    expect(r.statistics.matrix.pixels).toEqual(countCodes(expected.codes, 3));
    // gained - lost = after count - before count over the compared pixels, counted from the two masks.
    const beforeCounts = [0, 0, 0];
    const afterCounts = [0, 0, 0];
    for (let j = 0; j < r.window.height; j++) {
      for (let i = 0; i < r.window.width; i++) {
        const code = expected.codes[j * r.window.width + i]!;
        if (code === N) continue;
        beforeCounts[b.ids[(r.window.y + j) * b.width + r.window.x + i]!]!++;
        afterCounts[code % 3]!++;
      }
    }
    for (const c of r.statistics.per_class) {
      expect(c.gained_pixels - c.lost_pixels).toBe(afterCounts[c.id]! - beforeCounts[c.id]!);
      expect(c.gained_m2 - c.lost_m2).toBeCloseTo((afterCounts[c.id]! - beforeCounts[c.id]!) * 100, 6);
      expect(c.before_pixels).toBe(beforeCounts[c.id]);
    }
  });

  it('resamples a lon/lat after mask onto a UTM grid like an exact per-pixel transform', async () => {
    // Before: UTM 10N, 10 m. After: EPSG:4326 at 0.00013° x 0.00009° (about 10.2 m x 10 m at 45.1°N),
    // shifted by a fraction of a pixel and overlapping the before mask's lower-right part.
    const b: MaskSpec = { width: 900, height: 700, geoTransform: [500000, 10, 0, 4995000, 0, -10], ...UTM, ids: blobIds(900, 700, 3) };
    const toWgs = converter(transformableProj4(crsFromEpsg(32610)), WGS84);
    const [lon0, lat0] = toWgs.forward([502000, 4993000]);
    const a: MaskSpec = {
      width: 800, height: 700, geoTransform: [lon0! + 0.0000437, 0.00013, 0, lat0! - 0.0000211, 0, -0.00009], epsg: 4326, geographic: true, ids: blobIds(800, 700, 4),
    };
    await writeMask(file('ll-before.tif'), b);
    await writeMask(file('ll-after.tif'), a);
    const out = file('ll-change.tif');
    const r = await compareMasks({ before: file('ll-before.tif'), after: file('ll-after.tif'), out });
    const toAfter = converter(transformableProj4(crsFromEpsg(32610)), transformableProj4(crsFromEpsg(4326)));
    const expected = bruteForce(r.window, b, a, (x, y) => toAfter.forward([x, y]) as [number, number]);
    const got = await readAll(out);
    let differ = 0;
    for (let i = 0; i < got.ids.length; i++) if (got.ids[i] !== expected.codes[i]) differ++;
    // The control grid is within 0.05 px of the exact transform; no centre here lies that close to
    // an after pixel's edge, so every pixel matches.
    expect(differ).toBe(0);
    expect(r.statistics.valid_pixels).toBeGreaterThan(100_000);
    expect(r.statistics.changed_pixels).toBeGreaterThan(10_000);
    // Nothing of the before mask that the after mask covers was clipped away.
    const outside = bruteForce({ x: 0, y: 0, width: b.width, height: b.height }, b, a, (x, y) => toAfter.forward([x, y]) as [number, number]);
    const validEverywhere = outside.codes.reduce((s, c) => s + (c !== N ? 1 : 0), 0);
    expect(r.statistics.valid_pixels).toBe(validEverywhere);
  });

  it('compares across the antimeridian: a UTM zone 1 mask against a lon/lat mask written past 180', async () => {
    // Before: UTM 1S near Fiji, 30 m, the antimeridian about a third of the way across. After:
    // EPSG:4326 from 179.9° to 180.1°. proj4 puts the before pixels east of the line at -179.9x,
    // which the after mask holds as 180.0x: only the western part used to be compared.
    const b: MaskSpec = { width: 600, height: 400, geoTransform: [172_000, 30, 0, 8_128_000, 0, -30], epsg: 32701, ids: blobIds(600, 400, 11) };
    const a: MaskSpec = { width: 700, height: 500, geoTransform: [179.9, 0.0003, 0, -16.93, 0, -0.0003], epsg: 4326, geographic: true, ids: blobIds(700, 500, 12) };
    await writeMask(file('am-before.tif'), b);
    await writeMask(file('am-after.tif'), a);
    const out = file('am-change.tif');
    const r = await compareMasks({ before: file('am-before.tif'), after: file('am-after.tif'), out });
    const toAfter = converter(transformableProj4(crsFromEpsg(32701)), transformableProj4(crsFromEpsg(4326)));
    const wrapped = (x: number, y: number): [number, number] => { const [lon, lat] = toAfter.forward([x, y]) as [number, number]; return [lon < 0 ? lon + 360 : lon, lat]; };
    const expected = bruteForce(r.window, b, a, wrapped);
    const got = await readAll(out);
    let differ = 0;
    for (let i = 0; i < got.ids.length; i++) if (got.ids[i] !== expected.codes[i]) differ++;
    // Interpolated positions are within 0.05 px of exact: only centres that close to an edge may differ.
    expect(differ).toBeLessThan(got.ids.length * 0.002);
    const all = bruteForce({ x: 0, y: 0, width: b.width, height: b.height }, b, a, wrapped);
    const validEverywhere = all.codes.reduce((s, c) => s + (c !== N ? 1 : 0), 0);
    expect(Math.abs(r.statistics.valid_pixels - validEverywhere)).toBeLessThan(validEverywhere * 0.002);
    // Pixels east of the line (before x beyond about 181 km) were compared too.
    const eastColumn = Math.ceil((182_000 - 172_000) / 30) - r.window.x;
    let eastValid = 0;
    for (let j = 0; j < r.window.height; j++) for (let i = Math.max(0, eastColumn); i < r.window.width; i++) if (got.ids[j * r.window.width + i] !== N) eastValid++;
    expect(eastValid).toBeGreaterThan(r.statistics.valid_pixels / 3);
  });

  it('samples a much finer after mask from its overview at the before resolution (gdalwarp -ovr AUTO)', async () => {
    // Before 40 m; after 10 m, four times finer, so its second overview (40 m, modes of 4 x 4) is sampled.
    const b: MaskSpec = { width: 200, height: 150, geoTransform: [500000, 40, 0, 5000000, 0, -40], ...UTM, ids: blobIds(200, 150, 5) };
    const a: MaskSpec = { width: 800, height: 600, geoTransform: [500013, 10, 0, 4999987, 0, -10], ...UTM, ids: blobIds(800, 600, 6) };
    await writeMask(file('coarse-before.tif'), b);
    await writeMask(file('fine-after.tif'), a);
    const r = await compareMasks({ before: file('coarse-before.tif'), after: file('fine-after.tif'), out: file('coarse-change.tif') });
    const source = await openRaster(file('fine-after.tif'));
    expect(source.levelSize(2)).toEqual({ width: 200, height: 150 });
    const overview = (await source.read({ x: 0, y: 0, width: 200, height: 150 }, { level: 2 })).bands[0] as Uint8Array;
    await source.close();
    const onOverview: MaskSpec = { ...a, width: 200, height: 150, geoTransform: [500013, 40, 0, 4999987, 0, -40], ids: overview };
    const expected = bruteForce(r.window, b, onOverview, (x, y) => [x, y]);
    const got = await readAll(file('coarse-change.tif'));
    expect(Array.from(got.ids)).toEqual(Array.from(expected.codes));
    expect(r.statistics.valid_pixels).toBeGreaterThan(20_000);
  });

  it('vectorizes only the changed pixels, each polygon naming both classes, with areas that add up to the changed area', async () => {
    const vec = file('grid-change.geojson');
    const s = await changePolygons(file('grid-change.tif'), vec, { minAreaM2: 0, simplifyPx: 0 });
    const fc = JSON.parse(fs.readFileSync(vec, 'utf8'));
    expect(fc.features).toHaveLength(s.features);
    expect(s.features).toBeGreaterThan(3);
    const names = JSON.parse((await readAll(file('grid-change.tif'))).metadata.TRANSITION_NAMES!) as string[];
    let total = 0;
    for (const f of fc.features) {
      const p = f.properties;
      expect(p.from_id).not.toBe(p.to_id);
      expect(p.class_id).toBe(p.from_id * 3 + p.to_id);
      expect(p.from).toBe(CLASSES[p.from_id]);
      expect(p.to).toBe(CLASSES[p.to_id]);
      expect(p.class).toBe(names[p.class_id]);
      total += p.area_m2;
    }
    const r = await compareMasks({ before: file('grid-before.tif'), after: file('grid-after.tif'), out: file('grid-change-2.tif') });
    expect(total).toBeCloseTo(r.statistics.changed_area_m2, 2);
    await expect(changePolygons(file('grid-change.tif'), file('x.fgb'))).rejects.toThrow(/change polygons are written as GeoJSON/);
    await expect(changePolygons(file('grid-before.tif'), file('x.geojson'))).rejects.toThrow(/grid-before\.tif is not a change mask/);
  });

  it('stops when aborted and leaves nothing at the output', async () => {
    const out = file('aborted.tif');
    const controller = new AbortController();
    const p = compareMasks({
      before: file('grid-before.tif'), after: file('grid-after.tif'), out, signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(p).rejects.toThrow();
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('.aborted'))).toEqual([]);
  });
});
