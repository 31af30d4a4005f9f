/**
 * Comparing two dates in the viewer (Chromium, SwiftShader WebGL, the deterministic test model):
 * "compare with…" and an area make a change job whose progress names its steps; the two dates
 * show side by side with the swipe slider, and moving it changes which date shows where; the
 * change layer draws in its transitions' colours; the gained/lost table and the headline show
 * stats.json's figures. Also the model picker: an unsuitable model is disabled with the server's
 * reason and runs only through "run anyway". Screenshots land in test/artifacts/viewer/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeStatistics, Job, Result } from '../../web/src/api-types.ts';
import { installTestModel } from '../fixtures/test-model.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { hasShared, repoRoot, scenesDir, sharedSkipReason, skipWithoutShared } from '../helpers/shared-data.ts';
import { createTestServer, type TestServer } from '../helpers/test-server.ts';
import { chromiumSkipReason, mapScreenshot, pageScreenshot, skipWithoutChromium, type Browser } from './browser.ts';
import { changedShare, colourInsideOutside, hexToRgb, type Box } from './pixel-stats.ts';
import { drawRectangle, errorsShown, idle, openViewer, project, serveToBrowser, setRange, type ViewerRig } from './viewer-page.ts';

type Bounds = [number, number, number, number];
interface ListedModel { id: string; fit: { fit: string; reason: string } }

let s: TestServer;
let rig: ViewerRig;
let base: string;
let browser: Browser;
let modelsDir: string;
const ids = { before: '', after: '', coarse: '', naip2009: '', naip2020: '' };

const json = async <T>(url: string): Promise<T> => (await fetch(url.startsWith('http') ? url : `${base}${url}`)).json() as Promise<T>;
const open = (hash: string) => openViewer(browser, `${base}/${hash}`);
/** Labels, close button and slider float over the maps; pixel checks measure the maps. */
const SWIPE_CHROME = '.compare-label, .compare-close, .maplibregl-compare';

/** Distinct numbers of a table cell or headline, as shown ("+2.13" → 2.13, "−0.5" → -0.5). */
function shownNumber(text: string): { value: number; halfStep: number } {
  const m = /([+−-]?)([\d,]+(?:\.(\d+))?)/.exec(text);
  if (!m) throw new Error(`no number in "${text}"`);
  const value = Number(m[2]!.replace(/,/g, '')) * (m[1] === '−' || m[1] === '-' ? -1 : 1);
  return { value, halfStep: 0.5 * 10 ** -(m[3]?.length ?? 0) };
}

describe.skipIf(skipWithoutChromium)(`comparing two dates in the viewer${chromiumSkipReason}`, () => {
  beforeAll(async () => {
    // The test model, plus spectral-water (the repo's own model) for the NAIP check.
    modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-models-'));
    installTestModel(modelsDir);
    fs.mkdirSync(path.join(modelsDir, 'spectral-water'));
    fs.copyFileSync(path.join(repoRoot, 'models/spectral-water/model.onnx'), path.join(modelsDir, 'spectral-water/model.onnx'));
    const files: Record<string, (f: string) => void> = {
      // Two dates of one place (5 m, UTM 33N); the "event" is another pattern on the ground.
      'before.tif': (f) => writeTestTiff(f, { width: 600, height: 400, bands: syntheticScene(600, 400, 1), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 }),
      'after.tif': (f) => writeTestTiff(f, { width: 600, height: 400, bands: syntheticScene(600, 400, 6), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 }),
      // R, G, B, NIR at 20 m: 4x coarser than the test model's 5 m, so unsuitable for it; fine for
      // spectral-water, which takes the four bands (as NAIP's) at any resolution.
      'coarse.tif': (f) => writeTestTiff(f, { width: 60, height: 60, bands: [...syntheticScene(60, 60, 2), syntheticScene(60, 60, 3)[0]!], geoTransform: [394000, 20, 0, 5820000, 0, -20], epsg: 32633 }),
    };
    if (hasShared) {
      for (const year of ['2009', '2020']) files[`naip_${year}.tif`] = (f) => fs.copyFileSync(path.join(scenesDir, `naip_${year}.tif`), f);
    }
    s = createTestServer(files, { modelsDir });
    ids.before = s.datasetId('before.tif');
    ids.after = s.datasetId('after.tif');
    ids.coarse = s.datasetId('coarse.tif');
    if (hasShared) {
      ids.naip2009 = s.datasetId('naip_2009.tif');
      ids.naip2020 = s.datasetId('naip_2020.tif');
    }
    rig = await serveToBrowser(s);
    ({ base, browser } = rig);
  });

  afterAll(async () => {
    await rig?.close();
    if (modelsDir) fs.rmSync(modelsDir, { recursive: true, force: true });
  });

  it('shows an unsuitable model disabled with the server\'s reason, and runs it only when told to run it anyway', async () => {
    const listed = await json<{ models: ListedModel[] }>(`/models?dataset=${ids.coarse}`);
    const fit = listed.models.find((m) => m.id === 'test-rgb')!.fit;
    expect(fit.fit).toBe('unsuitable');
    expect(fit.reason).toMatch(/20\.0 m .* 5\.0 m/);
    // Without the explicit choice the server refuses, naming both resolutions.
    const refused = await fetch(`${base}/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dataset: ids.coarse, model: 'test-rgb' }) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/20\.0 m.*5\.0 m/);

    const page = await open(`#dataset=${ids.coarse}`);
    await page.waitForSelector('#job-model[data-state=ready]');
    const option = page.locator('#job-model option[value="test-rgb"]');
    expect(await option.isDisabled()).toBe(true);
    expect(await option.getAttribute('data-fit')).toBe('unsuitable');
    expect(await option.textContent()).toContain(fit.reason);
    expect(await page.locator('#model-unsuitable li[data-model="test-rgb"]').textContent()).toContain(fit.reason);
    // spectral-water has no resolution: it suits the coarse scene and comes first.
    expect(await page.locator('#job-model option').first().getAttribute('value')).toBe('spectral-water');
    expect(await page.inputValue('#job-model')).toBe('spectral-water');
    await pageScreenshot(page, 'c1-unsuitable-model');

    // "Run anyway": the model can be chosen, the form warns, and the job carries allow_unsuitable.
    await page.click('#model-unsuitable summary');
    await page.check('#job-allow-unsuitable');
    expect(await option.isDisabled()).toBe(false);
    await page.selectOption('#job-model', 'test-rgb');
    expect(await page.locator('#model-warning').isVisible()).toBe(true);
    expect(await page.textContent('#model-warning')).toContain(fit.reason);
    expect(await page.textContent('#job-run')).toContain('anyway');
    await pageScreenshot(page, 'c1-run-anyway');
    const posted: unknown[] = [];
    page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/jobs')) posted.push(r.postDataJSON()); });
    await page.click('#job-run');
    await page.waitForSelector('#job-progress[data-status=succeeded]', { timeout: 60_000 });
    expect(posted).toEqual([{ dataset: ids.coarse, model: 'test-rgb', options: { vector: true, allow_unsuitable: true } }]);
    // Unticked again, the unsuitable model cannot stay chosen.
    await page.uncheck('#job-allow-unsuitable');
    expect(await page.inputValue('#job-model')).toBe('spectral-water');
    expect(await errorsShown(page)).toEqual([]);
    await page.close();
  });

  describe('a change job over a drawn area', () => {
    let page: Page;
    let job: Job;
    let change: Result;
    let stats: ChangeStatistics;
    let areaBox: Box;
    const stages: string[] = [];

    beforeAll(async () => {
      page = await open(`#dataset=${ids.after}`);
      // "Compare with…" on the after dataset's layer entry, then the earlier date.
      await page.click(`li[data-key="dataset:${ids.after}"] .layer-compare`);
      expect(await page.inputValue('#job-dataset')).toBe(ids.after);
      await page.selectOption('#job-before', ids.before);
      await page.waitForSelector('#job-model[data-state=ready]');
      await page.selectOption('#job-model', 'test-rgb');
      await page.locator('#job-vector').uncheck();
      const [w, so, e, n] = (await json<{ bounds: Bounds }>(`/datasets/${ids.after}`)).bounds;
      const a = await project(page, w + 0.3 * (e - w), so + 0.75 * (n - so));
      const b = await project(page, w + 0.7 * (e - w), so + 0.25 * (n - so));
      await drawRectangle(page, a, b);
      expect(await page.textContent('#job-run')).toBe('Compare the dates in the area');
      await page.exposeFunction('reportStage', (stage: string) => { if (stage && stages.at(-1) !== stage) stages.push(stage); });
      await page.evaluate(() => {
        const bar = document.querySelector<HTMLElement>('#job-progress')!;
        new MutationObserver(() => (window as unknown as { reportStage(s: string): void }).reportStage(bar.dataset.stage ?? '')).observe(bar, { attributes: true, attributeFilter: ['data-stage'] });
      });
      await page.click('#job-run');
      await page.waitForSelector('#job-progress[data-status=succeeded]', { timeout: 120_000 });
      job = (await page.evaluate(() => window.satseg!.job()))!;
      change = await json<Result>(job.results!.change!.result);
      stats = await json<ChangeStatistics>(job.results!.change!.stats);
      await page.waitForFunction(() => window.satseg!.compare().open);
      await idle(page);
      const corners = await Promise.all((job.area as { coordinates: number[][][] }).coordinates[0]!.map(([lon, lat]) => project(page, lon!, lat!)));
      const xs = corners.map((c) => c.x);
      const ys = corners.map((c) => c.y);
      areaBox = { left: Math.min(...xs), top: Math.min(...ys), right: Math.max(...xs), bottom: Math.max(...ys) };
    }, 180_000);

    afterAll(async () => { await page?.close(); });

    it('runs as a change job whose progress names its steps, and lists the change above the two class masks', async () => {
      expect(job.status).toBe('succeeded');
      expect(job.kind).toBe('change');
      expect(job.before).toBe(ids.before);
      expect(job.dataset).toBe(ids.after);
      // The stages seen, in the server's order (a fast step may pass between two events).
      const order = ['segmenting before', 'segmenting after', 'comparing'];
      const seen = stages.filter((st) => order.includes(st));
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen).toEqual([...seen].sort((x, y) => order.indexOf(x) - order.indexOf(y)));
      expect(await page.locator('#job-steps li').evaluateAll((lis) => lis.map((li) => `${(li as HTMLElement).dataset.stage}:${(li as HTMLElement).dataset.state}`)))
        .toEqual(order.map((st) => `${st}:done`));
      expect(await page.locator('#layers > li').first().getAttribute('data-key')).toBe(`result:${change.id}`);
      expect(await page.locator(`li[data-key="result:${change.id}"] .kind`).textContent()).toBe('Change');
      for (const side of [job.results!.before!, job.results!.after!]) {
        const id = side.result.split('/').pop()!;
        const entry = page.locator(`li[data-key="result:${id}"]`);
        expect(await entry.getAttribute('data-visible')).toBe('false');
      }
      expect(await errorsShown(page)).toEqual([]);
    });

    it('shows the two dates side by side, and moving the slider changes which date shows where', async () => {
      const width = await page.evaluate(() => document.querySelector('#map')!.clientWidth);
      const height = await page.evaluate(() => document.querySelector('#map')!.clientHeight);
      const state = await page.evaluate(() => window.satseg!.compare());
      expect(state).toMatchObject({ open: true, before: ids.before });
      expect(state.position! / width).toBeCloseTo(0.5, 2);
      expect(await page.textContent('#compare-before-label')).toContain('before.tif');
      expect(await page.textContent('#compare-after-label')).toContain('after.tif');
      // The imagery alone: the change layer off for now.
      const entry = `li[data-key="result:${change.id}"]`;
      await page.locator(`${entry} .layer-visible`).uncheck();
      const shot = async (share: number, name: string) => {
        await page.evaluate((x) => window.satseg!.setSwipe(x), share);
        await idle(page);
        return mapScreenshot(page, name, SWIPE_CHROME);
      };
      const allBefore = await shot(1, 'c2-all-before');
      const allAfter = await shot(0, 'c2-all-after');
      // Inside the scene the two dates differ: otherwise no slider position could be told apart.
      const sceneTop = Math.max(areaBox.top - 100, 70);
      const band = (from: number, to: number): Box => ({ left: Math.round(from * width), right: Math.round(to * width), top: sceneTop, bottom: Math.min(height - 40, areaBox.bottom + 100) });
      expect(changedShare(allBefore, allAfter, 12, band(0.05, 0.95))).toBeGreaterThan(0.3);

      // Drag the handle as a user would, from the middle to a quarter of the width.
      await page.evaluate(() => window.satseg!.setSwipe(0.5));
      await idle(page);
      const middle = await mapScreenshot(page, 'c2-slider-middle', SWIPE_CHROME);
      const handle = (await page.locator('.compare-swiper-vertical').boundingBox())!;
      const mapBox = (await page.locator('#map').boundingBox())!;
      await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
      await page.mouse.down();
      await page.mouse.move(mapBox.x + 0.25 * width, handle.y + handle.height / 2, { steps: 8 });
      await page.mouse.up();
      await idle(page);
      expect((await page.evaluate(() => window.satseg!.compare().position))! / width).toBeCloseTo(0.25, 2);
      const quarter = await mapScreenshot(page, 'c2-slider-quarter', SWIPE_CHROME);
      await pageScreenshot(page, 'c2-swipe-quarter');

      // Between a quarter and a half of the width: the before date with the slider in the middle,
      // the after date once it moved left. Left of both positions: before; right of both: after.
      const moved = band(0.28, 0.47);
      expect(changedShare(middle, allBefore, 12, moved)).toBeLessThan(0.02);
      expect(changedShare(quarter, allAfter, 12, moved)).toBeLessThan(0.02);
      expect(changedShare(middle, quarter, 12, moved)).toBeGreaterThan(0.3);
      expect(changedShare(quarter, allBefore, 12, band(0.02, 0.23))).toBeLessThan(0.02);
      expect(changedShare(middle, allAfter, 12, band(0.53, 0.98))).toBeLessThan(0.02);

      // The handle is a keyboard slider too.
      await page.focus('.compare-swiper-vertical');
      await page.keyboard.press('ArrowRight');
      expect((await page.evaluate(() => window.satseg!.compare().position))! / width).toBeCloseTo(0.3, 2);
      expect(await page.getAttribute('.compare-swiper-vertical', 'aria-valuenow')).toBe('30');
      await page.locator(`${entry} .layer-visible`).check();
    });

    it('draws the change layer in its transitions\' colours inside the area, as much as changed', async () => {
      const entry = `li[data-key="result:${change.id}"]`;
      // All of the main map, no imagery under the change, the change opaque.
      await page.evaluate(() => window.satseg!.setSwipe(0));
      await page.locator(`li[data-key="dataset:${ids.after}"] .layer-visible`).uncheck();
      await setRange(page, `${entry} .layer-opacity`, 100);
      await idle(page);
      const shot = await mapScreenshot(page, 'c3-change-only', SWIPE_CHROME);
      const colours = [...new Set(stats.transitions.map((t) => change.classes.find((c) => c.id === t.code)!.color!))].map(hexToRgb);
      expect(colours.length).toBeGreaterThan(0);
      const margin = 4;
      const inner: Box = { left: areaBox.left + margin, top: areaBox.top + margin, right: areaBox.right - margin, bottom: areaBox.bottom - margin };
      const outer: Box = { left: areaBox.left - margin, top: areaBox.top - margin, right: areaBox.right + margin, bottom: areaBox.bottom + margin };
      const c = colourInsideOutside(shot, colours, inner, outer);
      expect(c.insideTotal).toBeGreaterThan(20_000);
      expect(c.outside).toBe(0);
      // Unchanged pixels are not drawn, so the coloured share of the area is the changed share.
      expect(stats.changed_share).toBeGreaterThan(0.05);
      expect(Math.abs(c.inside / c.insideTotal - stats.changed_share)).toBeLessThan(0.05);

      // The legend lists the transitions that occur, largest first; hiding the largest removes its pixels.
      const legend = await page.locator(`${entry} .change-legend .legend-item`).evaluateAll((items) => items.map((i) => (i as HTMLElement).dataset.class));
      expect(legend).toEqual(stats.transitions.map((t) => t.name));
      const top = stats.transitions[0]!;
      await page.click(`${entry} .legend-item[data-class="${top.name}"]`);
      await idle(page);
      const without = colourInsideOutside(await mapScreenshot(page, 'c3-change-without-largest', SWIPE_CHROME), colours, inner, outer);
      const topShare = top.area_m2 / stats.valid_area_m2;
      expect(Math.abs((c.inside - without.inside) / c.insideTotal - topShare)).toBeLessThan(0.05);
      await page.click(`${entry} .legend-item[data-class="${top.name}"]`);
      await page.locator(`li[data-key="dataset:${ids.after}"] .layer-visible`).check();
      expect(await errorsShown(page)).toEqual([]);
    });

    it('shows gained, lost and net km² per class and the "newly …" headline, equal to stats.json', async () => {
      const entry = `li[data-key="result:${change.id}"]`;
      await page.waitForSelector(`${entry} .change-summary[data-state=ready]`);
      const rows = await page.locator(`${entry} .change-table tbody tr`).evaluateAll((trs) => trs.map((tr) => ({
        name: (tr as HTMLElement).dataset.class!,
        cells: [...tr.querySelectorAll('td')].map((td) => ({ kind: td.className, text: td.textContent!, m2: Number((td as HTMLElement).dataset.m2) })),
      })));
      expect(rows.map((r) => r.name)).toEqual(stats.per_class.map((c) => c.name));
      for (const [i, row] of rows.entries()) {
        const expected = stats.per_class[i]!;
        for (const cell of row.cells) {
          const m2 = { gained: expected.gained_m2, lost: expected.lost_m2, net: expected.net_m2 }[cell.kind as 'gained' | 'lost' | 'net'];
          expect(cell.m2).toBe(m2);
          const shown = shownNumber(cell.text);
          expect(Math.abs(shown.value - m2 / 1e6)).toBeLessThanOrEqual(shown.halfStep + 1e-12);
        }
      }
      // Every class that gained area has its "newly …" line, water first.
      const headline = await page.locator(`${entry} .change-headline li`).evaluateAll((lis) => lis.map((li) => ({ name: (li as HTMLElement).dataset.class!, text: li.textContent! })));
      const gained = stats.per_class.filter((c) => c.gained_m2 > 0);
      expect(gained.map((c) => c.name)).toContain('water'); // the scenes are made so that water gains
      expect(headline.map((h) => h.name).sort()).toEqual(gained.map((c) => c.name).sort());
      expect(headline[0]!.name).toBe('water');
      for (const h of headline) {
        const m2 = gained.find((c) => c.name === h.name)!.gained_m2;
        expect(h.text).toMatch(new RegExp(`^Newly ${h.name}: [\\d.,]+ km²$`));
        const shown = shownNumber(h.text);
        expect(Math.abs(shown.value - m2 / 1e6)).toBeLessThanOrEqual(shown.halfStep + 1e-12);
      }
      await page.evaluate(() => window.satseg!.setSwipe(0.5));
      await idle(page);
      await pageScreenshot(page, 'c4-compare-view');
    });

    it('ends the swipe with its button, and the swipe button of the change result opens it again', async () => {
      const beforeEntry = page.locator(`li[data-key="dataset:${ids.before}"]`);
      await page.click('#compare-close');
      expect(await page.evaluate(() => window.satseg!.compare().open)).toBe(false);
      expect(await page.locator('#map-before').isHidden()).toBe(true);
      // With the before imagery on in the main map, the swipe moves it to the left map and back.
      await beforeEntry.locator('.layer-visible').check();
      await page.click(`li[data-key="result:${change.id}"] .change-swipe`);
      await page.waitForFunction(() => window.satseg!.compare().open);
      expect(await page.evaluate(() => window.satseg!.compare().before)).toBe(ids.before);
      expect(await beforeEntry.getAttribute('data-visible')).toBe('false');
      await page.click('#compare-close');
      expect(await beforeEntry.getAttribute('data-visible')).toBe('true');
      // Starting to draw ends the swipe: drawing happens on the main map.
      await page.click(`li[data-key="result:${change.id}"] .change-swipe`);
      await page.waitForFunction(() => window.satseg!.compare().open);
      await page.click('#draw-rectangle');
      expect(await page.evaluate(() => window.satseg!.compare().open)).toBe(false);
      await page.keyboard.press('Escape');
      expect(await errorsShown(page)).toEqual([]);
    });
  });

  describe.skipIf(skipWithoutShared)(`naip_2009.tif against naip_2020.tif with spectral-water${sharedSkipReason ? `: ${sharedSkipReason}` : ''}`, () => {
    it('offers spectral-water for NAIP, and shows the real change side by side', async () => {
      const page = await open(`#dataset=${ids.naip2020}`);
      await page.selectOption('#job-before', ids.naip2009);
      await page.waitForSelector('#job-model[data-state=ready]');
      const water = page.locator('#job-model option[value="spectral-water"]');
      expect(await water.isDisabled()).toBe(false);
      expect(await water.getAttribute('data-fit')).toBe('good');
      expect(await page.inputValue('#job-model')).toBe('spectral-water');
      await page.click('#job-run');
      await page.waitForSelector('#job-progress[data-status=succeeded]', { timeout: 120_000 });
      await page.waitForFunction(() => window.satseg!.compare().open);
      const job = (await page.evaluate(() => window.satseg!.job()))!;
      const stats = await json<ChangeStatistics>(job.results!.change!.stats);
      const entry = `li[data-key="result:${job.results!.change!.result.split('/').pop()}"]`;
      await page.waitForSelector(`${entry} .change-summary[data-state=ready]`);
      const water2 = stats.per_class.find((c) => c.name === 'water')!;
      expect(water2.gained_m2).toBeGreaterThan(0);
      expect(await page.locator(`${entry} .change-headline li`).first().textContent()).toMatch(/^Newly water: [\d.]+ km²$/);
      // The view for the README (web/assets/compare-screenshot.png): the change's entry at the top.
      await setRange(page, `${entry} .layer-opacity`, 70);
      await page.evaluate(() => window.satseg!.setSwipe(0.45));
      await page.evaluate(() => { document.querySelector('#panel')!.scrollTo(0, 0); document.querySelector('#toasts')!.replaceChildren(); });
      await page.mouse.move(1, 1); // no hover highlight where the run button was
      await idle(page);
      await pageScreenshot(page, 'c5-naip-compare');
      expect(await errorsShown(page)).toEqual([]);
      await page.close();
    }, 180_000);
  });
});
