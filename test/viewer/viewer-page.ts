/**
 * Driving the viewer page in tests: serve it, open it and wait for its explicit ready state, wait for the
 * maps to finish drawing, convert between lon/lat and screen pixels, draw a rectangle as a user
 * would, and set range inputs.
 */
import type { Page } from 'playwright-core';
import type {} from '../../web/src/test-hook.ts';
import { listen, type TestServer } from '../helpers/test-server.ts';
import { launchBrowser, type Browser } from './browser.ts';

/** A test server on a local port and a browser to look at it. */
export interface ViewerRig {
  base: string;
  browser: Browser;
  /** Closes the browser, the port and the test server. */
  close(): Promise<void>;
}

export async function serveToBrowser(s: TestServer): Promise<ViewerRig> {
  const { server, base } = await listen(s);
  const browser = await launchBrowser();
  return {
    base,
    browser,
    close: async () => {
      await browser.close();
      server.close();
      await s.close();
    },
  };
}

export interface Point { x: number; y: number }

/** Opens `url` in a new page and waits until the viewer says it is ready and the map has drawn. */
export async function openViewer(browser: Browser, url: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
  const page = await browser.context.newPage();
  await page.setViewportSize(viewport);
  page.on('pageerror', (e) => console.error(`[viewer page error] ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('html[data-state=ready]');
  await idle(page);
  return page;
}

export const idle = (page: Page) => page.evaluate(() => window.satseg!.whenIdle());
export const errorsShown = (page: Page) => page.evaluate(() => [...window.satseg!.errors]);

/** Map-element pixel coordinates of a lon/lat. */
export async function project(page: Page, lon: number, lat: number): Promise<Point> {
  return page.evaluate(([x, y]) => {
    const p = window.satseg!.map.project([x!, y!]);
    return { x: p.x, y: p.y };
  }, [lon, lat]);
}

/** Page coordinates of a point given in map-element pixels. */
export async function toPage(page: Page, p: Point): Promise<Point> {
  const box = (await page.locator('#map').boundingBox())!;
  return { x: box.x + p.x, y: box.y + p.y };
}

export async function drawRectangle(page: Page, a: Point, b: Point): Promise<void> {
  await page.click('#draw-rectangle');
  const pa = await toPage(page, a);
  const pb = await toPage(page, b);
  await page.mouse.click(pa.x, pa.y);
  await page.mouse.move(pb.x, pb.y, { steps: 5 });
  await page.mouse.click(pb.x, pb.y);
  await page.waitForFunction(() => window.satseg!.draw.area !== null && !window.satseg!.draw.drawing);
}

export async function setRange(page: Page, selector: string, value: number): Promise<void> {
  await page.locator(selector).evaluate((input, v) => {
    (input as HTMLInputElement).value = String(v);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}
