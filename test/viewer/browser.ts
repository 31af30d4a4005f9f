/**
 * Debian's Chromium driven by playwright-core, headless with SwiftShader WebGL, in a fresh
 * profile per launch. Tests skip with this module's reason when the browser is not installed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { repoRoot } from '../helpers/shared-data.ts';

export const CHROMIUM = process.env.SATSEG_CHROMIUM ?? '/usr/bin/chromium';
export const hasChromium = fs.existsSync(CHROMIUM);
/** Locally a missing browser skips the viewer tests; under CI=true they run, and fail. */
export const skipWithoutChromium = !hasChromium && process.env.CI !== 'true';
export const chromiumSkipReason = hasChromium ? '' : `: ${CHROMIUM} not found, skipping the browser tests (.ci/run installs Debian's chromium)`;
if (!hasChromium) console.warn(`[satseg tests] ${CHROMIUM} not found: skipping the viewer tests in a real browser`);

export const artifactsDir = path.join(repoRoot, 'test/artifacts/viewer');

const FLAGS = ['--headless', '--no-sandbox', '--enable-unsafe-swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: FLAGS,
    viewport: { width: 1280, height: 800 },
    deviceScaleFactor: 1,
  });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** RGBA pixels of a screenshot, with its size. */
export interface Pixels { width: number; height: number; data: Buffer }

/** Messages and the cursor readout float over the map; they are not what map checks measure. */
const HIDE_OVERLAYS = '#toasts, #coords { visibility: hidden !important; }';

/**
 * Screenshots the map element as the page shows it (the swipe's second map included, floating
 * messages and `hide` selectors left out), saves it as an artifact and returns its pixels.
 */
export async function mapScreenshot(page: Page, name: string, hide = ''): Promise<Pixels> {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const style = hide ? `${HIDE_OVERLAYS} ${hide} { visibility: hidden !important; }` : HIDE_OVERLAYS;
  const png = await page.locator('#map').screenshot({ path: path.join(artifactsDir, `${name}.png`), style });
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

export async function pageScreenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(artifactsDir, { recursive: true });
  await page.screenshot({ path: path.join(artifactsDir, `${name}.png`) });
}
