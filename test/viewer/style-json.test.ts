/**
 * MapLibre (the real library, in Chromium) given only our URLs: a result's style.json draws the
 * imagery, the class raster and the polygons with no console errors; the vector TileJSON works as
 * a `url` source; and polygons still draw at z18, past the vector tiles' maxzoom.
 */
import type { ServerType } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { createTestServer, listen, type TestServer } from '../helpers/test-server.ts';
import { chromiumSkipReason, launchBrowser, skipWithoutChromium, type Browser } from './browser.ts';

let s: TestServer;
let server: ServerType;
let base: string;
let resultId: string;
let browser: Browser;

/** A page with nothing but MapLibre (from our /vendor route) and a map built by `script`. */
async function mapPage(script: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.text()} ${m.location().url}`); });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/openapi.json`); // same origin as the server, so no CORS question
  await page.setContent(`<!doctype html><html><head><link rel="stylesheet" href="${base}/vendor/maplibre-gl.css">
    <script type="importmap">{ "imports": { "maplibre-gl": "${base}/vendor/maplibre-gl.mjs" } }</script></head>
    <body style="margin:0"><div id="map" style="width:512px;height:512px"></div>
    <script type="module">
      import * as maplibregl from 'maplibre-gl';
      window.errors = [];
      ${script}
      map.on('error', (e) => window.errors.push(String(e.error?.message ?? e.error)));
      window.map = map;
      map.once('idle', () => { window.ready = true; });
    </script></body></html>`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true, null, { timeout: 60_000 });
  errors.push(...await page.evaluate(() => (window as unknown as { errors: string[] }).errors));
  return { page, errors };
}

describe.skipIf(skipWithoutChromium)(`MapLibre renders our documents from their URLs alone${chromiumSkipReason}`, () => {
  beforeAll(async () => {
    s = createTestServer({
      'scene.tif': (f) => writeTestTiff(f, { width: 600, height: 400, bands: syntheticScene(600, 400), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 }),
    });
    resultId = await s.addResult('scene.tif');
    ({ server, base } = await listen(s));
    browser = await launchBrowser();
  });
  afterAll(async () => { await browser?.close(); server?.close(); await s?.close(); });

  it('draws imagery, class raster and polygons from /results/{id}/style.json', async () => {
    const { page, errors } = await mapPage(`const map = new maplibregl.Map({ container: 'map', style: '${base}/results/${resultId}/style.json' });`);
    const state = await page.evaluate(() => {
      const map = (window as unknown as { map: any }).map;
      const style = map.getStyle();
      const polygons = map.queryRenderedFeatures().filter((f: any) => f.source === 'polygons');
      return {
        sources: Object.keys(style.sources).sort(),
        layers: style.layers.map((l: any) => l.type),
        loaded: ['imagery', 'mask', 'polygons'].map((s) => map.isSourceLoaded(s)),
        polygons: polygons.length,
        classes: [...new Set(polygons.map((f: any) => f.properties.class))].sort(),
        legend: style.metadata['satseg:legend'].map((c: any) => c.name),
      };
    });
    expect(errors).toEqual([]);
    expect(state.sources).toEqual(['imagery', 'mask', 'polygons']);
    expect(state.loaded).toEqual([true, true, true]);
    expect(state.layers.filter((t: string) => t === 'raster')).toHaveLength(2);
    expect(state.polygons).toBeGreaterThan(10);
    expect(state.classes.length).toBeGreaterThan(1);
    expect(state.legend).toEqual(['water', 'vegetation', 'bare', 'built']);
    // The canvas shows class colours, not an empty map.
    const png = await page.locator('#map canvas').screenshot();
    expect(png.length).toBeGreaterThan(5000);
    await page.close();
  });

  it('uses the vector TileJSON as a url source, and draws polygons at z18 (past its maxzoom)', async () => {
    const tj = await (await fetch(`${base}/results/${resultId}/vector/tilejson.json`)).json() as { maxzoom: number; center: [number, number, number] };
    expect(tj.maxzoom).toBeLessThan(18);
    const [lon, lat] = tj.center;
    const { page, errors } = await mapPage(`const map = new maplibregl.Map({ container: 'map', center: [${lon}, ${lat}], zoom: 18, style: {
      version: 8,
      sources: { p: { type: 'vector', url: '${base}/results/${resultId}/vector/tilejson.json' } },
      layers: ['water', 'vegetation', 'bare', 'built'].map((c) => ({ id: c, type: 'fill', source: 'p', 'source-layer': c, paint: { 'fill-color': '#f00' } })),
    } });`);
    const n = await page.evaluate(() => (window as unknown as { map: any }).map.queryRenderedFeatures().length);
    expect(errors).toEqual([]);
    expect(n).toBeGreaterThan(0);
    await page.close();
  });
});
