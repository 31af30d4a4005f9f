/**
 * The viewer in a real browser (Debian's Chromium, SwiftShader WebGL) against a real HTTP server
 * with the deterministic test model. Every check reads pixels of screenshots or explicit page
 * states (`html[data-state]`, `data-status`, `window.satseg.whenIdle()`), never fixed sleeps.
 * Screenshots land in test/artifacts/viewer/.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FeatureCollection, MultiPolygon, Polygon } from 'geojson';
import type { Page } from 'playwright-core';
import * as turf from '@turf/turf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatArea } from '../../web/src/units.ts';
import { TEST_MODEL_CLASSES, TEST_MODEL_COLORS } from '../fixtures/test-model.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { hasShared, scenesDir, sharedSkipReason, skipWithoutShared } from '../helpers/shared-data.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';
import { chromiumSkipReason, skipWithoutChromium, mapScreenshot, pageScreenshot, type Browser } from './browser.ts';
import { changedShare, colourInsideOutside, hexToRgb, imageStats, type Box, type Rgb } from './pixel-stats.ts';
import { drawRectangle, errorsShown, idle, openViewer as openPage, project, serveToBrowser, setRange, toPage, type ViewerRig } from './viewer-page.ts';

type Bounds = [number, number, number, number];
const BACKGROUND: Rgb = hexToRgb('#eef1f5');
const CLASS_COLOURS = TEST_MODEL_COLORS.map(hexToRgb);

let s: TestServer;
let rig: ViewerRig;
let base: string;
let browser: Browser;
const ids = { synthetic: '', gray: '', naip: '' };

function rgbnScene(width: number, height: number): Uint8Array[] {
  const [r, g, b] = syntheticScene(width, height);
  // A "NIR" band unlike the others, so false colour looks different from true colour.
  const nir = new Uint8Array(width * height);
  for (let i = 0; i < nir.length; i++) nir[i] = 255 - Math.round((r![i]! + g![i]!) / 2);
  return [r!, g!, b!, nir];
}

const openViewer = (hash: string, viewport?: { width: number; height: number }) => openPage(browser, `${base}/${hash}`, viewport);

async function datasetBounds(id: string): Promise<Bounds> {
  return ((await (await fetch(`${base}/datasets/${id}`)).json()) as { bounds: Bounds }).bounds;
}

describe.skipIf(skipWithoutChromium)(`the viewer in Chromium${chromiumSkipReason}`, () => {
  beforeAll(async () => {
    const files: Record<string, (f: string) => void> = {
      'synthetic_rgbn.tif': (f) => writeTestTiff(f, { width: 600, height: 400, bands: rgbnScene(600, 400), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 }),
      'gray.tif': (f) => writeTestTiff(f, { width: 200, height: 200, bands: [syntheticScene(200, 200)[0]!], geoTransform: [393500, 5, 0, 5820000, 0, -5], epsg: 32633 }),
    };
    if (hasShared) files['naip_2020.tif'] = (f) => fs.copyFileSync(path.join(scenesDir, 'naip_2020.tif'), f);
    s = createTestServer(files);
    ids.synthetic = s.datasetId('synthetic_rgbn.tif');
    ids.gray = s.datasetId('gray.tif');
    if (hasShared) ids.naip = s.datasetId('naip_2020.tif');
    rig = await serveToBrowser(s);
    ({ base, browser } = rig);
  });

  afterAll(async () => { await rig?.close(); });

  it('opens /#dataset=<id> fitted to the dataset, and the map is not blank', async () => {
    const page = await openViewer(`#dataset=${ids.synthetic}`);
    const bounds = await datasetBounds(ids.synthetic);
    const view = await page.evaluate(() => window.satseg!.map.getBounds().toArray().flat());
    // Fitted: the whole dataset is in view, and it fills a good part of it.
    expect(view[0]).toBeLessThanOrEqual(bounds[0]);
    expect(view[1]).toBeLessThanOrEqual(bounds[1]);
    expect(view[2]).toBeGreaterThanOrEqual(bounds[2]);
    expect(view[3]).toBeGreaterThanOrEqual(bounds[3]);
    expect((bounds[2] - bounds[0]) / (view[2]! - view[0]!)).toBeGreaterThan(0.5);
    const hash = await page.evaluate(() => location.hash);
    expect(hash).toContain(`dataset=${ids.synthetic}`);
    expect(hash).toMatch(/map=\d+(\.\d+)?\/\d+\.\d+\/\d+\.\d+/);

    const shot = await mapScreenshot(page, '1-dataset');
    const stats = imageStats(shot, BACKGROUND);
    expect(stats.nonBackground).toBeGreaterThan(0.3);
    expect(stats.distinctColours).toBeGreaterThan(100);
    expect(stats.lumaStd).toBeGreaterThan(10);

    // The shared link restores the same view.
    const zoom = Number(/map=([\d.]+)\//.exec(hash)![1]);
    await page.reload();
    await page.waitForSelector('html[data-state=ready]');
    await idle(page);
    expect(await page.evaluate(() => window.satseg!.map.getZoom())).toBeCloseTo(zoom, 1);
    expect(changedShare(shot, await mapScreenshot(page, '1-dataset-reloaded'))).toBeLessThan(0.02);

    // Zoom-to-layer brings the dataset back after panning away.
    await page.evaluate(() => window.satseg!.map.jumpTo({ center: [0, 0], zoom: 4 }));
    await page.click(`li[data-key="dataset:${ids.synthetic}"] .layer-zoom`);
    await page.waitForFunction(() => !window.satseg!.map.isMoving() && window.satseg!.map.getZoom() > 10);
    const back = await page.evaluate(() => window.satseg!.map.getBounds().toArray().flat());
    expect(back[0]).toBeLessThanOrEqual(bounds[0]);
    expect(back[2]).toBeGreaterThanOrEqual(bounds[2]);

    // Only models that suit the dataset are offered: the 1-band dataset cannot feed the RGB model,
    // and the picker says so in the server's words.
    await page.selectOption('#job-dataset', ids.gray);
    await page.waitForSelector('#job-model[data-state=ready]');
    const option = page.locator('#job-model option[value="test-rgb"]');
    expect(await option.isDisabled()).toBe(true);
    const listed = (await (await fetch(`${base}/models?dataset=${ids.gray}`)).json()) as { models: Array<{ id: string; fit: { fit: string; reason: string } }> };
    const fit = listed.models.find((m) => m.id === 'test-rgb')!.fit;
    expect(fit.fit).toBe('unsuitable');
    expect(fit.reason).toContain('needs 3 bands');
    expect(await option.textContent()).toContain(fit.reason);
    await page.selectOption('#job-dataset', ids.synthetic);
    await page.waitForSelector('#job-model[data-state=ready]');
    expect(await option.isDisabled()).toBe(false);

    expect(await errorsShown(page)).toEqual([]);
    await page.close();
  });

  it('toggling a layer and its band preset changes the pixels', async () => {
    const page = await openViewer(`#dataset=${ids.synthetic}`);
    const entry = `li[data-key="dataset:${ids.synthetic}"]`;
    const before = await mapScreenshot(page, '2-visible');

    await page.locator(`${entry} .layer-visible`).uncheck();
    await idle(page);
    const hidden = await mapScreenshot(page, '2-hidden');
    expect(changedShare(before, hidden)).toBeGreaterThan(0.3);
    expect(imageStats(hidden, BACKGROUND).nonBackground).toBeLessThan(0.02);

    await page.locator(`${entry} .layer-visible`).check();
    await idle(page);
    expect(changedShare(before, await mapScreenshot(page, '2-visible-again'))).toBeLessThan(0.01);

    // NIR is band 4 of this unlabelled 4-band scene: the false-colour preset exists and differs.
    await page.selectOption(`${entry} .layer-preset`, 'false-colour');
    await idle(page);
    const falseColour = await mapScreenshot(page, '2-false-colour');
    expect(changedShare(before, falseColour)).toBeGreaterThan(0.3);

    await setRange(page, `${entry} .layer-opacity`, 30);
    await idle(page);
    const faint = await mapScreenshot(page, '2-opacity-30');
    expect(changedShare(falseColour, faint)).toBeGreaterThan(0.3);
    expect(await errorsShown(page)).toEqual([]);
    await page.close();
  });

  it('an upload of a corrupt file shows the server\'s reason; a good one becomes a layer', async () => {
    const corrupt = Buffer.concat([Buffer.from('II*\0', 'latin1'), Buffer.alloc(300, 7)]);
    // What the server says about these bytes, asked directly.
    const form = new FormData();
    form.append('file', new Blob([corrupt]), 'corrupt.tif');
    const direct = await fetch(`${base}/datasets`, { method: 'POST', body: form });
    expect(direct.status).toBe(400);
    const reason = ((await direct.json()) as { detail: string }).detail;
    expect(reason).toContain('corrupt.tif was rejected');

    const page = await openViewer(`#dataset=${ids.synthetic}`);
    const drop = async (name: string, bytes: Buffer) => {
      const data = await page.evaluateHandle(([n, b64]) => {
        const bin = Uint8Array.from(atob(b64!), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bin], n!, { type: 'image/tiff' }));
        return dt;
      }, [name, bytes.toString('base64')]);
      await page.dispatchEvent('body', 'dragenter', { dataTransfer: data });
      expect(await page.locator('#drop-hint').isVisible()).toBe(true);
      await page.dispatchEvent('body', 'drop', { dataTransfer: data });
    };

    await drop('corrupt.tif', corrupt);
    await page.waitForSelector('#upload-status[data-state=error]');
    expect(await page.locator('#drop-hint').isVisible()).toBe(false);
    expect(await page.textContent('#upload-status')).toContain(reason);
    expect(await page.locator('.toast-error').first().textContent()).toContain(reason);
    await pageScreenshot(page, '5-upload-rejected');

    const goodFile = path.join(s.dir, 'small_upload.tif');
    writeTestTiff(goodFile, { width: 64, height: 64, bands: syntheticScene(64, 64, 3), geoTransform: [391000, 5, 0, 5819000, 0, -5], epsg: 32633 });
    await drop('small_upload.tif', fs.readFileSync(goodFile));
    await page.waitForSelector('#upload-status[data-state=done]');
    const added = s.ctx.datasets.list().find((d) => d.name === 'small_upload.tif');
    expect(added).toBeDefined();
    await page.waitForSelector(`li[data-key="dataset:${added!.id}"]`);
    expect(await page.evaluate(() => location.hash)).toContain(`dataset=${added!.id}`);
    await page.close();
  });

  it('is usable at phone width', async () => {
    const page = await openViewer(`#dataset=${ids.synthetic}`, { width: 390, height: 844 });
    const layout = await page.evaluate(() => {
      const map = document.querySelector('#map')!.getBoundingClientRect();
      const panel = document.querySelector('#panel')!.getBoundingClientRect();
      return { mapW: map.width, mapH: map.height, panelTop: panel.top, panelH: panel.height, scrollW: document.documentElement.scrollWidth };
    });
    expect(layout.scrollW).toBeLessThanOrEqual(390);
    expect(layout.mapW).toBe(390);
    expect(layout.mapH).toBeGreaterThan(350);
    expect(layout.panelTop).toBeGreaterThanOrEqual(layout.mapH - 1);
    expect(layout.panelH).toBeGreaterThan(250);
    expect(imageStats(await mapScreenshot(page, '6-phone-map'), BACKGROUND).nonBackground).toBeGreaterThan(0.3);
    await pageScreenshot(page, '6-phone');
    await page.close();
  });

  describe.skipIf(skipWithoutShared)(`segmenting an area of naip_2020.tif${sharedSkipReason ? `: ${sharedSkipReason}` : ''}`, () => {
    let page: Page;
    let resultId = '';
    let area: number[][] = [];
    /** Click the middle of the job's area; returns where the map says the click landed. */
    const clickAreaCentre = async (): Promise<[number, number]> => {
      const lons = area.map((p) => p[0]!);
      const lats = area.map((p) => p[1]!);
      const at = await toPage(page, await project(page, (Math.min(...lons) + Math.max(...lons)) / 2, (Math.min(...lats) + Math.max(...lats)) / 2));
      await page.mouse.click(at.x, at.y);
      await page.waitForSelector('.inspect[data-state=ready]');
      return page.evaluate(([x, y]) => {
        const box = document.querySelector('#map')!.getBoundingClientRect();
        return window.satseg!.map.unproject([x! - box.left, y! - box.top]).toArray() as [number, number];
      }, [at.x, at.y]);
    };

    afterAll(async () => { await page?.close(); });

    it('draws a rectangle, runs a job with live progress to 100 %, and shows class colours only inside the area', async () => {
      page = await openViewer(`#dataset=${ids.naip}`);
      const [w, s2, e, n] = await datasetBounds(ids.naip);
      await page.waitForSelector('#job-model[data-state=ready]');
      await page.selectOption('#job-model', 'test-rgb');
      await page.locator('#job-vector').uncheck();

      // First a rectangle beside the dataset: the server refuses it, and the viewer says why.
      const corner = await project(page, w, n);
      expect(corner.x).toBeGreaterThan(30);
      await drawRectangle(page, { x: 6, y: 6 }, { x: Math.min(26, corner.x - 4), y: Math.min(26, corner.y - 4) });
      const outside = await page.evaluate(() => window.satseg!.draw.area);
      const refused = await fetch(`${base}/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: ids.naip, model: 'test-rgb', area: outside }) });
      expect(refused.status).toBe(400);
      const why = ((await refused.json()) as { detail: string }).detail;
      await page.click('#job-run');
      await page.waitForSelector('#job-message:not([hidden])');
      expect(await page.textContent('#job-message')).toContain(why);

      // Now a rectangle well inside the scene.
      const a = await project(page, w + 0.38 * (e - w), s2 + 0.62 * (n - s2));
      const b = await project(page, w + 0.6 * (e - w), s2 + 0.38 * (n - s2));
      await drawRectangle(page, a, b);
      expect(await page.textContent('#draw-hint')).toMatch(/Area: [\d.]+ km²/);
      const percents: number[] = [];
      await page.exposeFunction('reportPercent', (p: number) => { percents.push(p); });
      await page.evaluate(() => {
        const bar = document.querySelector('#job-progress')!;
        new MutationObserver(() => (window as unknown as { reportPercent(p: number): void }).reportPercent(Number((bar as HTMLElement).dataset.percent))).observe(bar, { attributes: true, attributeFilter: ['data-percent'] });
      });
      const streams: string[] = [];
      page.on('request', (r) => { if (/\/jobs\/\w+\/events$/.test(r.url())) streams.push(r.url()); });
      // An offset typed under More options goes with the job (0: none, the file declares none either).
      await page.click('.more-options summary');
      await page.fill('#job-offset', '0');
      const posted: string[] = [];
      page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/jobs')) posted.push(r.postData() ?? ''); });
      await page.click('#job-run');
      await page.waitForSelector('#job-progress[data-status=succeeded]', { timeout: 90_000 });
      expect((JSON.parse(posted.at(-1)!) as { options: { band_offset?: number } }).options.band_offset).toBe(0);
      expect(streams).toHaveLength(1); // progress came over Server-Sent Events
      expect(await page.getAttribute('#job-progress', 'data-percent')).toBe('100');
      expect(await page.locator('#job-bar').evaluate((p) => (p as HTMLProgressElement).value)).toBe(100);
      expect(await page.textContent('#job-progress .progress-percent')).toBe('100 %');
      expect(percents.at(-1)).toBe(100);

      const job = (await page.evaluate(() => window.satseg!.job()))!;
      expect(job.status).toBe('succeeded');
      resultId = job.results!.result.split('/').pop()!;
      area = (job.area as { coordinates: number[][][] }).coordinates[0]!;
      const entry = `li[data-key="result:${resultId}"]`;
      await page.waitForSelector(entry);
      expect(await page.evaluate(() => location.hash)).toContain(`result=${resultId}`);

      // The map fitted the result.
      await idle(page);
      const result = (await (await fetch(`${base}/results/${resultId}`)).json()) as { bounds: Bounds };
      const view = await page.evaluate(() => window.satseg!.map.getBounds().toArray().flat());
      expect(view[0]).toBeLessThanOrEqual(result.bounds[0]);
      expect(view[2]).toBeGreaterThanOrEqual(result.bounds[2]);
      expect((result.bounds[2] - result.bounds[0]) / (view[2]! - view[0]!)).toBeGreaterThan(0.4);
      await pageScreenshot(page, '3-result');

      // Imagery off, mask opaque: class colours inside the drawn area, none outside it.
      await page.locator(`li[data-key="dataset:${ids.naip}"] .layer-visible`).uncheck();
      await setRange(page, `${entry} .layer-opacity`, 100);
      await idle(page);
      const shot = await mapScreenshot(page, '3-result-only');
      const corners = await Promise.all(area.map(([lon, lat]) => project(page, lon!, lat!)));
      const xs = corners.map((c) => c.x);
      const ys = corners.map((c) => c.y);
      // The mask has 5 m pixels and the rectangle's edges fall between them: allow 1.5 mask pixels.
      const metresPerPixel = await page.evaluate(() => {
        const m = window.satseg!.map;
        return (40_075_016.686 * Math.cos((m.getCenter().lat * Math.PI) / 180)) / (512 * 2 ** m.getZoom());
      });
      const margin = Math.max(4, Math.ceil((1.5 * 5) / metresPerPixel));
      const inner: Box = { left: Math.min(...xs) + margin, top: Math.min(...ys) + margin, right: Math.max(...xs) - margin, bottom: Math.max(...ys) - margin };
      const outer: Box = { left: Math.min(...xs) - margin, top: Math.min(...ys) - margin, right: Math.max(...xs) + margin, bottom: Math.max(...ys) + margin };
      const c = colourInsideOutside(shot, CLASS_COLOURS, inner, outer);
      expect(c.insideTotal).toBeGreaterThan(20_000);
      expect(c.inside / c.insideTotal).toBeGreaterThan(0.95);
      expect(c.outsideTotal).toBeGreaterThan(100_000);
      expect(c.outside).toBe(0);

      // The statistics chart: one bar per class, in km² and per cent.
      await page.waitForSelector(`${entry} .stats[data-state=ready]`);
      expect(await page.locator(`${entry} .bar-row`).count()).toBe(4);
      expect(await page.textContent(`${entry} .stats`)).toMatch(/km² · [\d.]+ %/);

      // Clicking a class in the legend hides it: its colour leaves the map (tiles with classes=).
      const vegetation = CLASS_COLOURS[TEST_MODEL_CLASSES.indexOf('vegetation')]!;
      expect(colourInsideOutside(shot, [vegetation], inner, outer).inside).toBeGreaterThan(100);
      const classRequests: string[] = [];
      page.on('request', (r) => { if (r.url().includes('classes=')) classRequests.push(r.url()); });
      await page.click(`${entry} .legend-item[data-class="vegetation"]`);
      await idle(page);
      const withoutVegetation = await mapScreenshot(page, '3-without-vegetation');
      expect(colourInsideOutside(withoutVegetation, [vegetation], inner, outer).inside).toBe(0);
      expect(colourInsideOutside(withoutVegetation, CLASS_COLOURS, inner, outer).inside).toBeGreaterThan(100);
      expect(classRequests.some((u) => u.includes('classes=water,bare,built'))).toBe(true);
      await page.click(`${entry} .legend-item[data-class="vegetation"]`);

      // Order: with the opaque imagery moved above the result, no class colour shows.
      await page.locator(`li[data-key="dataset:${ids.naip}"] .layer-visible`).check();
      const firstKey = () => page.locator('#layers > li').first().getAttribute('data-key');
      for (let i = 0; i < 5 && (await firstKey()) !== `dataset:${ids.naip}`; i++) await page.click(`li[data-key="dataset:${ids.naip}"] button[aria-label$=" up"]`);
      expect(await firstKey()).toBe(`dataset:${ids.naip}`);
      await idle(page);
      const below = await mapScreenshot(page, '3-result-below-imagery');
      expect(colourInsideOutside(below, CLASS_COLOURS, inner, outer, 0).inside / c.insideTotal).toBeLessThan(0.01);
      for (let i = 0; i < 5 && (await firstKey()) !== `result:${resultId}`; i++) await page.click(`${entry} button[aria-label$=" up"]`);
      expect(await firstKey()).toBe(`result:${resultId}`);
      await idle(page);
      expect(colourInsideOutside(await mapScreenshot(page, '3-result-above-imagery'), CLASS_COLOURS, inner, outer).inside / c.insideTotal).toBeGreaterThan(0.95);
      expect(await errorsShown(page)).toEqual([`The job was refused: ${why}`]);
    });

    it('clicking inside the result shows the class and the pixel values', async () => {
      expect(resultId).not.toBe('');
      const clicked = await clickAreaCentre();
      const expected = (await (await fetch(`${base}/results/${resultId}/point?lon=${clicked[0]}&lat=${clicked[1]}`)).json()) as { class: string };
      const shown = await page.getAttribute('.inspect-result', 'data-class');
      expect(TEST_MODEL_CLASSES).toContain(shown);
      expect(shown).toBe(expected.class);
      expect(await page.textContent('.inspect-result .inspect-class')).toContain(expected.class);
      expect(await page.locator('.inspect-dataset .band-values tr').count()).toBe(4);
      await pageScreenshot(page, '4-inspect');
    });

    it('shows the result as polygons; clicking one shows its class and area', async (ctx) => {
      const result = (await (await fetch(`${base}/results/${resultId}`)).json()) as { links: { vector_tiles?: string; geojson?: string } };
      if (!result.links.vector_tiles || !result.links.geojson) ctx.skip(); // vectors are optional for a server
      const entry = `li[data-key="result:${resultId}"]`;
      await page.click('.maplibregl-popup-close-button');
      await page.check(`${entry} input.mode-vector`);
      await page.waitForFunction((id) => Boolean(window.satseg!.map.getLayer(`result-${id}-polygons-0`)), resultId);
      await idle(page);
      expect(await errorsShown(page)).toHaveLength(1); // still only the refused job

      const clicked = await clickAreaCentre();
      // The oracle: the polygon of features.geojson that contains the clicked point.
      const features = (await (await fetch(result.links.geojson!)).json()) as FeatureCollection<Polygon | MultiPolygon, { class: string; area_m2: number }>;
      const hit = features.features.find((f) => turf.booleanPointInPolygon(turf.point(clicked), f));
      expect(hit).toBeDefined();
      expect(await page.getAttribute('.inspect-result', 'data-class')).toBe(hit!.properties.class);
      expect(await page.textContent('.inspect-result .inspect-class')).toContain(`${hit!.properties.class} polygon`);
      expect(await page.textContent('.inspect-result .inspect-area')).toBe(`Area: ${formatArea(hit!.properties.area_m2)}`);
      await pageScreenshot(page, '7-polygons');
    });
  });
});
