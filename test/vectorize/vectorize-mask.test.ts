/**
 * vectorizeMask end to end on small real GeoTIFFs written for the test: our own masks (CogWriter,
 * with class names and palette) and plain class rasters (writeTestTiff).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as turf from '@turf/turf';
import type { FeatureCollection, Polygon } from 'geojson';
import { execFileSync } from 'node:child_process';
import { deserialize } from 'flatgeobuf/lib/mjs/geojson.js';
import { gdalPython, hasGdal } from '../helpers/shared-data.ts';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { writeTestTiff } from '../fixtures/write-tiff.ts';
import { vectorizeMask, geojsonChunks, openClassPolygons } from '../../server/src/vectorize/vectorize-mask.ts';
import { AtomicOutput } from '../../server/src/write/atomic-file.ts';
import type { ClassProperties } from '../../server/src/vectorize/class-polygon.ts';

let tmp: string;
beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-vectorize-')); });
afterAll(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

const NAMES = ['background', 'building', 'water'];
const UTM_GT: [number, number, number, number, number, number] = [500000, 10, 0, 4000000, 0, -10];

/** A satseg mask (uint8, nodata 255, palette, CLASS_NAMES) in UTM 18N with 10 m pixels. */
async function writeOurMask(file: string, width: number, height: number, pixel: (x: number, y: number) => number): Promise<void> {
  const w = await CogWriter.create(file, {
    width, height, geoTransform: UTM_GT, geoKeys: { epsg: 32618, geographic: false }, nodata: 255, blockSize: 16,
    colorMap: [[0, 0, 0], [200, 0, 0], [0, 0, 200]],
    metadata: { CLASS_NAMES: JSON.stringify(NAMES), CLASS_COLORS: JSON.stringify(['#000000', '#c80000', '#0000c8']) },
    overviewResampling: 'mode',
  });
  const rows = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rows[y * width + x] = pixel(x, y);
  await w.writeRows(rows, height);
  await w.finish();
}

/** Background with a 6x6 building that has a 2x2 courtyard of background, a 1-pixel shed and a water strip. */
function scene(x: number, y: number): number {
  if (x >= 2 && x < 8 && y >= 2 && y < 8) return x >= 4 && x < 6 && y >= 4 && y < 6 ? 0 : 1;
  if (x === 12 && y === 3) return 1;
  if (y >= 14) return 2;
  return 0;
}

function readCollection(file: string): FeatureCollection<Polygon, ClassProperties> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as FeatureCollection<Polygon, ClassProperties>;
}

describe('vectorizeMask', () => {
  let mask: string;
  beforeAll(async () => {
    mask = path.join(tmp, 'scene.tif');
    await writeOurMask(mask, 20, 18, scene);
  });

  it('writes RFC 7946 GeoJSON: lon/lat, shells counter-clockwise, holes clockwise, class properties', async () => {
    const out = path.join(tmp, 'scene.geojson');
    const summary = await vectorizeMask({ mask, out, simplifyPx: 0, minAreaM2: 0 });
    const fc = readCollection(out);
    expect(fc.type).toBe('FeatureCollection');
    expect(summary.features).toBe(fc.features.length);
    expect(summary.featuresByClass).toEqual({ background: 2, building: 2, water: 1 }); // the courtyard is background too
    for (const f of fc.features) {
      expect(Object.keys(f.properties).sort()).toEqual(['area_m2', 'class', 'class_id']);
      expect(NAMES[f.properties.class_id]).toBe(f.properties.class);
      const [shell, ...holes] = f.geometry.coordinates;
      expect(turf.booleanClockwise(shell!)).toBe(false);
      for (const h of holes) expect(turf.booleanClockwise(h)).toBe(true);
      for (const [lon, lat] of shell!) {
        expect(lon).toBeGreaterThan(-75.01);
        expect(lon).toBeLessThan(-74.99);
        expect(lat).toBeGreaterThan(36.13);
        expect(lat).toBeLessThan(36.15);
      }
    }
    const building = fc.features.find((f) => f.properties.class === 'building' && f.geometry.coordinates.length === 2)!;
    expect(building.properties.area_m2).toBe(32 * 100);
    const shed = fc.features.find((f) => f.properties.class === 'building' && f.properties.area_m2 === 100);
    expect(shed).toBeDefined();
    const total = fc.features.reduce((s, f) => s + f.properties.area_m2, 0);
    expect(total).toBe(20 * 18 * 100);
    expect(fs.readdirSync(tmp).filter((n) => n.includes('satseg-tmp'))).toEqual([]);
  });

  it('keeps only --classes, and rejects an unknown class listing the valid names', async () => {
    const out = path.join(tmp, 'water.geojson');
    await vectorizeMask({ mask, out, classes: ['water'], simplifyPx: 0 });
    expect(readCollection(out).features.map((f) => f.properties.class)).toEqual(['water']);
    const bad = path.join(tmp, 'bad.geojson');
    await expect(vectorizeMask({ mask, out: bad, classes: ['building', 'forest'] }))
      .rejects.toThrow('unknown class "forest" in --classes; valid names: background, building, water');
    expect(fs.existsSync(bad)).toBe(false);
  });

  it('drops polygons and fills holes smaller than --min-area', async () => {
    const out = path.join(tmp, 'big.geojson');
    const summary = await vectorizeMask({ mask, out, simplifyPx: 0, minAreaM2: 450 });
    const buildings = readCollection(out).features.filter((f) => f.properties.class === 'building');
    expect(buildings).toHaveLength(1); // the 1-pixel shed is gone
    expect(buildings[0]!.geometry.coordinates).toHaveLength(1); // the 4-pixel courtyard is filled
    expect(buildings[0]!.properties.area_m2).toBe(36 * 100);
    expect(summary.droppedSmall).toBe(2); // the shed and the courtyard's own polygon
    expect(summary.filledHoles).toBe(2); // the courtyard, and the shed's hole in the background
  });

  it('writes FlatGeobuf in the native CRS', async () => {
    const out = path.join(tmp, 'scene.fgb');
    const summary = await vectorizeMask({ mask, out, simplifyPx: 0, minAreaM2: 0 });
    expect(summary.crs).toBe('EPSG:32618');
    const features = [];
    for await (const f of deserialize(new Uint8Array(fs.readFileSync(out)))) features.push(f);
    expect(features).toHaveLength(5);
    const water = features.find((f) => f.properties?.class === 'water')!;
    const xs = (water.geometry as Polygon).coordinates[0]!.map((c) => c[0]!);
    expect(Math.min(...xs)).toBe(500000);
    expect(Math.max(...xs)).toBe(500200);
    expect(water.properties?.area_m2).toBe(20 * 4 * 100);
  });

  it('writes a FlatGeobuf spatial index that bounding-box reads (ours and GDAL\'s) agree with', async () => {
    // A 40 x 40 checkerboard: 1600 one-pixel polygons, three index levels below the root.
    const board = path.join(tmp, 'board.tif');
    await writeOurMask(board, 40, 40, (x, y) => (x + y) % 2);
    const out = path.join(tmp, 'board.fgb');
    await vectorizeMask({ mask: board, out, simplifyPx: 0, minAreaM2: 0 });
    const bytes = new Uint8Array(fs.readFileSync(out));
    const all: Array<{ box: number[] }> = [];
    let indexNodeSize = 0;
    for await (const f of deserialize(bytes, { headerMetaFn: (h: { indexNodeSize: number }) => { indexNodeSize = h.indexNodeSize; } } as never)) {
      const ring = (f.geometry as Polygon).coordinates[0]!;
      const xs = ring.map((c) => c[0]!);
      const ys = ring.map((c) => c[1]!);
      all.push({ box: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)] });
    }
    expect(all).toHaveLength(1600);
    expect(indexNodeSize).toBe(16);
    const rects = [
      { minX: 500000, minY: 3999600, maxX: 500400, maxY: 4000000 },
      { minX: 500055, minY: 3999805, maxX: 500125, maxY: 3999835 },
      { minX: 500395, minY: 3999605, maxX: 500400, maxY: 3999610 },
      { minX: 500100, minY: 3999700, maxX: 500100, maxY: 3999700 },
    ];
    for (const rect of rects) {
      const expected = all.filter(({ box }) => !(box[0]! > rect.maxX || box[2]! < rect.minX || box[1]! > rect.maxY || box[3]! < rect.minY)).length;
      let found = 0;
      for await (const f of deserialize(bytes, { rect } as never)) if (f) found++;
      expect(found).toBe(expected);
      expect(found).toBeGreaterThan(0);
      if (hasGdal) {
        const code = `from osgeo import ogr; ds = ogr.Open(${JSON.stringify(out)}); l = ds.GetLayer(); print(l.TestCapability(ogr.OLCFastSpatialFilter)); l.SetSpatialFilterRect(${rect.minX}, ${rect.minY}, ${rect.maxX}, ${rect.maxY}); print(l.GetFeatureCount())`;
        const [fast, count] = execFileSync(gdalPython, ['-c', code], { encoding: 'utf8' }).trim().split('\n');
        expect(fast).toBe('True');
        // GDAL tests the geometries themselves, so polygons touching the box only at a corner may drop out.
        expect(Number(count)).toBeLessThanOrEqual(expected);
        expect(Number(count)).toBeGreaterThan(0);
      }
    }
  });

  it('streams one feature for a region that crosses many strips', async () => {
    const tall = path.join(tmp, 'snake.tif');
    await writeOurMask(tall, 9, 40, (x, y) => (y % 4 === 1 ? (x === 8 ? 1 : 0) : y % 4 === 3 ? (x === 0 ? 1 : 0) : 1));
    const stream = await openClassPolygons(tall, 'native', { simplifyPx: 0, minAreaM2: 0, stripRows: 3 });
    const polys = [];
    for await (const batch of stream.batches) polys.push(...batch);
    expect(polys.filter((p) => p.className === 'building')).toHaveLength(1);
    expect(polys.filter((p) => p.className === 'background')).toHaveLength(20);
  });

  it('hands a speckled strip\'s polygons on in batches of a few thousand, not the whole strip at once', async () => {
    // 160 x 160 one-pixel squares in one strip: 25,600 polygons, which used to come as one batch
    // (a 2000² checkerboard held 4 GB until its strip was done).
    const board = path.join(tmp, 'speckled.tif');
    await writeOurMask(board, 160, 160, (x, y) => (x + y) % 2);
    const stream = await openClassPolygons(board, 'native', { simplifyPx: 0, minAreaM2: 0 });
    const sizes: number[] = [];
    for await (const batch of stream.batches) sizes.push(batch.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(160 * 160);
    expect(sizes.length).toBeGreaterThanOrEqual(6);
    // At most the batch size plus one row's worth of polygons closed on the row that passed it.
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4096 + 160);
  });

  it('gives an empty FeatureCollection for a mask with no class pixel', async () => {
    const empty = path.join(tmp, 'empty.tif');
    await writeOurMask(empty, 8, 8, () => 255);
    const out = path.join(tmp, 'empty.geojson');
    const summary = await vectorizeMask({ mask: empty, out });
    expect(summary.features).toBe(0);
    expect(readCollection(out)).toEqual({ type: 'FeatureCollection', features: [] });
  });

  it('streams GeoJSON chunks that parse as one FeatureCollection', async () => {
    let text = '';
    for await (const chunk of await geojsonChunks(mask, { simplifyPx: 1 })) text += Buffer.from(chunk).toString('utf8');
    expect((JSON.parse(text) as FeatureCollection).features).toHaveLength(5); // min-area 20 m² keeps the 100 m² shed
  });

  it('accepts any integer class raster, naming classes by id', async () => {
    const file = path.join(tmp, 'plain16.tif');
    const band = new Uint16Array(6 * 4).map((_, i) => (i % 6 < 3 ? 700 : 9));
    writeTestTiff(file, { width: 6, height: 4, dtype: 'uint16', bands: [band], epsg: 32618 });
    const out = path.join(tmp, 'plain16.geojson');
    const summary = await vectorizeMask({ mask: file, out, classes: ['700'] });
    expect(summary.featuresByClass).toEqual({ 700: 1 });
    expect(summary.classNames).toBe('ids');
  });

  it('measures lon/lat masks on the ellipsoid', async () => {
    const file = path.join(tmp, 'geo.tif');
    writeTestTiff(file, { width: 2, height: 2, bands: [Uint8Array.from([1, 1, 1, 1])], epsg: 4326, geoTransform: [10, 0.5, 0, 1, 0, -0.5] });
    const out = path.join(tmp, 'geo.geojson');
    await vectorizeMask({ mask: file, out, simplifyPx: 0 });
    const area = readCollection(out).features[0]!.properties.area_m2;
    // 1° x 1° from the equator on WGS 84, integrated numerically: a²(1-e²)cosφ/(1-e²sin²φ)² dφ dλ.
    const a = 6378137, es = 0.0066943799901413165, n = 1000;
    let s = 0;
    for (let i = 0; i < n; i++) {
      const phi = ((i + 0.5) / n) * (Math.PI / 180);
      s += (a * a * (1 - es) * Math.cos(phi)) / (1 - es * Math.sin(phi) ** 2) ** 2;
    }
    const expected = (s * (Math.PI / 180) / n) * (Math.PI / 180);
    expect(Math.abs(area - expected) / expected).toBeLessThan(1e-6);
  });
});

describe('vectorizeMask: bad input', () => {
  it('refuses a float raster', async () => {
    const file = path.join(tmp, 'float.tif');
    writeTestTiff(file, { width: 4, height: 4, dtype: 'float32', bands: [new Float32Array(16).fill(0.5)] });
    await expect(vectorizeMask({ mask: file, out: path.join(tmp, 'f.geojson') })).rejects.toThrow(/not a class mask: .* holds float32 values/);
  });

  it('refuses a multi-band raster', async () => {
    const file = path.join(tmp, 'rgb.tif');
    writeTestTiff(file, { width: 4, height: 4, bands: [new Uint8Array(16), new Uint8Array(16), new Uint8Array(16)] });
    await expect(vectorizeMask({ mask: file, out: path.join(tmp, 'rgb.geojson') })).rejects.toThrow(/not a class mask: .* has 3 bands/);
  });

  it('stops at maxFeatures with the limit named, leaving no output', async () => {
    // A checkerboard of two classes: every pixel its own polygon (400 of class 1 and 2).
    const board = path.join(tmp, 'board.tif');
    await writeOurMask(board, 40, 20, (x, y) => ((x + y) % 2 ? 1 : 2));
    const out = path.join(tmp, 'board.geojson');
    await expect(vectorizeMask({ mask: board, out, minAreaM2: 0, maxFeatures: 500 }))
      .rejects.toMatchObject({ code: 'too-many-features', message: expect.stringMatching(/^the mask makes more than 500 polygons, the most a result may have \(SATSEG_MAX_FEATURES\); raise min_area_m2/) });
    expect(fs.existsSync(out)).toBe(false);
    // At the limit exactly, or without one, it writes them all.
    expect((await vectorizeMask({ mask: board, out, minAreaM2: 0, maxFeatures: 800 })).features).toBe(800);
    expect((await vectorizeMask({ mask: board, out, minAreaM2: 0 })).features).toBe(800);
  });

  it('refuses an unknown output format and a missing folder before reading anything', async () => {
    await expect(vectorizeMask({ mask: 'nope.tif', out: path.join(tmp, 'x.shp') })).rejects.toThrow(/use a .geojson .* or .fgb/);
    await expect(vectorizeMask({ mask: 'nope.tif', out: path.join(tmp, 'no/such/x.geojson') })).rejects.toThrow(/output folder does not exist/);
  });

  it('leaves nothing at the output path when a write is aborted', async () => {
    const target = path.join(tmp, 'aborted.geojson');
    const out = await AtomicOutput.open(target);
    await out.write('{"type":');
    expect(fs.existsSync(out.tempPath)).toBe(true);
    await out.abort();
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(out.tempPath)).toBe(false);
  });
});
