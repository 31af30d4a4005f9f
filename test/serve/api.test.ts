/**
 * The HTTP API in process: listings, TileJSON, tiles, errors, uploads, files, security.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';
import { corpusDir, skipWithoutShared } from '../helpers/shared-data.ts';

// A 600 x 400 RGB scene at 5 m in UTM 33N (Berlin-ish) and a 16-bit single band beside it.
const scene = (file: string) => writeTestTiff(file, { width: 600, height: 400, bands: syntheticScene(600, 400), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633, nodata: 0 });
const gray16 = (file: string) => writeTestTiff(file, { width: 200, height: 200, dtype: 'uint16', bands: [Uint16Array.from({ length: 40000 }, (_, i) => 1000 + (i % 200) * 10)], geoTransform: [390000, 10, 0, 5820000, 0, -10], epsg: 32633 });

let s: TestServer;
let sceneId: string;
let resultId: string;
// Tile 15/17604/10743 lies inside the scene (computed from its bounds below).
let inside: { z: number; x: number; y: number };

async function json(res: Response) {
  return { status: res.status, body: await res.json() as Record<string, any> };
}

beforeAll(async () => {
  s = createTestServer({ 'scene.tif': scene, 'gray16.tif': gray16, 'notes.tif': (f) => fs.writeFileSync(f, 'not a tiff') });
  sceneId = s.datasetId('scene.tif');
  const info = (await json(await s.get(`/datasets/${sceneId}`))).body;
  const [w, south, e, n] = info.bounds;
  const z = 15;
  const lon = (w + e) / 2;
  const lat = (south + n) / 2;
  const x = Math.floor(((lon + 180) / 360) * 2 ** z);
  const y = Math.floor(((1 - Math.log(Math.tan((lat * Math.PI) / 180) + 1 / Math.cos((lat * Math.PI) / 180)) / Math.PI) / 2) * 2 ** z);
  inside = { z, x, y };
  resultId = await s.addResult('scene.tif', { name: 'scene · test-rgb', withSummary: true });
});
afterAll(async () => { await s?.close(); });

describe('datasets', () => {
  it('lists every GeoTIFF of the data folder, unreadable ones with the reason', async () => {
    const { status, body } = await json(await s.get('/datasets'));
    expect(status).toBe(200);
    // By name, a page at a time.
    expect([body.total, body.next]).toEqual([body.datasets.length, null]);
    expect(await walkPages('/datasets', 'datasets', body.total)).toEqual(body.datasets.map((d: any) => d.id));
    const byName = Object.fromEntries(body.datasets.map((d: any) => [d.name, d]));
    expect(Object.keys(byName).sort()).toEqual(['gray16.tif', 'notes.tif', 'scene.tif']);
    expect(byName['notes.tif']).toMatchObject({ usable: false, error: expect.stringMatching(/not a TIFF file/) });
    expect(byName['scene.tif'].id).toMatch(/^[a-z0-9]{12}$/);
  });

  it('pages by cursor: a dataset added between two pages neither repeats an item nor hides one', async () => {
    const first = (await json(await s.get('/datasets?limit=1'))).body;
    expect(first.datasets.map((d: any) => d.name)).toEqual(['gray16.tif']);
    expect(first.next).toMatch(/\/datasets\?limit=1&after=[A-Za-z0-9_-]+$/);
    // A file that sorts first arrives: an offset of 1 would now give gray16.tif again.
    const early = path.join(s.dir, 'data', 'aaa.tif');
    gray16(early);
    try {
      s.ctx.datasets.sync(true);
      const second = (await json(await s.get(first.next.replace('http://satseg.test', '')))).body;
      expect(second.datasets.map((d: any) => d.name)).toEqual(['notes.tif']);
      expect(second.total).toBe(4);
      expect((await json(await s.get('/datasets?limit=1&offset=1'))).body.datasets.map((d: any) => d.name)).toEqual(['gray16.tif']);
    } finally {
      fs.rmSync(early);
      s.ctx.datasets.sync(true);
    }
    for (const [query, reason] of [['after=bm90LWEtY3Vyc29y', /after is not a cursor/], [`offset=1&after=${first.next.split('after=')[1]}`, /offset or after, not both/]] as const) {
      const res = await json(await s.get(`/datasets?${query}`));
      expect(res.status, query).toBe(400);
      expect(JSON.stringify(res.body), query).toMatch(reason);
    }
  });

  it('describes a dataset: bounds in EPSG:4326, CRS, bands with statistics, overviews', async () => {
    const { body } = await json(await s.get(`/datasets/${sceneId}`));
    expect(body).toMatchObject({ width: 600, height: 400, band_count: 3, dtype: 'uint8', nodata: 0, crs: { epsg: 32633 }, resolution_m: 5 });
    expect(body.bounds[0]).toBeGreaterThan(13);
    expect(body.bounds[1]).toBeGreaterThan(52);
    expect(body.bands.map((b: any) => b.color_interp)).toEqual(['red', 'green', 'blue']);
    expect(body.bands[0].statistics.max).toBeGreaterThan(body.bands[0].statistics.min);
    expect(body.maxzoom).toBe(15);
    expect(body.links.tilejson).toBe(`http://satseg.test/datasets/${sceneId}/tilejson.json`);
  });

  it('serves TileJSON 3.0.0 that keeps style parameters', async () => {
    const { body } = await json(await s.get(`/datasets/${sceneId}/tilejson.json?bands=3,2,1&rescale=0,200`));
    expect(body.tilejson).toBe('3.0.0');
    expect(body.tiles[0]).toBe(`http://satseg.test/datasets/${sceneId}/tiles/{z}/{x}/{y}.png?bands=3%2C2%2C1&rescale=0%2C200`);
    expect(body.bounds).toHaveLength(4);
    expect(body.minzoom).toBeLessThanOrEqual(body.maxzoom);
  });

  it('renders tiles in three formats, with ETag and 304', async () => {
    const { z, x, y } = inside;
    const res = await s.get(`/datasets/${sceneId}/tiles/${z}/${x}/${y}.png`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await res.arrayBuffer());
    const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([256, 256, 4]);
    let opaque = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] === 255) opaque++;
    expect(opaque).toBeGreaterThan(1000);
    const etag = res.headers.get('etag')!;
    expect((await s.get(`/datasets/${sceneId}/tiles/${z}/${x}/${y}.png`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect((await s.get(`/datasets/${sceneId}/tiles/${z}/${x}/${y}.webp`)).headers.get('content-type')).toBe('image/webp');
    expect((await s.get(`/datasets/${sceneId}/tiles/${z}/${x}/${y}.jpg`)).headers.get('content-type')).toBe('image/jpeg');
  });

  it('skips rendering a tile whose client has gone, and renders it for the next one', async () => {
    const { z, x, y } = inside;
    const gone = await s.get(`/datasets/${sceneId}/tiles/${z}/${x}/${y}.webp?bands=3,2,1`, { signal: AbortSignal.abort() });
    expect(gone.status).toBe(499);
    const next = await s.get(`/datasets/${sceneId}/tiles/${z}/${x}/${y}.webp?bands=3,2,1`);
    expect(next.status).toBe(200);
    expect(next.headers.get('content-type')).toBe('image/webp');
  });

  it('answers 204 for a tile outside the dataset', async () => {
    expect((await s.get(`/datasets/${sceneId}/tiles/15/0/0.png`)).status).toBe(204);
  });

  it('stretches 16-bit data automatically or by rescale', async () => {
    const id = s.datasetId('gray16.tif');
    const info = (await json(await s.get(`/datasets/${id}`))).body;
    expect(info.bands[0].statistics.p2).toBeGreaterThanOrEqual(1000);
    const tj = (await json(await s.get(`/datasets/${id}/tilejson.json`))).body;
    expect(tj.maxzoom).toBe(14);
    const res = await s.get(`/datasets/${id}/tiles/${inside.z - 1}/${inside.x >> 1}/${inside.y >> 1}.png?rescale=1000,3000`);
    expect([200, 204]).toContain(res.status);
  });

  it('serves a file replaced in the data folder anew: tiles, ETag and statistics', async () => {
    const id = s.datasetId('gray16.tif');
    const file = path.join(s.dir, 'data', 'gray16.tif');
    const url = `/datasets/${id}/tiles/${inside.z}/${inside.x}/${inside.y}.png?rescale=1000,3000`;
    const before = await s.get(url);
    expect(before.status).toBe(200);
    const beforeBytes = Buffer.from(await before.arrayBuffer());
    expect((await json(await s.get(`/datasets/${id}`))).body.bands[0].statistics.min).toBe(1000);
    // Replaced the way people do it: a new file written beside it and renamed over it.
    const next = path.join(s.dir, 'gray16-next.tif');
    writeTestTiff(next, { width: 200, height: 200, dtype: 'uint16', bands: [new Uint16Array(40000).fill(2600)], geoTransform: [390000, 10, 0, 5820000, 0, -10], epsg: 32633 });
    fs.renameSync(next, file);
    const after = await s.get(url);
    expect(after.status).toBe(200);
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
    const { data } = await sharp(Buffer.from(await after.arrayBuffer())).raw().toBuffer({ resolveWithObject: true });
    // 2600 on a 1000-3000 stretch is grey 204 everywhere; the old gradient is gone.
    expect(data[0]).toBe(204);
    expect(data.every((v) => v === 204)).toBe(true);
    expect(Buffer.compare(beforeBytes, Buffer.from(await (await s.get(url)).arrayBuffer()))).not.toBe(0);
    expect((await json(await s.get(`/datasets/${id}`))).body.bands[0].statistics.min).toBe(2600);
  });

  it.each([
    ['/tiles/99/0/0.png', /zoom must be an integer from 0 to 24/],
    ['/tiles/3/8/0.png', /tile 3\/8\/0 does not exist: x and y must be below 8 at zoom 3/],
    ['/tiles/3/1/1.gif', /tile must look like/],
    ['/tiles/15/1/1.png?bands=1,2,9', /band 9 does not exist \(the dataset has 3 bands\)/],
    ['/tiles/15/1/1.png?bands=1,2', /bands takes 1 or 3 bands/],
    ['/tiles/15/1/1.png?rescale=abc', /rescale must be "min,max"/],
    ['/tiles/15/1/1.png?rescale=5,1', /rescale must be "min,max" with min < max/],
    ['/tiles/15/1/1.png?rescale=-1e308,1e308', /rescale "-1e308,1e308" spans more than a number can hold/],
    ['/point?lon=999&lat=0', /invalid query: lon/],
    // Numbers are read as written in decimal: these are typos, not other tiles or places.
    ['/tiles/1e1/1/1.png', /zoom must be a whole number written in digits/],
    ['/tiles/0xa/1/1.png', /zoom must be a whole number written in digits/],
    ['/tiles/10/+3/1.png', /x must be a whole number written in digits/],
    ['/tiles/10/%20/1.png', /x must be a whole number written in digits/],
    ['/point?lon=&lat=0', /lon must be a decimal number/],
    ['/point?lon=0x10&lat=0', /lon must be a decimal number/],
    ['/tiles/15/1/1.png?bands=0x1', /invalid query: bands: bands must be 1-based band numbers/],
    ['/tiles/15/1/1.png?bands=0x1&bands=1', /bands is given 2 times; give it once/],
  ])('400 with the reason for %s', async (suffix, reason) => {
    const { status, body } = await json(await s.get(`/datasets/${sceneId}${suffix}`));
    expect(status).toBe(400);
    expect(body.error).toBe('bad request');
    expect(body.detail).toMatch(reason);
  });

  it('answers pixel values at a point', async () => {
    const info = (await json(await s.get(`/datasets/${sceneId}`))).body;
    const [lon, lat] = info.center;
    const { status, body } = await json(await s.get(`/datasets/${sceneId}/point?lon=${lon}&lat=${lat}`));
    expect(status).toBe(200);
    expect(body.values).toHaveLength(3);
    expect(body.pixel.x).toBeGreaterThan(250);
    expect((await s.get(`/datasets/${sceneId}/point?lon=0&lat=0`)).status).toBe(404);
  });
});

/** The ids of a paged list, one item a page, following `next`; each page says `total`. */
async function walkPages(path: string, key: string, total: number): Promise<string[]> {
  const seen: string[] = [];
  let next: string | null = `${path}?limit=1`;
  while (next) {
    const page: any = (await json(await s.get(next.replace('http://satseg.test', '')))).body;
    expect(page[key]).toHaveLength(1);
    expect(page.total).toBe(total);
    seen.push(page[key][0].id);
    next = page.next;
  }
  return seen;
}

describe('results', () => {
  it('lists a registered result with classes, links and TileJSON', async () => {
    const { body } = await json(await s.get(`/results/${resultId}`));
    expect(body.classes.map((c: any) => c.name)).toEqual(['water', 'vegetation', 'bare', 'built']);
    expect(body.links.mask).toBe(`http://satseg.test/results/${resultId}/mask.tif`);
    const tj = (await json(await s.get(`/results/${resultId}/tilejson.json?classes=water,built&opacity=0.5`))).body;
    expect(tj.tiles[0]).toContain('classes=water%2Cbuilt');
    expect(tj.legend[0]).toEqual({ id: 0, name: 'water', color: '#1F78B4' });
  });

  it('draws class tiles in the palette only, honouring classes= and opacity', async () => {
    const { z, x, y } = inside;
    const colors = new Set(['31,120,180', '51,160,44', '230,171,2', '227,26,28']);
    const decode = async (q: string) => sharp(Buffer.from(await (await s.get(`/results/${resultId}/tiles/${z}/${x}/${y}.png${q}`)).arrayBuffer())).ensureAlpha().raw().toBuffer();
    const all = await decode('');
    let drawn = 0;
    for (let i = 0; i < all.length; i += 4) {
      if (all[i + 3] === 0) continue;
      drawn++;
      expect(colors.has(`${all[i]},${all[i + 1]},${all[i + 2]}`)).toBe(true);
    }
    expect(drawn).toBeGreaterThan(1000);
    const water = await decode('?classes=water&opacity=0.5');
    for (let i = 0; i < water.length; i += 4) {
      if (water[i + 3] === 0) continue;
      expect([water[i], water[i + 1], water[i + 2], water[i + 3]]).toEqual([31, 120, 180, 128]);
    }
    const bad = await json(await s.get(`/results/${resultId}/tiles/${z}/${x}/${y}.png?classes=lava`));
    expect(bad).toMatchObject({ status: 400, body: { detail: 'unknown class "lava"; classes are: water, vegetation, bare, built' } });
  });

  it('serves mask.tif with ranges, ETag, Last-Modified and 304', async () => {
    const url = `/results/${resultId}/mask.tif`;
    const full = await s.get(url);
    expect(full.status).toBe(200);
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    const size = Number(full.headers.get('content-length'));
    const bytes = Buffer.from(await full.arrayBuffer());
    expect(bytes.length).toBe(size);
    const part = await s.get(url, { headers: { Range: 'bytes=0-15' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 0-15/${size}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(bytes.subarray(0, 16));
    const tail = await s.get(url, { headers: { Range: 'bytes=-10' } });
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(bytes.subarray(size - 10));
    expect((await s.get(url, { headers: { Range: `bytes=${size + 5}-` } })).status).toBe(416);
    expect((await s.get(url, { headers: { 'If-None-Match': full.headers.get('etag')! } })).status).toBe(304);
    expect((await s.get(url, { headers: { 'If-Modified-Since': full.headers.get('last-modified')! } })).status).toBe(304);
    // A date in the future is not a valid If-Modified-Since: the file, not a 304.
    expect((await s.get(url, { headers: { 'If-Modified-Since': new Date(Date.now() + 86_400_000).toUTCString() } })).status).toBe(200);
  });

  it('serves the polygons as GeoJSON and as vector tiles listed in the TileJSON', async () => {
    const geo = await s.get(`/results/${resultId}/features.geojson`);
    expect(geo.status).toBe(200);
    expect(geo.headers.get('content-type')).toBe('application/geo+json');
    const fc = await geo.json() as { type: string; features: Array<{ properties: { class: string; class_id: number; area_m2: number } }> };
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.features.length).toBeGreaterThan(10);
    expect(new Set(fc.features.map((f) => f.properties.class))).toEqual(new Set(fc.features.map((f) => ['water', 'vegetation', 'bare', 'built'][f.properties.class_id])));
    // Raster and vector TileJSON are separate documents (MapLibre reads a url source's tiles as its type).
    expect((await json(await s.get(`/results/${resultId}/tilejson.json`))).body.vector_layers).toBeUndefined();
    const tj = (await json(await s.get(`/results/${resultId}/vector/tilejson.json`))).body;
    expect(tj.tiles[0]).toBe(`http://satseg.test/results/${resultId}/vector/{z}/{x}/{y}.mvt`);
    expect(tj.vector_layers.map((l: any) => l.id)).toEqual(['water', 'vegetation', 'bare', 'built']);
    expect(tj.vector_layers[0].fields).toMatchObject({ class: 'String', class_id: 'Number', area_m2: 'Number' });
    const { z, x, y } = inside;
    const mvt = await s.get(`/results/${resultId}/vector/${z}/${x}/${y}.mvt`);
    expect(mvt.status).toBe(200);
    expect(mvt.headers.get('content-type')).toBe('application/vnd.mapbox-vector-tile');
    expect((await mvt.arrayBuffer()).byteLength).toBeGreaterThan(100);
    expect((await s.get(`/results/${resultId}/vector/${z}/0/0.mvt`)).status).toBe(204);
    expect((await s.get(`/results/${resultId}/vector/${z}/${x}/${y}.png`)).status).toBe(400);
    // .pbf is an alias of .mvt.
    const pbf = await s.get(`/results/${resultId}/vector/${z}/${x}/${y}.pbf`);
    expect(pbf.status).toBe(200);
    expect(Buffer.from(await pbf.arrayBuffer()).equals(Buffer.from(await (await s.get(`/results/${resultId}/vector/${z}/${x}/${y}.mvt`)).arrayBuffer()))).toBe(true);
  });

  it('refuses the vector TileJSON, as its tiles, when the polygons are too large for vector tiles', async () => {
    const before = process.env.SATSEG_MAX_VECTOR_TILES_MB;
    process.env.SATSEG_MAX_VECTOR_TILES_MB = '0.000001'; // about one byte: the features.geojson made above is over it
    try {
      const res = await json(await s.get(`/results/${resultId}/vector/tilejson.json`));
      expect(res.status).toBe(413);
      expect(res.body.detail).toMatch(/over the 0\.000001 MB that vector tiles are made from \(SATSEG_MAX_VECTOR_TILES_MB\); download features\.fgb/);
    } finally {
      if (before === undefined) delete process.env.SATSEG_MAX_VECTOR_TILES_MB;
      else process.env.SATSEG_MAX_VECTOR_TILES_MB = before;
    }
    expect((await s.get(`/results/${resultId}/vector/tilejson.json`)).status).toBe(200);
    // A result whose polygons were never made: the TileJSON makes them first and says the same
    // (it was 200 while every one of its tiles was 413).
    const fresh = await s.addResult('scene.tif', { name: 'fresh' });
    process.env.SATSEG_MAX_VECTOR_TILES_MB = '0.000001';
    try {
      expect((await s.get(`/results/${fresh}/vector/tilejson.json`)).status).toBe(413);
    } finally {
      if (before === undefined) delete process.env.SATSEG_MAX_VECTOR_TILES_MB;
      else process.env.SATSEG_MAX_VECTOR_TILES_MB = before;
    }
  });

  it('lists results newest first, a page at a time, with the total and a link to the next page', async () => {
    const added = [await s.addResult('scene.tif', { name: 'page a' }), await s.addResult('scene.tif', { name: 'page b' })];
    const all = (await json(await s.get('/results'))).body;
    expect(all.total).toBe(all.results.length);
    expect(all.next).toBeNull();
    expect(all.results.map((r: any) => r.id)).toEqual(expect.arrayContaining(added));
    expect(await walkPages('/results', 'results', all.total)).toEqual(all.results.map((r: any) => r.id));
    for (const bad of ['limit=0', 'limit=501', 'offset=-1', 'limit=x']) expect((await s.get(`/results?${bad}`)).status, bad).toBe(400);
  });

  it('answers the class at a point', async () => {
    const info = (await json(await s.get(`/results/${resultId}`))).body;
    const { body } = await json(await s.get(`/results/${resultId}/point?lon=${info.center[0]}&lat=${info.center[1]}`));
    expect(['water', 'vegetation', 'bare', 'built']).toContain(body.class);
  });
});

describe('uploads', () => {
  it('streams a multipart upload to disk, validates and registers it', async () => {
    const file = path.join(s.dir, 'up.tif');
    scene(file);
    const form = new FormData();
    form.append('file', new Blob([fs.readFileSync(file)]), 'my scene.tif');
    const { status, body } = await json(await s.get('/datasets', { method: 'POST', body: form }));
    expect(status).toBe(201);
    expect(body).toMatchObject({ name: 'my_scene.tif', origin: 'upload', width: 600, usable: true });
    expect(fs.readdirSync(path.join(s.ctx.dataDir, 'uploads'))).toEqual([`${body.id}-my_scene.tif`]);
    expect((await s.get(`/datasets/${body.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await s.get(`/datasets/${body.id}`)).status).toBe(404);
    expect(fs.readdirSync(path.join(s.ctx.dataDir, 'uploads'))).toEqual([]);
  });

  it('rejects a non-TIFF or corrupt upload with the reason and leaves no file', async () => {
    const form = new FormData();
    form.append('file', new Blob(['%PDF-1.7 not a raster']), 'report.pdf');
    const { status, body } = await json(await s.get('/datasets', { method: 'POST', body: form }));
    expect(status).toBe(400);
    expect(body).toEqual({ error: 'invalid GeoTIFF', detail: 'report.pdf was rejected: not a TIFF file (starts with bytes 25 50 44 46)' });
    const truncated = new FormData();
    truncated.append('file', new Blob([fs.readFileSync(s.ctx.datasets.location(s.ctx.datasets.get(sceneId))).subarray(0, 5000)]), 'cut.tif');
    const t = await json(await s.get('/datasets', { method: 'POST', body: truncated }));
    expect(t.status).toBe(400);
    expect(t.body.detail).toMatch(/cut\.tif was rejected: .*truncated/);
    expect(fs.readdirSync(path.join(s.ctx.dataDir, 'uploads'))).toEqual([]);
    expect(fs.readdirSync(s.ctx.dataDir).filter((f) => f.startsWith('.upload'))).toEqual([]);
  });

  it('enforces the size limit with 413', async () => {
    const small = createTestServer({}, { uploadLimit: 1000 });
    try {
      const form = new FormData();
      form.append('file', new Blob([Buffer.alloc(5000)]), 'big.tif');
      const { status, body } = await json(await small.get('/datasets', { method: 'POST', body: form }));
      expect(status).toBe(413);
      expect(body.error).toBe('upload too large');
      expect(fs.readdirSync(small.ctx.dataDir).filter((f) => f.startsWith('.upload'))).toEqual([]);
    } finally {
      await small.close();
    }
  });
});

describe('security and robustness', () => {
  it.each([
    '/datasets/..%2F..%2Fetc%2Fpasswd',
    '/datasets/%2Fetc%2Fpasswd/tilejson.json',
    '/datasets/../scene.tif',
    '/results/..%2Fsatseg.sqlite/mask.tif',
    '/datasets/scene.tif/tiles/1/0/0.png',
  ])('%s cannot reach a file by path', async (p) => {
    const res = await s.get(p);
    expect([400, 404]).toContain(res.status);
    const body = await res.json();
    expect(body.error).toBeDefined();
    expect(JSON.stringify(body)).not.toMatch(/root:|SQLite/);
  });

  it('keeps serving other datasets when one is corrupt', async () => {
    const corrupt = createTestServer({ 'good.tif': scene });
    try {
      // A COG whose tile data is cut off: it opens, and only reads of the missing tiles fail.
      const cut = path.join(corrupt.ctx.dataDir, 'cut.tif');
      const w = await CogWriter.create(cut, { width: 1024, height: 1024, geoTransform: [390000, 5, 0, 5820000, 0, -5], geoKeys: { epsg: 32633, geographic: false }, nodata: null, blockSize: 256, overviewResampling: 'average' });
      const rows = new Uint8Array(1024 * 64).map((_, i) => (i * 7) & 255);
      for (let y = 0; y < 1024; y += 64) await w.writeRows(rows, 64);
      await w.finish();
      fs.truncateSync(cut, Math.floor(fs.statSync(cut).size * 0.6));
      const bad = corrupt.datasetId('cut.tif');
      const good = corrupt.datasetId('good.tif');
      const info = (await json(await corrupt.get(`/datasets/${bad}`))).body;
      // Statistics come from the overviews, which were written first and survive.
      expect(info.usable).toBe(true);
      const [w0, s0, e0, n0] = info.bounds;
      const tileAt = (lon: number, lat: number, z: number) => {
        const latR = (lat * Math.PI) / 180;
        return [z, Math.floor(((lon + 180) / 360) * 2 ** z), Math.floor(((1 - Math.log(Math.tan(latR) + 1 / Math.cos(latR)) / Math.PI) / 2) * 2 ** z)];
      };
      // The bottom-right corner at full resolution lies in the cut-off part of the file.
      const [z, x, y] = tileAt(e0 - (e0 - w0) * 0.05, s0 + (n0 - s0) * 0.05, info.maxzoom);
      const broken = await json(await corrupt.get(`/datasets/${bad}/tiles/${z}/${x}/${y}.png`));
      expect(broken.status).toBe(422);
      expect(broken.body).toEqual({ error: 'unreadable raster', detail: expect.stringMatching(/^tile \d+ failed to decode: .*file truncated/) });
      const ok = await corrupt.get(`/datasets/${good}/tiles/${inside.z}/${inside.x}/${inside.y}.png`);
      expect(ok.status).toBe(200);
      expect((await json(await corrupt.get('/datasets'))).status).toBe(200);
    } finally {
      await corrupt.close();
    }
  });

  it.skipIf(skipWithoutShared)('keeps serving when rasterio\'s corrupt.tif is in the folder', async () => {
    const corrupt = createTestServer({ 'good.tif': scene, 'corrupt.tif': (f) => fs.copyFileSync(path.join(corpusDir, 'rasterio__corrupt.tif'), f) });
    try {
      const bad = corrupt.datasetId('corrupt.tif');
      const info = (await json(await corrupt.get(`/datasets/${bad}`))).body;
      expect(info.usable).toBe(true);
      // Full-resolution tile 3 (bottom right of 2 x 2) is the broken one; z18 matches its 0.597 m pixels.
      const [w0, s0, e0, n0] = info.bounds;
      const lon = e0 - (e0 - w0) * 0.1;
      const lat = s0 + (n0 - s0) * 0.1;
      const latR = (lat * Math.PI) / 180;
      const x = Math.floor(((lon + 180) / 360) * 2 ** 18);
      const y = Math.floor(((1 - Math.log(Math.tan(latR) + 1 / Math.cos(latR)) / Math.PI) / 2) * 2 ** 18);
      const broken = await json(await corrupt.get(`/datasets/${bad}/tiles/18/${x}/${y}.png`));
      expect(broken.status).toBe(422);
      expect(broken.body.detail).toMatch(/^tile 3 failed to decode/);
      expect((await corrupt.get(`/datasets/${corrupt.datasetId('good.tif')}/tiles/${inside.z}/${inside.x}/${inside.y}.png`)).status).toBe(200);
    } finally {
      await corrupt.close();
    }
  });

  it('publishes an OpenAPI document and CORS headers for COG clients', async () => {
    const doc = (await json(await s.get('/openapi.json'))).body;
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/datasets', '/datasets/{id}/tiles/{z}/{x}/{y}.{format}', '/results/{id}/mask.tif']));
    const res = await s.get(`/results/${resultId}/mask.tif`, { headers: { Origin: 'http://example.org', Range: 'bytes=0-3' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toMatch(/Content-Range.*Accept-Ranges.*ETag/);
    // Errors carry them too, so a browser can read the JSON reason.
    const bad = await s.get(`/datasets/${sceneId}/tiles/99/0/0.png`, { headers: { Origin: 'http://example.org' } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('access-control-allow-origin')).toBe('*');
    const pre = await s.get(`/datasets/${sceneId}/tiles/1/0/0.png`, {
      method: 'OPTIONS', headers: { Origin: 'http://example.org', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'If-None-Match' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/GET/);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/If-None-Match/);
  });

  it('answers unknown routes with JSON 404', async () => {
    expect(await json(await s.get('/nope'))).toEqual({ status: 404, body: { error: 'not found', detail: 'no route for GET /nope' } });
  });
});
