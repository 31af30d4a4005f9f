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
import { segmentScene } from '../../server/src/segment/segment-scene.ts';
import { tileBounds3857 } from '../../server/src/read/web-mercator.ts';
import { syntheticScene, writeTestTiff } from '../fixtures/write-tiff.ts';
import { createTestServer, listen, type TestServer } from '../helpers/test-server.ts';
import { gdalPython, gdalRead, gdalSkipReason, hasGdal, skipWithoutGdal } from '../helpers/shared-data.ts';

const run = promisify(execFile);
let s: TestServer;
let server: ServerType;
let base: string;
let datasetId: string;
let resultId: string;

describe.skipIf(skipWithoutGdal)(`GDAL as a client ${gdalSkipReason}`, () => {
  beforeAll(async () => {
    s = createTestServer({
      'scene.tif': (f) => writeTestTiff(f, { width: 600, height: 400, bands: syntheticScene(600, 400), geoTransform: [390000, 5, 0, 5820000, 0, -5], epsg: 32633 }),
    });
    datasetId = s.datasetId('scene.tif');
    const { id, dir } = s.ctx.results.allocate();
    const spec = s.ctx.models.get('test-rgb');
    await segmentScene({ input: s.ctx.datasets.location(s.ctx.datasets.get(datasetId)), output: path.join(dir, 'mask.tif'), model: spec, device: 'cpu' });
    s.ctx.results.register({ id, datasetId, modelId: spec.id, name: 'scene', classes: spec.classNames, colors: spec.classColors, summary: null });
    resultId = id;
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
});
