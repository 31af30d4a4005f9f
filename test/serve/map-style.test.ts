/**
 * MapLibre styles for a result and a dataset: valid by MapLibre's own validator, with fill and
 * outline layers on exactly the source-layers (and the `class` property) our vector tiles carry.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import type { Feature, Polygon } from 'geojson';
import { datasetMapLibreStyle, mapLibreStyle, type StyleClass } from '../../server/src/serve/map-style.ts';
import { ClassVectorTiles } from '../../server/src/vectorize/vector-tiles.ts';
import type { ClassProperties } from '../../server/src/vectorize/class-polygon.ts';

const require = createRequire(import.meta.url);
const validator = path.join(path.dirname(require.resolve('@maplibre/maplibre-gl-style-spec/package.json')), 'dist/gl-style-validate.mjs');
const { VectorTile } = require('@mapbox/vector-tile') as { VectorTile: new (pbf: unknown) => { layers: Record<string, { length: number; feature(i: number): { properties: Record<string, unknown> } }> } };
const Pbf = createRequire(require.resolve('vt-pbf'))('pbf') as new (buf: Uint8Array) => unknown;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-style-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const CLASSES: StyleClass[] = [
  { id: 0, name: 'water', color: '#419bdf' },
  { id: 1, name: 'trees', color: '#397d49' },
  { id: 2, name: 'built area', color: null },
];
const BASE = 'http://127.0.0.1:8080';

/** MapLibre's validator, the command line that ships with maplibre-gl: [exit status, output]. */
function validate(style: unknown): [number, string] {
  const file = path.join(tmp, `style-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(style));
  const r = spawnSync(process.execPath, [validator, file], { encoding: 'utf8' });
  return [r.status ?? -1, `${r.stdout}${r.stderr}`];
}

function square(lon: number, lat: number, c: StyleClass): Feature<Polygon, ClassProperties> {
  const d = 0.001;
  return {
    type: 'Feature', properties: { class: c.name, class_id: c.id, area_m2: 1 },
    geometry: { type: 'Polygon', coordinates: [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]] },
  };
}

describe('mapLibreStyle', () => {
  const style = mapLibreStyle({
    name: 'lakes 2020', imageryTileJson: `${BASE}/datasets/d1/tilejson.json`, maskTileJson: `${BASE}/results/r1/tilejson.json`,
    polygons: { tilejson: `${BASE}/results/r1/vector/tilejson.json` }, classes: CLASSES, center: [-75.5, 40.1], zoom: 12,
  });

  it('passes MapLibre\'s validator, and the validator does catch a broken style', () => {
    expect(validate(style)).toEqual([0, '']);
    expect(validate(datasetMapLibreStyle({ name: 'd1', imageryTileJson: `${BASE}/datasets/d1/tilejson.json` }))).toEqual([0, '']);
    const tilesVariant = mapLibreStyle({
      name: 'r', imageryTileJson: `${BASE}/datasets/d1/tilejson.json`, maskTileJson: `${BASE}/results/r1/tilejson.json`,
      polygons: { tiles: [`${BASE}/results/r1/vector/{z}/{x}/{y}.mvt`], minzoom: 0, maxzoom: 16, bounds: [-76, 40, -75, 41] }, classes: CLASSES,
    });
    expect(validate(tilesVariant)).toEqual([0, '']);
    const broken = structuredClone(style);
    (broken.layers[1]!.paint as Record<string, unknown>)['raster-opacity'] = 'opaque';
    const [status, out] = validate(broken);
    expect(status).not.toBe(0);
    expect(out).toMatch(/raster-opacity/);
  });

  it('draws imagery, then the class raster at 0.6, then fills and outlines coloured by class', () => {
    expect(style.layers.map((l) => l.id)).toEqual(['imagery', 'mask', 'polygons-fill-0', 'polygons-fill-1', 'polygons-fill-2', 'polygons-outline-0', 'polygons-outline-1', 'polygons-outline-2']);
    expect(style.layers[1]!.paint).toMatchObject({ 'raster-opacity': 0.6 });
    expect(style.sources).toEqual({
      imagery: { type: 'raster', url: `${BASE}/datasets/d1/tilejson.json`, tileSize: 256 },
      mask: { type: 'raster', url: `${BASE}/results/r1/tilejson.json`, tileSize: 256 },
      polygons: { type: 'vector', url: `${BASE}/results/r1/vector/tilejson.json` },
    });
    const match = ['match', ['get', 'class'], 'water', '#419bdf', 'trees', '#397d49', 'built area', '#808080', '#808080'];
    for (const l of style.layers.slice(2)) expect(Object.values(l.paint as object)[0]).toEqual(match);
    expect(style.metadata['satseg:legend']).toEqual([
      { id: 0, name: 'water', color: '#419bdf' }, { id: 1, name: 'trees', color: '#397d49' }, { id: 2, name: 'built area', color: '#808080' },
    ]);
  });

  it('names as source-layers exactly the MVT layers our vector tiles have, which carry the class property', () => {
    const tiles = ClassVectorTiles.fromFeatures(CLASSES.map((c, i) => square(10 + i * 0.002, 50, c)), { maxZoom: 14 });
    // All three squares lie in tile 14/8647/5556 (around 10.002°E, 50.0005°N).
    const decoded = new VectorTile(new Pbf(tiles.tile(14, 8647, 5556)!));
    const mvtLayers = Object.keys(decoded.layers).sort();
    const fillLayers = style.layers.filter((l) => l.type === 'fill').map((l) => l['source-layer'] as string).sort();
    const lineLayers = style.layers.filter((l) => l.type === 'line').map((l) => l['source-layer'] as string).sort();
    expect(fillLayers).toEqual(mvtLayers);
    expect(lineLayers).toEqual(mvtLayers);
    expect(tiles.vectorLayers.map((l) => l.id).sort()).toEqual(mvtLayers);
    for (const name of mvtLayers) expect(decoded.layers[name]!.feature(0).properties.class).toBe(name);
  });

  it('a result without polygons yet gets no vector source; the dataset style is the imagery alone', () => {
    const noPolygons = mapLibreStyle({ name: 'r', imageryTileJson: 'http://h/i.json', maskTileJson: 'http://h/m.json', classes: CLASSES });
    expect(Object.keys(noPolygons.sources)).toEqual(['imagery', 'mask']);
    expect(noPolygons.layers.map((l) => l.id)).toEqual(['imagery', 'mask']);
    const dataset = datasetMapLibreStyle({ name: 'd', imageryTileJson: 'http://h/i.json', center: [1, 2], zoom: 3 });
    expect(dataset).toMatchObject({ version: 8, center: [1, 2], zoom: 3, layers: [{ id: 'imagery', type: 'raster', source: 'imagery' }] });
  });

  it('a result with no imagery under it (its dataset gone, or made by the CLI) gets the mask alone, still where it opens', () => {
    const bare = mapLibreStyle({ name: 'r', imageryTileJson: null, maskTileJson: 'http://h/m.json', classes: CLASSES, center: [1, 2], zoom: 3 });
    expect(Object.keys(bare.sources)).toEqual(['mask']);
    expect(bare.layers.map((l) => l.id)).toEqual(['mask']);
    expect(bare).toMatchObject({ version: 8, name: 'r', center: [1, 2], zoom: 3 });
  });
});
