/**
 * QGIS (Debian's python3-qgis, headless) as a client: our XYZ tiles, vector tiles, WMTS layer and
 * the mask COG over /vsicurl/ load as valid layers, and the COG is drawn as its classes by name.
 * Locally it skips without python3-qgis; under CI=true it runs (.ci/run installs it), and fails.
 */
import path from 'node:path';
import { spawnSync, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { createTestServer, listen, type TestServer } from '../helpers/test-server.ts';
import { gdalPython, repoRoot } from '../helpers/shared-data.ts';

const run = promisify(execFile);
const hasQgis = spawnSync(gdalPython, ['-c', 'import qgis.core'], { stdio: 'ignore', env: { ...process.env, QT_QPA_PLATFORM: 'offscreen' } }).status === 0;
const skip = !hasQgis && process.env.CI !== 'true';
if (!hasQgis) console.warn('[satseg tests] python3-qgis not installed: skipping the QGIS client test (.ci/run installs it)');

let s: TestServer;
let server: ServerType;
let base: string;
let resultId: string;

describe.skipIf(skip)(`QGIS as a client${hasQgis ? '' : ': python3-qgis not installed'}`, () => {
  beforeAll(async () => {
    s = createTestServer({
      'scene.tif': (f) => writeTestTiff(f, { width: 600, height: 400, bands: syntheticScene(600, 400), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 }),
    });
    resultId = await s.addResult('scene.tif');
    ({ server, base } = await listen(s));
  });
  afterAll(async () => { server?.close(); await s?.close(); });

  it('loads the XYZ, vector-tile, WMTS and COG layers, and draws the COG as its named classes', async () => {
    const { stdout } = await run(gdalPython, [path.join(repoRoot, 'test/oracle/qgis_layers.py'), base, resultId], { env: { ...process.env, QT_QPA_PLATFORM: 'offscreen' }, timeout: 90_000 })
      .catch((e: { message: string; stderr?: string }) => { throw new Error(`${e.message}: ${e.stderr?.slice(-2000)}`); });
    const r = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(r).toMatchObject({ xyz: true, vector_tiles: true, wmts: true, cog: true, cog_renderer: 'paletted' });
    // The sidecar's colour table and category names: four classes by name, not 256 numbered ones.
    expect(r.cog_labels).toEqual(['water', 'vegetation', 'bare', 'built']);
  });
});
