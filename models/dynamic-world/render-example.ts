/**
 * Renders the model card's example: the Sen1Floods11 Spain chip in true colour next to the
 * dynamic-world mask the satseg pipeline makes of it, with a legend. Run:
 *   npx tsx models/dynamic-world/render-example.ts [path/to/sen1floods11_spain_s2.tif]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { ModelRegistry } from '../../server/src/infer/model-registry.ts';
import { hexToRgb } from '../../server/src/infer/model-spec.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { repoRoot } from './build-model.ts';

const PANEL = 384;
const GAP = 8;
const LEGEND = 230;
/** Stretch each band between these quantiles: L1C top-of-atmosphere colour is hazy otherwise. */
const STRETCH = [0.02, 0.98] as const;

async function trueColour(scene: string): Promise<Buffer> {
  const src = await openRaster(scene);
  const { width, height } = src.info;
  // B4, B3, B2 of the 13-band L1C stack.
  const block = await src.read({ x: 0, y: 0, width, height }, { bands: [4, 3, 2] });
  await src.close();
  const rgb = Buffer.alloc(width * height * 3);
  block.bands.forEach((band, c) => {
    const sorted = Float64Array.from(band).sort();
    const lo = sorted[Math.floor(sorted.length * STRETCH[0])]!;
    const hi = sorted[Math.floor(sorted.length * STRETCH[1])]!;
    for (let p = 0; p < width * height; p++) rgb[p * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, (band[p]! - lo) / (hi - lo))));
  });
  return sharp(rgb, { raw: { width, height, channels: 3 } }).resize(PANEL, PANEL, { kernel: 'lanczos3' }).png().toBuffer();
}

async function classes(scene: string, colours: string[]): Promise<{ png: Buffer; shares: Record<string, number> }> {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dw-example-')), 'mask.tif');
  const registry = new ModelRegistry(path.join(repoRoot, 'models'));
  const summary = await segmentScene({ input: scene, output: out, model: registry.get('dynamic-world'), device: 'cpu', batch: 1 });
  const mask = await openRaster(out);
  const { width, height } = mask.info;
  const labels = (await mask.read({ x: 0, y: 0, width, height })).bands[0]!;
  await mask.close();
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  const palette = colours.map(hexToRgb);
  const rgb = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) rgb.set(palette[labels[p]!] ?? [0, 0, 0], p * 3);
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).resize(PANEL, PANEL, { kernel: 'nearest' }).png().toBuffer();
  return { png, shares: summary.classShares };
}

function legend(names: string[], colours: string[], shares: Record<string, number>): Buffer {
  const rows = names.map((name, i) => {
    const y = 14 + i * 26;
    const share = `${((shares[name] ?? 0) * 100).toFixed(1)} %`;
    return `<rect x="8" y="${y}" width="18" height="18" fill="${colours[i]}" stroke="#333" stroke-width="0.5"/>`
      + `<text x="34" y="${y + 14}" font-family="DejaVu Sans" font-size="13">${name.replace(/_/g, ' ')}</text>`
      + `<text x="${LEGEND - 6}" y="${y + 14}" font-family="DejaVu Sans" font-size="12" text-anchor="end" fill="#555">${share}</text>`;
  });
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${LEGEND}" height="${PANEL}"><rect width="100%" height="100%" fill="white"/>${rows.join('')}</svg>`);
}

export async function renderExample(scene: string, out: string): Promise<Record<string, number>> {
  const spec = new ModelRegistry(path.join(repoRoot, 'models')).get('dynamic-world');
  const { png, shares } = await classes(scene, spec.classColors);
  const image = await sharp({ create: { width: 2 * PANEL + 2 * GAP + LEGEND, height: PANEL, channels: 3, background: '#ffffff' } })
    .composite([
      { input: await trueColour(scene), left: 0, top: 0 },
      { input: png, left: PANEL + GAP, top: 0 },
      { input: legend(spec.classNames, spec.classColors, shares), left: 2 * PANEL + 2 * GAP, top: 0 },
    ])
    .png({ palette: true, colours: 128, compressionLevel: 9 })
    .toBuffer();
  fs.writeFileSync(`${out}.tmp`, image);
  fs.renameSync(`${out}.tmp`, out);
  return shares;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const scene = process.argv[2] ?? path.resolve(repoRoot, '../shared/data/scenes/sen1floods11_spain_s2.tif');
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sen1floods11_spain_dynamic_world.png');
  const shares = await renderExample(scene, out);
  console.log(`wrote ${out} (${fs.statSync(out).size} bytes)`, shares);
}
