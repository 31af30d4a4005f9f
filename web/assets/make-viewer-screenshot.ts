/**
 * Makes web/assets/viewer-screenshot.png, the README's picture of the viewer: the Sentinel-2 chip
 * of ../shared segmented by dynamic-world through the API, shown in the viewer with its legend and
 * class statistics. A real run, not a mock-up, so rerun it when the viewer or the model changes:
 *
 *   npx tsx web/assets/make-viewer-screenshot.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import { createTestServer } from '../../test/helpers/test-server.ts';
import { repoRoot, scenesDir } from '../../test/helpers/shared-data.ts';
import { idle, openViewer, serveToBrowser, setRange } from '../../test/viewer/viewer-page.ts';

const scene = path.join(scenesDir, 'sen1floods11_spain_s2.tif');
if (!fs.existsSync(scene)) throw new Error(`${scene} is missing: this script needs ../shared`);

const s = createTestServer({ 'sen1floods11_spain_s2.tif': (f) => fs.symlinkSync(scene, f) }, { modelsDir: path.join(repoRoot, 'models'), samples: [] });
const rig = await serveToBrowser(s);
try {
  const dataset = s.datasetId('sen1floods11_spain_s2.tif');
  const submitted = await fetch(`${rig.base}/jobs`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ dataset, model: 'dynamic-world' }),
  });
  if (submitted.status !== 202) throw new Error(`job refused: ${await submitted.text()}`);
  const { id } = (await submitted.json()) as { id: string };
  let job: { status: string; error?: string; results?: { result: string } };
  do {
    await new Promise((r) => setTimeout(r, 1000));
    job = (await (await fetch(`${rig.base}/jobs/${id}`)).json()) as typeof job;
  } while (job.status === 'queued' || job.status === 'running');
  if (job.status !== 'succeeded' || !job.results) throw new Error(`job ${job.status}: ${job.error ?? ''}`);
  const result = job.results.result.split('/').pop()!;
  const page = await openViewer(rig.browser, `${rig.base}/#dataset=${dataset}&result=${result}`);
  await setRange(page, `li[data-key="result:${result}"] .layer-opacity`, 75);
  await page.evaluate(() => { document.querySelector('#panel')!.scrollTo(0, 0); document.querySelector('#toasts')!.replaceChildren(); });
  await page.mouse.move(1, 1);
  await idle(page);
  const out = path.join(repoRoot, 'web/assets/viewer-screenshot.png');
  await page.screenshot({ path: out });
  console.log(`wrote ${path.relative(repoRoot, out)}`);
} finally {
  await rig.close();
}
