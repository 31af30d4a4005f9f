/**
 * Vector tiles: one MVT layer per class, a buffer beyond the tile edge, null for empty tiles, and
 * the TileJSON vector_layers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureCollection, Polygon } from 'geojson';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { openClassPolygons, vectorizeMask } from '../../server/src/vectorize/vectorize-mask.ts';
import { ClassVectorTiles } from '../../server/src/vectorize/vector-tiles.ts';
import { zoomForResolution } from '../../server/src/read/geodesy.ts';

// The MVT decoder and its protobuf reader come with vt-pbf (CommonJS, untyped).
const require = createRequire(import.meta.url);
const { VectorTile } = require('@mapbox/vector-tile') as { VectorTile: new (pbf: unknown) => DecodedTile };
const Pbf = createRequire(require.resolve('vt-pbf'))('pbf') as new (buf: Uint8Array) => unknown;
interface DecodedFeature { properties: Record<string, unknown>; loadGeometry(): Array<Array<{ x: number; y: number }>> }
interface DecodedTile { layers: Record<string, { length: number; extent: number; feature(i: number): DecodedFeature }> }

let tmp: string;
let mask: string;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-tiles-'));
  mask = path.join(tmp, 'mask.tif');
  const width = 40, height = 30;
  const w = await CogWriter.create(mask, {
    width, height, geoTransform: [500000, 10, 0, 4000000, 0, -10], geoKeys: { epsg: 32618, geographic: false }, nodata: 255,
    blockSize: 16, overviewResampling: 'mode', metadata: { CLASS_NAMES: '["field","building"]' },
  });
  const rows = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rows[y * width + x] = x > 10 && x < 30 && y > 5 && y < 20 ? 1 : 0;
  await w.writeRows(rows, height);
  await w.finish();
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function tileOf(lon: number, lat: number, z: number): [number, number] {
  const n = 2 ** z;
  const x = Math.floor(((lon + 180) / 360) * n);
  const r = (lat * Math.PI) / 180;
  const y = Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n);
  return [x, y];
}

describe('ClassVectorTiles', () => {
  it('lists one vector layer per class for TileJSON', async () => {
    const tiles = await ClassVectorTiles.fromPolygons((await openClassPolygons(mask, 'wgs84', { simplifyPx: 0 })).batches, { maxZoom: 18 });
    expect(tiles.vectorLayers).toEqual([
      { id: 'field', fields: { class: 'String', class_id: 'Number', area_m2: 'Number' }, minzoom: 0, maxzoom: 18, description: 'field polygons (class id 0)' },
      { id: 'building', fields: { class: 'String', class_id: 'Number', area_m2: 'Number' }, minzoom: 0, maxzoom: 18, description: 'building polygons (class id 1)' },
    ]);
  });

  it('encodes a tile with a layer per class and geometry reaching into the buffer; empty tiles are null', async () => {
    const file = path.join(tmp, 'features.geojson');
    await vectorizeMask({ mask, out: file, simplifyPx: 0 });
    const tiles = await ClassVectorTiles.fromGeoJsonFile(file, { maxZoom: 18 });
    const features = (JSON.parse(fs.readFileSync(file, 'utf8')) as FeatureCollection<Polygon, { class: string }>).features;
    const building = features.find((f) => f.properties.class === 'building')!.geometry.coordinates[0]!;
    const [x, y] = tileOf(building[0]![0]!, building[0]![1]!, 18);
    const bytes = tiles.tile(18, x, y)!;
    expect(bytes).toBeInstanceOf(Uint8Array);
    const decoded = new VectorTile(new Pbf(bytes));
    expect(Object.keys(decoded.layers).sort()).toEqual(['building', 'field']);
    const field = decoded.layers.field!.feature(0);
    expect(field.properties.class).toBe('field');
    expect(field.properties.class_id).toBe(0);
    const coords = field.loadGeometry().flat();
    // The mask crosses the tile edge; the buffer keeps geometry beyond it so fills meet without seams.
    expect(coords.some((p) => p.x < 0 || p.y < 0 || p.x > 4096 || p.y > 4096)).toBe(true);
    expect(tiles.tile(18, x + 50, y)).toBeNull();
    expect(tiles.tile(3, 99, 0)).toBeNull();
  });

  it('refuses to index a GeoJSON over its size limit, naming the limit and what to download instead', async () => {
    const file = path.join(tmp, 'big.geojson');
    await vectorizeMask({ mask, out: file });
    const size = fs.statSync(file).size;
    await expect(ClassVectorTiles.fromGeoJsonFile(file, { maxBytes: size - 1 }))
      .rejects.toMatchObject({ code: 'too-large', message: expect.stringMatching(/over the [\d.e-]+ MB that vector tiles are made from \(SATSEG_MAX_VECTOR_TILES_MB\); download features\.fgb/) });
    expect((await ClassVectorTiles.fromGeoJsonFile(file, { maxBytes: size })).vectorLayers.length).toBeGreaterThan(0);
  });

  it('refuses a polygons file that is not what vectorize writes, naming what is wrong (a worker uploads it, checked at its head only)', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{"type":"FeatureCollection","features":[{"type":"Feature"}, garbage', /^the polygons file is not JSON \(/],
      ['{"type":"FeatureCollection","features":"x"}', /^the polygons file is not a GeoJSON FeatureCollection$/],
      ['{"type":"FeatureCollection","features":[null]}', /^the polygons file's feature 0 is not a Polygon or MultiPolygon/],
      ['{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"class":"a","class_id":0},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,"x"],[1,1],[0,0]]]}}]}', /feature 0 is not a Polygon or MultiPolygon of finite \[x, y\] positions/],
      ['{"type":"FeatureCollection","features":[{"type":"Feature","properties":null,"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]}}]}', /feature 0 has no class and integer class_id properties/],
    ];
    for (const [text, message] of cases) {
      const file = path.join(tmp, 'bad.geojson');
      fs.writeFileSync(file, text);
      // They failed inside the indexing, as TypeErrors (a 500 'internal error' on vector tiles).
      await expect(ClassVectorTiles.fromGeoJsonFile(file)).rejects.toMatchObject({ code: 'bad-features', message: expect.stringMatching(message) });
    }
  });

  it('suggests a max zoom from the mask resolution', () => {
    expect(zoomForResolution(10, 0)).toBe(14);
    expect(zoomForResolution(0.6, 0)).toBe(18);
  });
});
