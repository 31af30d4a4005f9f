/**
 * What clients download, end to end: a NAD27 dataset (its datum grid missing) still has bounds,
 * tiles and a notice; GeoJSON comes gzipped to clients that take it; a non-ASCII name reaches the
 * Content-Disposition header as RFC 6266 filename*; and `satseg segment --register` leaves real
 * statistics behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSegment } from '../../server/src/cli/segment-command.ts';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';

let s: TestServer;
let resultId: string;

beforeAll(async () => {
  s = createTestServer({
    'scene.tif': (f) => writeTestTiff(f, { width: 300, height: 200, bands: syntheticScene(300, 200), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 }),
    // NAD27 / Illinois East (US feet), whose registry definition names a grid proj4js lacks.
    'illinois.tif': (f) => writeTestTiff(f, { width: 64, height: 64, bands: syntheticScene(64, 64), geoTransform: [400000, 50, 0, 1200000, 0, -50], epsg: 26771 }),
  });
  resultId = await s.addResult('scene.tif', { name: 'Überschwemmung · 2026' });
});
afterAll(async () => { await s?.close(); });

describe('downloads and odd inputs', () => {
  it('gives a NAD27 dataset bounds, a zoom range and a notice about the missing grid', async () => {
    const d = await (await s.get(`/datasets/${s.datasetId('illinois.tif')}`)).json() as any;
    expect(d.usable).toBe(true);
    expect(d.bounds).not.toBeNull();
    // East-central Illinois.
    expect(d.bounds[0]).toBeGreaterThan(-89.5);
    expect(d.bounds[2]).toBeLessThan(-87);
    expect(d.bounds[1]).toBeGreaterThan(38);
    expect(d.maxzoom).toBeGreaterThan(0);
    expect(d.notices.join(' ')).toMatch(/grid/i);
  });

  it('sends features.geojson gzipped when the client accepts it, the same features otherwise', async () => {
    const plain = await s.get(`/results/${resultId}/features.geojson`);
    const zipped = await s.get(`/results/${resultId}/features.geojson`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(zipped.headers.get('vary')).toBe('Accept-Encoding');
    const body = Buffer.from(await zipped.arrayBuffer());
    const text = await plain.text();
    expect(body.length).toBeLessThan(Buffer.byteLength(text) / 3);
    expect(zlib.gunzipSync(body).toString('utf8')).toBe(text);
    // Compressed once and kept: a length to show progress by, one ETag of its own, and a 304.
    expect(zipped.headers.get('content-length')).toBe(String(body.length));
    expect(zipped.headers.get('etag')).not.toBe(plain.headers.get('etag'));
    const again = await s.get(`/results/${resultId}/features.geojson`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(Buffer.from(await again.arrayBuffer()).equals(body)).toBe(true);
    const cached = await s.get(`/results/${resultId}/features.geojson`, { headers: { 'Accept-Encoding': 'gzip', 'If-None-Match': zipped.headers.get('etag')! } });
    expect(cached.status).toBe(304);
    expect(cached.headers.get('content-encoding')).toBe('gzip');
    // gzip;q=0 refuses gzip; a weight above 0, or *, takes it.
    for (const [accept, gzipped] of [['gzip;q=0, br', false], ['br, gzip;q=0.5', true], ['*;q=0.1', true], ['identity', false]] as const) {
      const res = await s.get(`/results/${resultId}/features.geojson`, { headers: { 'Accept-Encoding': accept } });
      expect(res.headers.get('content-encoding'), accept).toBe(gzipped ? 'gzip' : null);
      await res.arrayBuffer();
    }
    const fc = JSON.parse(text) as { features: Array<{ id: number; geometry: { coordinates: number[][][] } }> };
    expect(fc.features[0]!.id).toBe(1);
    const decimals = String(fc.features[0]!.geometry.coordinates[0]![0]![0]).split('.')[1]?.length ?? 0;
    expect(decimals).toBeLessThanOrEqual(7);
  });

  it('names a non-ASCII download with filename* (RFC 6266), never a raw byte in the header', async () => {
    const res = await s.get(`/results/${resultId}/mask.tif`, { method: 'HEAD' });
    const cd = res.headers.get('content-disposition')!;
    expect(cd).toMatch(/^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''/);
    expect(decodeURIComponent(cd.split("UTF-8''")[1]!)).toBe('Überschwemmung · 2026-mask.tif');
    expect([...cd].every((ch) => ch.charCodeAt(0) < 128)).toBe(true);
  });

  it('answers HEAD on every served file with its headers and no body', async () => {
    const id = s.datasetId('scene.tif');
    for (const url of [`/datasets/${id}/source.tif`, `/results/${resultId}/mask.tif`, `/results/${resultId}/features.fgb`]) {
      const get = await s.get(url);
      const full = (await get.arrayBuffer()).byteLength;
      const head = await s.get(url, { method: 'HEAD' });
      expect(head.status, url).toBe(200);
      expect(head.headers.get('content-length'), url).toBe(String(full));
      expect(head.headers.get('etag'), url).toBe(get.headers.get('etag'));
      expect(head.body, url).toBeNull();
    }
  });

  it('writes stats.json for a result registered from the CLI', async () => {
    const out = path.join(s.dir, 'cli-mask.tif');
    const input = s.ctx.datasets.location(s.ctx.datasets.get(s.datasetId('scene.tif')));
    const summary = await runSegment(input, { model: 'test-rgb', out, device: 'cpu', progress: false, register: true, data: s.ctx.dataDir }, new ModelRegistry(path.join(s.dir, 'models-installed')));
    expect(summary.resultId).toMatch(/^[a-z0-9]{12}$/);
    const stats = await (await s.get(`/results/${summary.resultId}/stats.json`)).json() as { classes: Array<{ name: string; pixels: number }> };
    expect(stats.classes.map((c) => c.name)).toEqual(['water', 'vegetation', 'bare', 'built']);
    expect(stats.classes.reduce((n, c) => n + c.pixels, 0)).toBe(300 * 200);
    expect(fs.existsSync(out)).toBe(true);
  });
});

