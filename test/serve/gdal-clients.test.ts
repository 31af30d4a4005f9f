/**
 * Real clients against a running server: GDAL reads the XYZ endpoint through its WMS/TMS
 * minidriver, and reads a result COG in place through /vsicurl/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ServerType } from '@hono/node-server';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tileBounds3857 } from '../../server/src/read/web-mercator.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { createTestServer, listen, type TestServer } from '../helpers/test-server.ts';
import { gdalPython, gdalRead, gdalSkipReason, skipWithoutGdal } from '../helpers/shared-data.ts';

const run = promisify(execFile);
let s: TestServer;
let server: ServerType;
let base: string;
let datasetId: string;
let resultId: string;
const sent = new Map<string, number>();

describe.skipIf(skipWithoutGdal)(`GDAL as a client ${gdalSkipReason}`, () => {
  beforeAll(async () => {
    s = createTestServer({
      'scene.tif': (f) => writeTestTiff(f, { width: 600, height: 400, bands: syntheticScene(600, 400), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 }),
    });
    datasetId = s.datasetId('scene.tif');
    resultId = await s.addResult('scene.tif');
    // Counts the body bytes each file really sends (a client may drop a 200 after its headers), to
    // see what a ranged client reads.
    const fetchAll = s.app.fetch;
    s.app.fetch = (async (req: Request, ...rest: unknown[]) => {
      const res = await (fetchAll as (r: Request, ...a: unknown[]) => Promise<Response>)(req, ...rest);
      if (!res.body) return res;
      const file = new URL(req.url).pathname.split('/').pop()!;
      const counted = res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) { sent.set(file, (sent.get(file) ?? 0) + chunk.byteLength); controller.enqueue(chunk); },
      }));
      return new Response(counted, { status: res.status, headers: res.headers });
    }) as typeof s.app.fetch;
    ({ server, base } = await listen(s));
  });
  afterAll(async () => { server?.close(); await s?.close(); });

  it('reads the XYZ endpoint as a raster through the TMS minidriver', async () => {
    const info = await (await fetch(`${base}/datasets/${datasetId}`)).json() as { center: [number, number, number] };
    const z = 15;
    const [lon, lat] = info.center;
    const latR = (lat * Math.PI) / 180;
    const x = Math.floor(((lon + 180) / 360) * 2 ** z);
    const y = Math.floor(((1 - Math.log(Math.tan(latR) + 1 / Math.cos(latR)) / Math.PI) / 2) * 2 ** z);
    const xml = path.join(s.dir, 'tms.xml');
    fs.writeFileSync(xml, `<GDAL_WMS>
  <Service name="TMS"><ServerUrl>${base}/datasets/${datasetId}/tiles/\${z}/\${x}/\${y}.png</ServerUrl></Service>
  <DataWindow>
    <UpperLeftX>-20037508.342789244</UpperLeftX><UpperLeftY>20037508.342789244</UpperLeftY>
    <LowerRightX>20037508.342789244</LowerRightX><LowerRightY>-20037508.342789244</LowerRightY>
    <TileLevel>${z}</TileLevel><TileCountX>1</TileCountX><TileCountY>1</TileCountY><YOrigin>top</YOrigin>
  </DataWindow>
  <Projection>EPSG:3857</Projection>
  <BlockSizeX>256</BlockSizeX><BlockSizeY>256</BlockSizeY><BandsCount>4</BandsCount>
  <ZeroBlockHttpCodes>204</ZeroBlockHttpCodes>
  <Cache/>
</GDAL_WMS>`);
    const b = tileBounds3857(z, x, y);
    const out = path.join(s.dir, 'from-tms.tif');
    await run('gdal_translate', ['-q', '-projwin', String(b[0]), String(b[3]), String(b[2]), String(b[1]), xml, out], { env: { ...process.env, GDAL_DEFAULT_WMS_CACHE_PATH: path.join(s.dir, 'wms-cache') } });
    const g = gdalRead(out, { x: 0, y: 0, width: 256, height: 256 });
    expect([g.width, g.height, g.bands]).toEqual([256, 256, 4]);
    const ours = await sharp(Buffer.from(await (await fetch(`${base}/datasets/${datasetId}/tiles/${z}/${x}/${y}.png`)).arrayBuffer())).ensureAlpha().raw().toBuffer();
    let differ = 0;
    for (let i = 0; i < 256 * 256; i++) for (let c = 0; c < 4; c++) if (g.pixels![c]![i] !== ours[4 * i + c]) differ++;
    expect(differ).toBe(0);
  });

  it('reads a result COG in place through /vsicurl/, intact', async () => {
    const local = s.ctx.results.file(s.ctx.results.get(resultId), 'mask');
    const remote = `/vsicurl/${base}/results/${resultId}/mask.tif`;
    const env = { ...process.env, CPL_VSIL_CURL_ALLOWED_EXTENSIONS: '.tif', GDAL_DISABLE_READDIR_ON_OPEN: 'EMPTY_DIR' };
    const [a, b] = await Promise.all([
      run('gdalinfo', ['-json', '-checksum', remote], { env }),
      run('gdalinfo', ['-json', '-checksum', local]),
    ]);
    const ra = JSON.parse(a.stdout);
    const rb = JSON.parse(b.stdout);
    expect(ra.size).toEqual(rb.size);
    expect(ra.geoTransform).toEqual(rb.geoTransform);
    expect(ra.coordinateSystem.wkt).toEqual(rb.coordinateSystem.wkt);
    expect(ra.bands[0].checksum).toBe(rb.bands[0].checksum);
    expect(ra.bands[0].overviews.map((o: { checksum: number }) => o.checksum)).toEqual(rb.bands[0].overviews.map((o: { checksum: number }) => o.checksum));
    expect(ra.metadata['IMAGE_STRUCTURE']?.LAYOUT).toBe('COG');
    const valid = await run(gdalPython, ['/usr/lib/python3/dist-packages/osgeo_utils/samples/validate_cloud_optimized_geotiff.py', remote], { env });
    expect(valid.stdout).toMatch(/is a valid cloud optimized GeoTIFF/);
  });

  it('lists the class names of the COG over /vsicurl/ (from mask.tif.aux.xml)', async () => {
    // As GDAL runs by default: it looks for sidecars beside the file (no EMPTY_DIR shortcut).
    const env = { ...process.env, CPL_VSIL_CURL_ALLOWED_EXTENSIONS: '.tif,.xml' };
    sent.delete('mask.tif.aux.xml');
    const { stdout } = await run('gdalinfo', [`/vsicurl/${base}/results/${resultId}/mask.tif`], { env });
    expect(sent.get('mask.tif.aux.xml')).toBeGreaterThan(0);
    expect(stdout).toMatch(/Categories:\s+0: water\s+1: vegetation\s+2: bare\s+3: built/);
    const json = JSON.parse((await run('gdalinfo', ['-json', `/vsicurl/${base}/results/${resultId}/mask.tif`], { env })).stdout);
    expect(json.bands[0].categories).toEqual(['water', 'vegetation', 'bare', 'built']);
    // One range of it, as a reader of the mask by URL asks (satseg reading another satseg's results).
    const whole = await (await fetch(`${base}/results/${resultId}/mask.tif.aux.xml`)).text();
    const part = await fetch(`${base}/results/${resultId}/mask.tif.aux.xml`, { headers: { Range: 'bytes=5-14' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 5-14/${Buffer.byteLength(whole)}`);
    expect(await part.text()).toBe(whole.slice(5, 15));
  });

  it('lists every layer of the WMTS capabilities, and reads a window of one', async () => {
    const caps = `WMTS:${base}/wmts/WMTSCapabilities.xml`;
    // GDAL's WMS/WMTS drivers cache tiles in the working folder unless told otherwise.
    const env = { ...process.env, GDAL_DEFAULT_WMS_CACHE_PATH: path.join(s.dir, 'wmts-cache') };
    const { stdout } = await run('gdalinfo', ['-json', caps], { env });
    const sub = JSON.parse(stdout).metadata.SUBDATASETS as Record<string, string>;
    const names = Object.entries(sub).filter(([k]) => k.endsWith('_NAME')).map(([, v]) => v);
    expect(names.some((n) => n.includes(`layer=dataset-${datasetId}`))).toBe(true);
    expect(names.some((n) => n.includes(`layer=result-${resultId}`))).toBe(true);
    const info = await (await fetch(`${base}/datasets/${datasetId}`)).json() as { bounds: [number, number, number, number] };
    const [w, so, e, n] = info.bounds;
    const out = path.join(s.dir, 'from-wmts.tif');
    const layer = names.find((v) => v.includes(`layer=dataset-${datasetId}`))!;
    await run('gdal_translate', ['-q', '--config', 'GDAL_DEFAULT_WMS_CACHE_PATH', path.join(s.dir, 'wmts-cache'), '-projwin_srs', 'EPSG:4326', '-projwin', String(w + 0.3 * (e - w)), String(n - 0.3 * (n - so)), String(w + 0.5 * (e - w)), String(n - 0.5 * (n - so)), '-outsize', '128', '128', layer, out]);
    const g = gdalRead(out, { x: 0, y: 0, width: 128, height: 128 });
    expect(g.bands).toBe(4);
    const opaque = g.pixels![3]!.filter((a) => a === 255).length;
    expect(opaque).toBeGreaterThan(128 * 128 * 0.9);
  });

  it('reads features.fgb over /vsicurl/ with its spatial index: a small box reads less than the whole file', async () => {
    const env = { ...process.env, CPL_VSIL_CURL_ALLOWED_EXTENSIONS: '.fgb', GDAL_DISABLE_READDIR_ON_OPEN: 'EMPTY_DIR', VSI_CACHE: 'FALSE' };
    const whole = (await fetch(`${base}/results/${resultId}/features.fgb`, { method: 'HEAD' })).headers.get('content-length');
    const size = Number(whole);
    expect(size).toBeGreaterThan(50_000);
    sent.set('features.fgb', 0);
    const info = await (await fetch(`${base}/results/${resultId}`)).json() as { crs: { epsg: number } };
    expect(info.crs.epsg).toBe(32633);
    const { stdout } = await run('ogrinfo', ['-ro', '-so', '-al', '-spat', '391000', '5818500', '391300', '5818800', `/vsicurl/${base}/results/${resultId}/features.fgb`], { env });
    const count = Number(/Feature Count: (\d+)/.exec(stdout)![1]);
    expect(count).toBeGreaterThan(0);
    expect(sent.get('features.fgb')!).toBeLessThan(size / 2);
  });
});
