/**
 * Hostile and huge inputs against the whole server, in process (issue 12): decompression bombs,
 * a raster claiming 200,000 x 200,000 pixels, truncated uploads, self-intersecting and huge
 * polygons, aborted uploads, a restart over a poisoned data folder, and the small ones (odd file
 * names, multi-range, weak ETags, CORS, links, quotas). Each gets its answer in time, the server
 * keeps answering others, and memory stays bounded. Every file is crafted here.
 */
import fs from 'node:fs';
import os from 'node:os';
import type net from 'node:net';
import { rawConnection } from '../helpers/raw-connection.ts';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServerContext } from '../../server/src/serve/server-context.ts';
import { createApp } from '../../server/src/serve/app.ts';
import { ServeFlags } from '../../server/src/cli/serve-command.ts';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { TagType } from '../../server/src/write/tiff-layout.ts';
import { COMPRESSION, deflateBomb, lzwBomb, writeTiledTiff } from '../fixtures/hostile-tiff.ts';
import { seededRandom } from '../fixtures/seeded-random.ts';
import { createTestServer, listen, type TestServer } from '../helpers/test-server.ts';

const MB = 2 ** 20;
// A 600 x 400 RGB scene at 5 m in UTM 33N: the dataset that must keep working throughout.
const scene = (file: string) => writeTestTiff(file, { width: 600, height: 400, bands: syntheticScene(600, 400), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633, nodata: 0 });

let lzwStream: Uint8Array;
let deflateStream: Buffer;
/** 2048 x 2048, 16 tiles of 512 x 512 that all point at one bomb stream. */
const bombTiff = (compression: number, stream: () => Uint8Array) => (file: string) =>
  writeTiledTiff(file, { width: 2048, height: 2048, tileSize: 512, compression, tile: () => stream(), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 });
const lzwBombTiff = bombTiff(COMPRESSION.lzw, () => lzwStream);
const deflateBombTiff = bombTiff(COMPRESSION.deflate, () => deflateStream);
/** A sparse raster (every tile absent) claiming `size` x `size` 10 m pixels, no overviews. */
const sparseTiff = (size: number) => (file: string) =>
  writeTiledTiff(file, { width: size, height: size, tileSize: 256, compression: COMPRESSION.deflate, tile: () => null, geoTransform: [0, 10, 0, 6_000_000, 0, -10], epsg: 32633 });

function tileAt(lon: number, lat: number, z: number): [number, number] {
  const latR = (lat * Math.PI) / 180;
  return [Math.floor(((lon + 180) / 360) * 2 ** z), Math.floor(((1 - Math.log(Math.tan(latR) + 1 / Math.cos(latR)) / Math.PI) / 2) * 2 ** z)];
}

async function json(res: Response) {
  return { status: res.status, body: await res.json() as Record<string, any> };
}

async function timed<T>(what: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await what;
  return { value, ms: performance.now() - t0 };
}

function rawUpload(s: TestServer, bytes: Uint8Array<ArrayBuffer>, filename: string, headers: Record<string, string> = {}) {
  return s.get('/datasets', { method: 'POST', body: bytes, headers: { 'Content-Type': 'image/tiff', 'X-Filename': filename, ...headers } });
}

function multipartUpload(s: TestServer, bytes: Uint8Array<ArrayBuffer>, filename: string, headers: Record<string, string> = {}) {
  const form = new FormData();
  form.append('file', new Blob([bytes]), filename);
  return s.get('/datasets', { method: 'POST', body: form, headers });
}

function postJob(s: TestServer, body: unknown) {
  return s.get('/jobs', { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
}

let s: TestServer;
let sceneId: string;
let sceneTile: string;
let bounds: [number, number, number, number];

const tinyBlocksTiff = (f: string) => writeTestTiff(f, { width: 16, height: 20_000, bands: [new Uint8Array(16 * 20_000)], rowsPerStrip: 1, geoTransform: [485899, 1, 0, 5209246, 0, -1], epsg: 26914 });

beforeAll(async () => {
  lzwStream = lzwBomb(439_000);
  deflateStream = await deflateBomb(512 * MB);
  s = createTestServer({
    'scene.tif': scene,
    'lzw-bomb.tif': lzwBombTiff,
    'deflate-bomb.tif': deflateBombTiff,
    'sparse-10gpx.tif': sparseTiff(100_000),
    // A UTM raster whose origin is at 1e300 m: no point of it is anywhere on Earth.
    'nowhere.tif': (f) => writeTestTiff(f, { width: 16, height: 16, bands: syntheticScene(16, 16), geoTransform: [1e300, 5, 0, 1e300, 0, -5], epsg: 32633 }),
    // Pixels of 1e-300 m: its bounds collapse to a point (west = east), which broke WMTS for all.
    'collapsed.tif': (f) => writeTestTiff(f, { width: 64, height: 64, bands: syntheticScene(64, 64), geoTransform: [485899, 1e-300, 0, 5209246, 0, -1e-300], epsg: 26914 }),
    // 20,000 strips of 16 bytes: each a read and a decode of its own.
    'tiny-blocks.tif': tinyBlocksTiff,
    // 2,000 bands of 2 x 2 px: every band is listed in the dataset's description.
    'many-bands.tif': (f) => writeTestTiff(f, { width: 2, height: 2, bands: Array.from({ length: 2000 }, () => new Uint8Array(4)), geoTransform: [485899, 1, 0, 5209246, 0, -1], epsg: 26914 }),
    // A geostationary view from height 0 (an ESRI PE string): proj4 refuses it.
    'geos-h0.tif': (f) => {
      const pe = 'ESRI PE String = PROJCS["unknown",GEOGCS["GCS_unknown",DATUM["D_unknown",SPHEROID["unknown",6378137,298.257024882273]],PRIMEM["Greenwich",0],UNIT["Degree",0.0174532925199433]],PROJECTION["Geostationary_Satellite"],PARAMETER["central_meridian",140.7],PARAMETER["satellite_height",0],PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["Meter",1]]';
      writeTestTiff(f, {
        width: 16, height: 16, bands: syntheticScene(16, 16), geoTransform: [0, 1000, 0, 0, 0, -1000],
        extraTags: [
          { tag: 34735, type: TagType.SHORT, values: [1, 1, 0, 3, 1024, 0, 1, 1, 3072, 0, 1, 32767, 3073, 34737, pe.length + 1, 0] },
          { tag: 34737, type: TagType.ASCII, values: `${pe}|` },
        ],
      });
    },
  });
  sceneId = s.datasetId('scene.tif');
  bounds = (await json(await s.get(`/datasets/${sceneId}`))).body.bounds;
  const [x, y] = tileAt((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 15);
  sceneTile = `/datasets/${sceneId}/tiles/15/${x}/${y}.png`;
}, 60_000);
afterAll(async () => { await s?.close(); });

describe('decompression bombs', () => {
  it('are refused at upload and as tiles with 4xx; the server stays up and its memory bounded', async () => {
    const rss0 = process.memoryUsage().rss;
    for (const [name, write] of [['lzw.tif', lzwBombTiff], ['deflate.tif', deflateBombTiff]] as const) {
      const file = path.join(s.dir, name);
      write(file);
      const { value: up, ms } = await timed(multipartUpload(s, fs.readFileSync(file), name).then(json));
      expect(ms).toBeLessThan(5000);
      expect(up.status).toBe(400);
      expect(up.body.detail).toMatch(new RegExp(`^${name.replace('.', '\\.')} was rejected: tile \\d+ is corrupt: it decodes to more than the 262144 bytes of its block \\(512 x 512 px; a decompression bomb\\?\\)$`));
    }
    for (const name of ['lzw-bomb.tif', 'deflate-bomb.tif']) {
      const id = s.datasetId(name);
      const info = (await json(await s.get(`/datasets/${id}`))).body;
      expect(info).toMatchObject({ usable: false, error: expect.stringMatching(/^tile \d+ is corrupt: it decodes to more than/) });
      // Its tiles still answer, with the reason: the header is fine, the pixels are not.
      const tj = (await json(await s.get(`/datasets/${id}/tilejson.json`))).body;
      const [x, y] = tileAt(tj.center[0], tj.center[1], tj.maxzoom);
      const tile = await json(await s.get(`/datasets/${id}/tiles/${tj.maxzoom}/${x}/${y}.png`));
      expect(tile.status).toBe(422);
      expect(tile.body.detail).toMatch(/is corrupt: it decodes to more than/);
    }
    expect((await s.get(sceneTile)).status).toBe(200);
    expect((await s.get('/datasets')).status).toBe(200);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(300 * MB);
    expect(fs.readdirSync(s.ctx.uploadDir)).toEqual([]);
  });
});

describe('huge rasters', () => {
  it('a sparse TIFF claiming 200,000 x 200,000 pixels is refused at upload within 5 s', async () => {
    const file = path.join(s.dir, 'sparse-200k.tif');
    sparseTiff(200_000)(file);
    expect(fs.statSync(file).size).toBeLessThan(6 * MB);
    const { value, ms } = await timed(rawUpload(s, fs.readFileSync(file), 'sparse-200k.tif').then(json));
    expect(ms).toBeLessThan(5000);
    expect(value.status).toBe(413);
    // A 6 MB file: the raster is over a limit, not the upload's size.
    expect(value.body.error).toBe('raster over a limit');
    expect(value.body.detail).toMatch(/claims 200000 x 200000 pixels \(40 Gpx\), over the 10 Gpx limit \(SATSEG_MAX_PIXELS\)/);
  });

  it('a 10-gigapixel sparse raster without overviews: listed within 5 s, normal zooms draw, zoomed-out tiles get 413 quickly', async () => {
    const id = s.datasetId('sparse-10gpx.tif');
    const { value: info, ms } = await timed(json(await s.get(`/datasets/${id}`)));
    expect(ms).toBeLessThan(5000);
    expect(info.body).toMatchObject({ usable: true, width: 100_000, height: 100_000, overviews: [] });
    // Statistics from 64 sampled windows, not the whole raster.
    expect(info.body.statistics_from.width * info.body.statistics_from.height).toBeLessThan(4 * MB);
    const tj = (await json(await s.get(`/datasets/${id}/tilejson.json`))).body;
    const [cx, cy] = [(tj.bounds[0] + tj.bounds[2]) / 2, (tj.bounds[1] + tj.bounds[3]) / 2];
    // Every zoom the viewer asks for (TileJSON minzoom..maxzoom) stays under the read limit.
    for (const z of [tj.minzoom, tj.maxzoom]) {
      const [x, y] = tileAt(cx, cy, z);
      const { value: res, ms: tileMs } = await timed(s.get(`/datasets/${id}/tiles/${z}/${x}/${y}.png`));
      expect([200, 204], `z${z}`).toContain(res.status);
      expect(tileMs).toBeLessThan(5000);
    }
    const z = tj.minzoom - 4;
    const [x, y] = tileAt(cx, cy, z);
    const { value: far, ms: farMs } = await timed(s.get(`/datasets/${id}/tiles/${z}/${x}/${y}.png`).then(json));
    expect(farMs).toBeLessThan(2000);
    expect(far.status).toBe(413);
    expect(far.body.detail).toMatch(/would read \d+ x \d+ source pixels .* over the 16 Mpx limit \(SATSEG_MAX_TILE_READ_MPX\): the raster has no overviews; zoom in or add overviews with gdaladdo$/);
  });

  it('a truncated upload (the first 100 KB of a valid tiled COG) is refused at upload', async () => {
    const file = path.join(s.dir, 'noise-cog.tif');
    const size = 2048;
    const w = await CogWriter.create(file, { width: size, height: size, geoTransform: [390000, 5, 0, 5820000, 0, -5], geoKeys: { epsg: 32633, geographic: false }, nodata: null, blockSize: 256, overviewResampling: 'average' });
    const random = seededRandom(3);
    const rows = new Uint8Array(size * 256);
    for (let y = 0; y < size; y += 256) { for (let i = 0; i < rows.length; i++) rows[i] = random() * 256; await w.writeRows(rows, 256); }
    await w.finish();
    expect(fs.statSync(file).size).toBeGreaterThan(2 * MB);
    const whole = await json(await rawUpload(s, fs.readFileSync(file), 'noise-cog.tif'));
    expect(whole.status).toBe(201);
    const { value: cut, ms } = await timed(json(await rawUpload(s, fs.readFileSync(file).subarray(0, 100 * 1024), 'cut-cog.tif')));
    expect(ms).toBeLessThan(5000);
    expect(cut.status).toBe(400);
    expect(cut.body.detail).toMatch(/^cut-cog\.tif was rejected: tile \d+ failed to decode: its bytes run past the end of the file \(file truncated\?\)$/);
  });
});

describe('polygons in POST /jobs', () => {
  function star(points: number): number[][] {
    // Every 999th point of a 2000-point circle: each edge crosses hundreds of others.
    const [w, so, e, n] = bounds;
    const c = [(w + e) / 2, (so + n) / 2];
    const r = Math.min(e - w, n - so) * 0.4;
    const ring: number[][] = [];
    for (let i = 0; i < points - 1; i++) {
      const a = (2 * Math.PI * ((i * 999) % (points - 1))) / (points - 1);
      ring.push([c[0]! + r * Math.cos(a), c[1]! + r * Math.sin(a)]);
    }
    ring.push(ring[0]!);
    return ring;
  }

  it('a self-intersecting 2001-vertex star is answered within 5 s', async () => {
    const body = { dataset: sceneId, model: 'test-rgb', area: { type: 'Polygon', coordinates: [star(2001)] }, options: { device: 'cpu' } };
    expect(JSON.stringify(body).length).toBeGreaterThan(70_000);
    const { value, ms } = await timed(json(await postJob(s, body)));
    expect(ms).toBeLessThan(5000);
    expect([202, 400]).toContain(value.status);
    if (value.status === 400) expect(value.body.detail).toMatch(/self-intersections|repaired/);
    else await s.get(`/jobs/${value.body.id}`, { method: 'DELETE' });
  });

  it('a 100,000-vertex polygon is refused by the vertex limit within 5 s', async () => {
    const [w, so, e, n] = bounds;
    const ring: number[][] = [];
    for (let i = 0; i < 99_999; i++) {
      const a = (2 * Math.PI * i) / 99_999;
      ring.push([(w + e) / 2 + 0.3 * (e - w) * Math.cos(a), (so + n) / 2 + 0.3 * (n - so) * Math.sin(a)]);
    }
    ring.push(ring[0]!);
    const { value, ms } = await timed(json(await postJob(s, { dataset: sceneId, model: 'test-rgb', area: { type: 'Polygon', coordinates: [ring] } })));
    expect(ms).toBeLessThan(5000);
    expect(value).toEqual({ status: 400, body: { error: 'bad request', detail: 'the area has 100000 vertices, over the 10000 limit (SATSEG_MAX_AREA_VERTICES); simplify it' } });
  });

  it('a JSON body over 16 MB is refused without being parsed, whatever JSON type it claims', async () => {
    // The validator parses any of these (a "+json" type, any case); an exact "application/json"
    // test let them through unbounded (probe: three 500 MB bodies took the server to 4 GB).
    for (const type of ['application/json', 'application/vnd.a+json', 'Application/JSON; charset=utf-8', 'application/x-www-form-urlencoded']) {
      const res = await json(await s.get('/jobs', { method: 'POST', body: `{"dataset":"${'x'.repeat(17 * MB)}"}`, headers: { 'Content-Type': type } }));
      expect(res.status, type).toBe(413);
    }
  });
});

describe('the event loop stays responsive', () => {
  it('answers GET /datasets and tiles of another dataset within 2 s while bombs, huge tiles and polygons run', async () => {
    const sparse = s.datasetId('sparse-10gpx.tif');
    const [x, y] = tileAt(13, 52, 6);
    const heavy = [
      multipartUpload(s, fs.readFileSync(path.join(s.dir, 'lzw.tif')), 'again.tif'),
      multipartUpload(s, fs.readFileSync(path.join(s.dir, 'deflate.tif')), 'again2.tif'),
      s.get(`/datasets/${sparse}/tiles/6/${x}/${y}.png`),
      postJob(s, { dataset: sceneId, model: 'test-rgb', area: { type: 'Polygon', coordinates: [(() => {
        const [w, so, e, n] = bounds;
        const ring: number[][] = [];
        for (let i = 0; i < 2000; i++) { const a = (2 * Math.PI * ((i * 999) % 2000)) / 2000; ring.push([(w + e) / 2 + 0.4 * (n - so) * Math.cos(a), (so + n) / 2 + 0.4 * (n - so) * Math.sin(a)]); }
        ring.push(ring[0]!);
        return ring;
      })()] } }),
    ];
    // A fresh tile (not cached) of the good scene, and the listing.
    const [tx, ty] = tileAt((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 16);
    const list = await timed(s.get('/datasets'));
    const tile = await timed(s.get(`/datasets/${sceneId}/tiles/16/${tx}/${ty}.png`));
    expect(list.value.status).toBe(200);
    expect(list.ms).toBeLessThan(2000);
    expect(tile.value.status).toBe(200);
    expect(tile.ms).toBeLessThan(2000);
    for (const res of await Promise.all(heavy)) {
      expect(res.status).toBeGreaterThanOrEqual(200);
      expect(res.status).toBeLessThan(500);
      if (res.status === 202) await s.get(`/jobs/${(await res.json()).id}`, { method: 'DELETE' });
    }
  });
});

describe('a georeference nowhere on Earth', () => {
  it('is listed unusable with the reason, not usable without bounds', async () => {
    const { status, body } = await json(await s.get(`/datasets/${s.datasetId('nowhere.tif')}`));
    expect(status).toBe(200);
    expect(body.usable).toBe(false);
    expect(body.error).toMatch(/cannot be placed on Earth/);
  });
});

describe('a CRS proj4 refuses', () => {
  it('is listed unusable with the reason; the listing and its tiles answer 4xx, not 500', async () => {
    const id = s.datasetId('geos-h0.tif');
    const listed = (await json(await s.get('/datasets?limit=500'))).body;
    expect(listed.datasets.find((d: any) => d.id === id)).toMatchObject({ usable: false, error: expect.stringMatching(/its CRS cannot be used: proj4 refuses \+proj=geos/) });
    expect(listed.datasets.find((d: any) => d.id === sceneId)).toMatchObject({ usable: true });
    const one = await json(await s.get(`/datasets/${id}`));
    expect([one.status, one.body.usable]).toEqual([200, false]);
    const tilejson = await json(await s.get(`/datasets/${id}/tilejson.json`));
    expect(tilejson.status).toBeGreaterThanOrEqual(400);
    expect(tilejson.status).toBeLessThan(500);
    expect(JSON.stringify(tilejson.body)).toMatch(/proj4 refuses/);
  });
});

describe('rasters that cost out of proportion to their size', () => {
  it('a georeference that collapses to a point is listed unusable, and WMTS leaves it out', async () => {
    const { body } = await json(await s.get(`/datasets/${s.datasetId('collapsed.tif')}`));
    expect(body).toMatchObject({ usable: false, error: expect.stringMatching(/cannot be placed on Earth: its extent does not transform to a lon\/lat box/) });
    const up = await json(await multipartUpload(s, fs.readFileSync(path.join(s.ctx.dataDir, 'collapsed.tif')), 'collapsed-upload.tif'));
    expect(up.status).toBe(400);
    expect(up.body.detail).toMatch(/^collapsed-upload\.tif was rejected: this raster cannot be placed on Earth/);
    const wmts = await s.get('/wmts/WMTSCapabilities.xml');
    expect(wmts.status).toBe(200);
    expect(await wmts.text()).not.toContain(s.datasetId('collapsed.tif'));
  });

  it('blocks too small to serve, or too many bands, are listed unusable with the limit', async () => {
    const tiny = (await json(await s.get(`/datasets/${s.datasetId('tiny-blocks.tif')}`))).body;
    expect(tiny).toMatchObject({ usable: false, error: expect.stringMatching(/^its 16 x 1 px blocks are too small to serve: 20,000 of them.*gdal_translate -co TILED=YES/) });
    const bands = (await json(await s.get(`/datasets/${s.datasetId('many-bands.tif')}`))).body;
    expect(bands).toMatchObject({ usable: false, error: 'the raster has 2000 bands, over the 1024 limit (SATSEG_MAX_BANDS)' });
    // And the listing stays small: a refused raster is not described band by band.
    const list = await s.get('/datasets');
    expect(list.status).toBe(200);
    expect((await list.text()).length).toBeLessThan(200_000);
  });

  it('an upload with blocks too small to serve is refused', async () => {
    const file = path.join(s.dir, 'tiny-upload.tif');
    tinyBlocksTiff(file);
    const up = await json(await multipartUpload(s, fs.readFileSync(file), 'tiny-upload.tif'));
    expect(up.status).toBeGreaterThanOrEqual(400);
    expect(up.status).toBeLessThan(500);
    expect(up.body.detail).toMatch(/blocks are too small to serve/);
  });
});

describe('requests Node refuses before the app', () => {
  it('headers over 16 KB get a 431 with a JSON body naming the problem', async () => {
    const { server, base } = await listen(s);
    try {
      const { port } = new URL(base);
      const socket = rawConnection(port);
      await new Promise((r) => socket.once('connect', r));
      let answer = '';
      socket.on('data', (d) => { answer += d.toString('latin1'); });
      const closed = new Promise((r) => socket.once('close', r));
      socket.write(`GET /datasets?bands=${'1,'.repeat(10000)}1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await closed;
      expect(answer).toMatch(/^HTTP\/1\.1 431 /);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
      expect(body).toEqual({ error: 'request header fields too large', detail: expect.stringMatching(/exceed 16 KB/) });
      // The server goes on answering.
      expect((await fetch(`${base}/datasets`)).status).toBe(200);
    } finally {
      server.close();
    }
  });

  it('a multipart upload over the part limits says so, not "no file"', async () => {
    const form = new FormData();
    for (let i = 0; i < 25; i++) form.append(`f${i}`, 'x');
    form.append('file', new Blob([fs.readFileSync(s.ctx.datasets.location(s.ctx.datasets.get(sceneId)))]), 'scene.tif');
    const { status, body } = await json(await s.get('/datasets', { method: 'POST', body: form }));
    expect(status).toBe(400);
    expect(body.detail).toMatch(/the upload has more than (10 text fields|20 parts) before its file/);
  });
});

describe('nothing bad survives', () => {
  it('an aborted multipart upload leaves no temporary file', async () => {
    const { server, base } = await listen(s);
    try {
      const { port } = new URL(base);
      const boundary = 'satseg-test-boundary';
      const socket = rawConnection(port);
      await new Promise((r) => socket.once('connect', r));
      socket.write(`POST /datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${50 * MB}\r\n\r\n`);
      socket.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.tif"\r\nContent-Type: image/tiff\r\n\r\n`);
      socket.write(Buffer.alloc(2 * MB, 7));
      const deadline = Date.now() + 5000;
      while (fs.readdirSync(s.ctx.uploadDir).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(fs.readdirSync(s.ctx.uploadDir)).toHaveLength(1);
      socket.destroy();
      while (fs.readdirSync(s.ctx.uploadDir).length > 0 && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 20));
      expect(fs.readdirSync(s.ctx.uploadDir)).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('a restart over a folder with bombs and leftovers: temporaries are removed and the listing works', async () => {
    const dataDir = s.ctx.dataDir;
    // What a crash mid-upload and mid-job leaves behind.
    fs.writeFileSync(path.join(s.ctx.uploadDir, 'upload-0123456789abcdef.tmp'), 'half an upload');
    fs.mkdirSync(path.join(dataDir, 'results', 'crashed'), { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'results', 'crashed', '.mask.tif.satseg-tmp-1a2b3c4d'), 'half a mask');
    fs.writeFileSync(path.join(dataDir, '.scene.tif.satseg-tmp-5e6f7a8b'), 'half a copy');
    const ctx = createServerContext({ dataDir, modelsDir: path.join(s.dir, 'models-installed') });
    try {
      expect(fs.readdirSync(ctx.uploadDir)).toEqual([]);
      // Its half-written mask removed, and then the folder it emptied (never registered).
      expect(fs.existsSync(path.join(dataDir, 'results', 'crashed'))).toBe(false);
      expect(fs.readdirSync(dataDir).filter((f) => f.includes('.satseg-tmp-'))).toEqual([]);
      const app = createApp(ctx);
      const { value, ms } = await timed(Promise.resolve(app.request('http://satseg.test/datasets')).then(json));
      expect(ms).toBeLessThan(5000);
      expect(value.status).toBe(200);
      const byName = Object.fromEntries(value.body.datasets.map((d: any) => [d.name, d]));
      expect(byName['lzw-bomb.tif']).toMatchObject({ usable: false, error: expect.stringMatching(/is corrupt: it decodes to more than/) });
      expect(byName['deflate-bomb.tif']).toMatchObject({ usable: false, error: expect.stringMatching(/is corrupt: it decodes to more than/) });
      expect(byName['scene.tif'].usable).toBe(true);
    } finally {
      await ctx.jobs.close();
      ctx.db.close();
    }
  });
});

describe('the small ones', () => {
  const sceneBytes = () => fs.readFileSync(s.ctx.datasets.location(s.ctx.datasets.get(sceneId)));

  it('X-Filename: 100%.tif is a name, not a broken escape', async () => {
    const { status, body } = await json(await rawUpload(s, sceneBytes(), '100%.tif'));
    expect(status).toBe(201);
    expect(body.name).toBe('100_.tif');
    await s.get(`/datasets/${body.id}`, { method: 'DELETE' });
  });

  it('a 240-character file name is cut, and no answer shows a server path', async () => {
    const long = `${'a'.repeat(236)}.tif`;
    const ok = await json(await multipartUpload(s, sceneBytes(), long));
    expect(ok.status).toBe(201);
    expect(ok.body.name.length).toBeLessThanOrEqual(120);
    expect(ok.body.name).toMatch(/^a+\.tif$/);
    const bad = await json(await multipartUpload(s, Buffer.from('not a tiff at all'), long));
    expect(bad.status).toBe(400);
    const list = await (await s.get('/datasets')).text();
    for (const text of [JSON.stringify(ok.body), JSON.stringify(bad.body), list]) {
      expect(text).not.toContain(s.dir);
      expect(text).not.toMatch(/"\/(tmp|home|root|work|var)\//);
    }
    await s.get(`/datasets/${ok.body.id}`, { method: 'DELETE' });
  });

  it('Range: bytes=0-1,5-6 gives a multipart 206; GDAL-style single ranges still work', async () => {
    const bytes = sceneBytes();
    const url = `/datasets/${sceneId}/source.tif`;
    const multi = await s.get(url, { headers: { Range: 'bytes=0-1,5-6' } });
    expect(multi.status).toBe(206);
    const boundary = /^multipart\/byteranges; boundary=(.+)$/.exec(multi.headers.get('content-type')!)?.[1];
    expect(boundary).toBeDefined();
    const body = Buffer.from(await multi.arrayBuffer());
    expect(Number(multi.headers.get('content-length'))).toBe(body.length);
    const parts = body.toString('latin1').split(`--${boundary}`).slice(1, -1);
    expect(parts).toHaveLength(2);
    const expected = [[0, 1], [5, 6]];
    parts.forEach((part, i) => {
      const [head, data] = part.split('\r\n\r\n');
      expect(head).toContain(`Content-Range: bytes ${expected[i]![0]}-${expected[i]![1]}/${bytes.length}`);
      expect(Buffer.from(data!.replace(/\r\n$/, ''), 'latin1').equals(bytes.subarray(expected[i]![0], expected[i]![1]! + 1))).toBe(true);
    });
    // How GDAL's /vsicurl/ reads: one range at a time, 16 KiB.
    const single = await s.get(url, { headers: { Range: 'bytes=16384-32767' } });
    expect(single.status).toBe(206);
    expect(single.headers.get('content-range')).toBe(`bytes 16384-32767/${bytes.length}`);
    expect(Buffer.from(await single.arrayBuffer()).equals(bytes.subarray(16384, 32768))).toBe(true);
  });

  it('merges overlapping ranges: sixty-four times 0- is the file once, not sixty-four times', async () => {
    const bytes = sceneBytes();
    const url = `/datasets/${sceneId}/source.tif`;
    const many = await s.get(url, { headers: { Range: `bytes=${Array(64).fill('0-').join(',')}` } });
    expect(many.status).toBe(206);
    expect(many.headers.get('content-range')).toBe(`bytes 0-${bytes.length - 1}/${bytes.length}`);
    expect(Buffer.from(await many.arrayBuffer()).equals(bytes)).toBe(true);
    // Overlapping pieces become one range; ranges apart stay apart.
    const some = await s.get(url, { headers: { Range: 'bytes=10-20,15-30,100-109' } });
    expect(some.status).toBe(206);
    const body = Buffer.from(await some.arrayBuffer()).toString('latin1');
    expect(body).toContain(`Content-Range: bytes 10-30/${bytes.length}`);
    expect(body).toContain(`Content-Range: bytes 100-109/${bytes.length}`);
    expect(body).not.toContain('Content-Range: bytes 15-30');
  });

  it('If-None-Match: W/"etag" gives 304, for files and tiles', async () => {
    const url = `/datasets/${sceneId}/source.tif`;
    const etag = (await s.get(url, { method: 'HEAD' })).headers.get('etag')!;
    expect(etag).toMatch(/^"/);
    expect((await s.get(url, { headers: { 'If-None-Match': `W/${etag}` } })).status).toBe(304);
    expect((await s.get(url, { headers: { 'If-None-Match': `"nope", W/${etag}` } })).status).toBe(304);
    expect((await s.get(url, { headers: { 'If-None-Match': 'W/"nope"' } })).status).toBe(200);
    const tileEtag = (await s.get(sceneTile)).headers.get('etag')!;
    expect((await s.get(sceneTile, { headers: { 'If-None-Match': `W/${tileEtag}` } })).status).toBe(304);
  });
});

describe('safe defaults', () => {
  it('npm start listens on 127.0.0.1 unless told otherwise', () => {
    expect(ServeFlags.parse({}).host).toBe('127.0.0.1');
    expect(JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')).scripts.start).toMatch(/bin\/satseg\.js serve$/);
  });

  it('cross-origin changes are refused by default and allowed for listed origins', async () => {
    const preflight = (srv: TestServer, origin: string) => srv.get(`/datasets/${srv.datasetId('scene.tif')}`, {
      method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'DELETE' },
    });
    const denied = await preflight(s, 'http://evil.example');
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    // A multipart form POST needs no preflight: it is refused by its Origin, and nothing is stored.
    const before = fs.readdirSync(path.join(s.ctx.dataDir, 'uploads')).length;
    const csrf = await json(await multipartUpload(s, fs.readFileSync(s.ctx.datasets.location(s.ctx.datasets.get(sceneId))), 'csrf.tif', { Origin: 'http://evil.example' }));
    expect(csrf.status).toBe(403);
    expect(csrf.body.detail).toMatch(/SATSEG_CORS_ORIGINS/);
    expect(fs.readdirSync(path.join(s.ctx.dataDir, 'uploads'))).toHaveLength(before);
    // The viewer's own requests (same origin, or so marked by the browser behind a proxy) pass.
    expect((await s.get('/jobs', { method: 'POST', body: '{}', headers: { Origin: 'http://satseg.test', 'Content-Type': 'application/json' } })).status).toBe(400);
    expect((await s.get('/jobs', { method: 'POST', body: '{}', headers: { Origin: 'https://maps.example', 'Sec-Fetch-Site': 'same-origin', 'Content-Type': 'application/json' } })).status).toBe(400);
    expect((await s.get('/jobs', { method: 'POST', body: '{}', headers: { Origin: 'https://maps.example', 'Sec-Fetch-Site': 'cross-site', 'Content-Type': 'application/json' } })).status).toBe(403);

    const open = createTestServer({ 'scene.tif': scene }, { corsOrigins: ['http://ok.example'] });
    try {
      const allowed = await preflight(open, 'http://ok.example');
      expect(allowed.headers.get('access-control-allow-origin')).toBe('http://ok.example');
      expect(allowed.headers.get('access-control-allow-methods')).toMatch(/DELETE/);
      expect((await preflight(open, 'http://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
      const del = await open.get(`/datasets/${open.datasetId('scene.tif')}`, { method: 'DELETE', headers: { Origin: 'http://ok.example' } });
      expect(del.status).toBe(204);
      expect(del.headers.get('access-control-allow-origin')).toBe('http://ok.example');
    } finally {
      await open.close();
    }
  });

  it('links use --public-url when set, and X-Forwarded-* only with --trust-proxy', async () => {
    const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example' };
    const self = async (srv: TestServer) => (await json(await srv.get(`/datasets/${srv.datasetId('scene.tif')}`, { headers: forwarded }))).body.links.self as string;
    expect(await self(s)).toBe(`http://satseg.test/datasets/${sceneId}`);
    const proxied = createTestServer({ 'scene.tif': scene }, { trustProxy: true });
    const pinned = createTestServer({ 'scene.tif': scene }, { trustProxy: true, publicUrl: 'https://maps.example.org/satseg' });
    try {
      expect(await self(proxied)).toBe(`https://evil.example/datasets/${proxied.datasetId('scene.tif')}`);
      // Behind a proxy on 443 that forwards to the server's port: the links carry the forwarded
      // host alone, not the server's port (they came out as https://maps.example.org:8080).
      const behind = async (host: string) => (await json(await proxied.get(`http://127.0.0.1:8080/datasets/${proxied.datasetId('scene.tif')}`, { headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': host } }))).body.links.self as string;
      expect(await behind('maps.example.org')).toBe(`https://maps.example.org/datasets/${proxied.datasetId('scene.tif')}`);
      expect(await behind('maps.example.org:8443')).toBe(`https://maps.example.org:8443/datasets/${proxied.datasetId('scene.tif')}`);
      expect(await self(pinned)).toBe(`https://maps.example.org/satseg/datasets/${pinned.datasetId('scene.tif')}`);
    } finally {
      await proxied.close();
      await pinned.close();
    }
  });

  it('429 beyond SATSEG_MAX_QUEUED_JOBS', async () => {
    const q = createTestServer({ 'scene.tif': scene }, { limits: { maxQueuedJobs: 1 } });
    try {
      const job = { dataset: q.datasetId('scene.tif'), model: 'test-rgb', options: { device: 'cpu' } };
      const statuses: number[] = [];
      let refused: Record<string, any> | null = null;
      for (let i = 0; i < 4 && !refused; i++) {
        const res = await json(await postJob(q, job));
        statuses.push(res.status);
        if (res.status === 429) refused = res.body;
      }
      expect(statuses.slice(0, 2)).toEqual([202, 202]);
      expect(refused).toEqual({ error: 'too many requests', detail: expect.stringMatching(/jobs are already waiting, the limit \(SATSEG_MAX_QUEUED_JOBS is 1\)/) });
      for (const j of (await json(await q.get('/jobs'))).body.jobs) await q.get(`/jobs/${j.id}`, { method: 'DELETE' });
    } finally {
      await q.close();
    }
  });

  it('uploads at once: 429 past SATSEG_MAX_UPLOADS, 507 when those admitted would together pass the disk reserve, and a stalled one is cut off', async () => {
    // A probe held 3000 slow uploads open at once (6000 file descriptors), and five uploads that each
    // fitted the reserve alone were all admitted together, past it.
    const free = (() => { const st = fs.statfsSync(os.tmpdir()); return st.bavail * st.bsize; })();
    const u = createTestServer({}, { limits: { maxUploads: 2, minFreeDiskBytes: free - 300 * MB, uploadIdleMs: 1500 } });
    const { server, base } = await listen(u);
    const { port } = new URL(base);
    const sockets: net.Socket[] = [];
    /** A raw upload that declares `bytes`, sends its first megabyte and waits. */
    const stalled = async (bytes: number) => {
      const socket = rawConnection(port);
      sockets.push(socket);
      await new Promise((r) => socket.once('connect', r));
      let answer = '';
      socket.on('data', (d) => { answer += d.toString('latin1'); });
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      socket.write(`POST /datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/tiff\r\nContent-Length: ${bytes}\r\n\r\n`);
      socket.write(Buffer.alloc(MB, 1));
      /** The status and JSON body of the answer, once it has come. */
      const answered = async () => {
        const deadline = Date.now() + 5000;
        for (;;) {
          const head = answer.indexOf('\r\n\r\n');
          const length = Number(/content-length: (\d+)/i.exec(answer)?.[1] ?? -1);
          if (head >= 0 && length >= 0 && answer.length >= head + 4 + length) return { status: Number(answer.slice(9, 12)), body: JSON.parse(answer.slice(head + 4, head + 4 + length)) };
          if (Date.now() > deadline) throw new Error(`no answer: ${answer}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      return { closed, answered };
    };
    const uploadsOnDisk = async (n: number) => {
      const deadline = Date.now() + 5000;
      while (fs.readdirSync(u.ctx.uploadDir).length !== n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return fs.readdirSync(u.ctx.uploadDir).length;
    };
    try {
      const first = await stalled(200 * MB);
      expect(await uploadsOnDisk(1)).toBe(1);
      // 200 MB admitted and not yet written: another 200 MB would pass the reserve, though it fits alone.
      const second = await (await stalled(200 * MB)).answered();
      expect(second.status).toBe(507);
      expect(second.body.detail).toMatch(/^not enough free disk for this upload: [\d.]+ MB free, [\d.]+ MB still to be written \(this upload's and others' being received\), and a [\d.]+ MB reserve to keep \(SATSEG_MIN_FREE_DISK_MB\)$/);
      const small = await stalled(2 * MB);
      expect(await uploadsOnDisk(2)).toBe(2);
      const third = await json(await rawUpload(u, Buffer.alloc(1000), 'x.tif'));
      expect(third.status).toBe(429);
      expect(third.body).toEqual({ error: 'too many requests', detail: '2 uploads are being received, the most at once (SATSEG_MAX_UPLOADS is 2); try again when one has finished' });
      // Both stalled uploads are cut off after SATSEG_UPLOAD_IDLE_S, their files removed and their slots free.
      await Promise.all([first.closed, small.closed]);
      expect(await uploadsOnDisk(0)).toBe(0);
      const after = await json(await rawUpload(u, Buffer.alloc(1000), 'y.tif'));
      expect(after.status).toBe(400); // admitted again: 1000 zero bytes are not a TIFF
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
      await u.close();
    }
  });

  it('an upload that trickles (never idle, far under SATSEG_UPLOAD_MIN_KBPS) is cut off and its file removed', async () => {
    const u = createTestServer({}, { limits: { uploadIdleMs: 1000 } });
    const { server, base } = await listen(u);
    const socket = rawConnection(new URL(base).port);
    try {
      await new Promise((r) => socket.once('connect', r));
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      socket.write(`POST /datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/tiff\r\nContent-Length: ${MB}\r\n\r\n`);
      // 10 bytes every 200 ms: never a second without a byte, 50 bytes a second.
      const drip = setInterval(() => { if (!socket.destroyed) socket.write(Buffer.alloc(10, 1)); }, 200);
      const cut = await Promise.race([closed.then(() => 'cut'), new Promise((r) => setTimeout(() => r('still open'), 6000))]);
      clearInterval(drip);
      expect(cut).toBe('cut');
      const deadline = Date.now() + 3000;
      while (fs.readdirSync(u.ctx.uploadDir).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(fs.readdirSync(u.ctx.uploadDir)).toEqual([]);
    } finally {
      socket.destroy();
      server.close();
      await u.close();
    }
  });

  it('connections past SATSEG_MAX_CONNECTIONS are closed as they come, and a JSON body that trickles is cut off', async () => {
    const c = createTestServer({}, { limits: { maxConnections: 3, jsonBodyMs: 500 } });
    const { server, base } = await listen(c);
    const port = Number(new URL(base).port);
    const sockets: net.Socket[] = [];
    const open = async () => {
      const socket = rawConnection(port);
      sockets.push(socket);
      await new Promise((r) => socket.once('connect', r));
      return socket;
    };
    try {
      // A JSON body started and never finished: closed after the deadline.
      const slow = await open();
      const slowClosed = new Promise<void>((r) => slow.once('close', () => r()));
      slow.write('POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"dataset":');
      expect(await Promise.race([slowClosed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('open'), 3000))])).toBe('closed');
      // Three idle connections take every place: a fourth is closed at once.
      for (let i = 0; i < 3; i++) await open();
      await new Promise((r) => setTimeout(r, 50));
      const extra = await open();
      const refused = await Promise.race([new Promise((r) => extra.once('close', () => r('closed'))), new Promise((r) => setTimeout(() => r('open'), 2000))]);
      expect(refused).toBe('closed');
      for (const s of sockets) s.destroy();
      await new Promise((r) => setTimeout(r, 50));
      expect((await fetch(`${base}/models`)).status).toBe(200);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
      await c.close();
    }
  });

  it('lists more datasets than the reader cache holds (32) all usable: none is closed while its statistics are read', async () => {
    const files: Record<string, (f: string) => void> = {};
    for (let i = 0; i < 60; i++) files[`tiny-${i}.tif`] = (f) => writeTestTiff(f, { width: 40, height: 30, bands: syntheticScene(40, 30, i + 1), geoTransform: [390000 + i * 1000, 5, 0, 5820000, 0, -5], epsg: 32633 });
    const many = createTestServer(files);
    try {
      const { status, body } = await json(await many.get('/datasets'));
      expect(status).toBe(200);
      const listed = (body.datasets as Array<{ name: string; usable: boolean; error?: string }>).filter((d) => d.name.startsWith('tiny-'));
      expect(listed).toHaveLength(60);
      expect(listed.filter((d) => !d.usable).map((d) => d.error)).toEqual([]);
    } finally {
      await many.close();
    }
  });

  it('an upload whose georeference no Earth can hold is a 400 naming it (it was listed with nonsense bounds, and its polygons held Infinity)', async () => {
    const file = path.join(s.ctx.dataDir, '..', 'huge-gt.tif');
    writeTestTiff(file, { width: 16, height: 16, bands: syntheticScene(16, 16), geoTransform: [400000, 1e12, 0, 5000000, 0, -1e12], epsg: 32633 });
    const { status, body } = await json(await rawUpload(s, new Uint8Array(fs.readFileSync(file)), 'huge-gt.tif'));
    expect(status).toBe(400);
    expect(body.detail).toMatch(/cannot be placed on Earth: its corners reach 1\.60e\+13 units from the origin/);
  });

  it('a chunked upload that goes past the limit while streaming gets its 413, not a 500', async () => {
    const small = createTestServer({}, { uploadLimit: MB });
    const { server, base } = await listen(small);
    try {
      // No Content-Length: the size is found out while the body streams.
      const body = new ReadableStream<Uint8Array>({
        start(controller) { for (let i = 0; i < 4; i++) controller.enqueue(new Uint8Array(MB)); controller.close(); },
      });
      const res = await fetch(`${base}/datasets`, { method: 'POST', headers: { 'Content-Type': 'image/tiff' }, body, duplex: 'half' } as RequestInit);
      expect(res.status).toBe(413);
      expect(((await res.json()) as { detail: string }).detail).toBe('the upload limit is 1 MB (SATSEG_UPLOAD_LIMIT_MB)');
      expect(fs.readdirSync(small.ctx.uploadDir)).toEqual([]);
    } finally {
      server.close();
      await small.close();
    }
  });

  it('507 when the upload would leave less free disk than the reserve', async () => {
    const full = createTestServer({}, { limits: { minFreeDiskBytes: 1e15 } });
    try {
      const { status, body } = await json(await rawUpload(full, Buffer.alloc(1000), 'x.tif'));
      expect(status).toBe(507);
      expect(body.detail).toMatch(/^not enough free disk for this upload: [\d.]+ MB free, under the [\d.]+ MB reserve to keep \(SATSEG_MIN_FREE_DISK_MB\)$/);
      expect(fs.readdirSync(full.ctx.uploadDir)).toEqual([]);
    } finally {
      await full.close();
    }
  });
});
