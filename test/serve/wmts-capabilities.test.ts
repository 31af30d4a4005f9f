/**
 * WMTS capabilities: the WebMercatorQuad matrices and per-layer limits, and GDAL's WMTS driver as a
 * real client (layers as subdatasets; a window read through the REST template from a tiny tile server).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wmtsCapabilities, type WmtsLayer } from '../../server/src/serve/wmts-capabilities.ts';
import { HALF_WORLD, tileRange } from '../../server/src/read/web-mercator.ts';
import { gdalPython, gdalRead, gdalSkipReason, skipWithoutGdal } from '../helpers/shared-data.ts';

const run = promisify(execFile);

const LAYERS: WmtsLayer[] = [
  { identifier: 'berlin', title: 'Berlin & Spree <2020>', path: 'datasets/berlin', bounds: [13.38, 52.5, 13.42, 52.52], minzoom: 10, maxzoom: 14 },
  { identifier: 'lakes-mask', title: 'Lakes (classes)', abstract: 'water, trees', path: 'results/lakes', bounds: [-93.3, 44.9, -93.2, 45.0], minzoom: 8, maxzoom: 12 },
];

describe('wmtsCapabilities', () => {
  const xml = wmtsCapabilities(LAYERS, 'http://example.test/api/');

  it('declares GoogleMapsCompatible matrices 0..deepest with OGC scale denominators', () => {
    const scales = [...xml.matchAll(/<ScaleDenominator>([^<]+)</g)].map((m) => Number(m[1]));
    expect(scales).toHaveLength(15);
    expect(scales[0]).toBeCloseTo(559082264.0287178, 4);
    expect(scales[14]! * 2 ** 14).toBeCloseTo(559082264.0287178, 4);
    expect(xml).toContain('<WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible</WellKnownScaleSet>');
    expect(xml).toContain(`<TopLeftCorner>${-HALF_WORLD} ${HALF_WORLD}</TopLeftCorner>`);
  });

  it('gives each layer its bounds, its zoom range as limits covering the bounds, and a REST template', () => {
    const lakes = xml.slice(xml.indexOf('<ows:Title>Lakes'), xml.indexOf('</Layer>', xml.indexOf('<ows:Title>Lakes')));
    expect(lakes).toContain('<ows:LowerCorner>-93.3 44.9</ows:LowerCorner>');
    expect(lakes).toContain('<ows:UpperCorner>-93.2 45</ows:UpperCorner>');
    const zooms = [...lakes.matchAll(/<TileMatrix>(\d+)<\/TileMatrix>/g)].map((m) => Number(m[1]));
    expect(zooms).toEqual([8, 9, 10, 11, 12]);
    const r12 = tileRange(LAYERS[1]!.bounds, 12);
    expect(lakes).toContain(`<TileMatrix>12</TileMatrix><MinTileRow>${r12.minY}</MinTileRow><MaxTileRow>${r12.maxY}</MaxTileRow><MinTileCol>${r12.minX}</MinTileCol><MaxTileCol>${r12.maxX}</MaxTileCol>`);
    expect(lakes).toContain('template="http://example.test/api/results/lakes/tiles/{TileMatrix}/{TileCol}/{TileRow}.png"');
    expect(xml).toContain('<ows:Title>Berlin &amp; Spree &lt;2020&gt;</ows:Title>');
    expect(xml).toContain('<ServiceMetadataURL xlink:href="http://example.test/api/wmts/WMTSCapabilities.xml"/>');
  });

  it('refuses bounds that are not degrees, zooms outside 0..24 and repeated identifiers', () => {
    const ok = LAYERS[0]!;
    expect(() => wmtsCapabilities([{ ...ok, bounds: [500000, 4000000, 510000, 4010000] }], 'http://h')).toThrow(/bounds/);
    expect(() => wmtsCapabilities([{ ...ok, maxzoom: 30 }], 'http://h')).toThrow(/zoom range/);
    expect(() => wmtsCapabilities([ok, ok], 'http://h')).toThrow(/twice/);
  });
});

describe.skipIf(skipWithoutGdal)(`GDAL's WMTS driver reads the capabilities ${gdalSkipReason}`, () => {
  let tmp: string;
  let server: http.Server;
  let base: string;
  const requested: string[] = [];

  // Each tile says where it is: R = x mod 256, G = y mod 256, B = zoom, so a misaddressed tile shows.
  const tilePng = (z: number, x: number, y: number) =>
    sharp({ create: { width: 256, height: 256, channels: 4, background: { r: x % 256, g: y % 256, b: z, alpha: 1 } } }).png().toBuffer();

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-wmts-'));
    server = http.createServer((req, res) => {
      requested.push(req.url ?? '');
      const m = /^\/(?:datasets|results)\/[\w-]+\/tiles\/(\d+)\/(\d+)\/(\d+)\.png$/.exec(req.url ?? '');
      if (req.url === '/wmts/WMTSCapabilities.xml') {
        res.writeHead(200, { 'Content-Type': 'application/xml' }).end(wmtsCapabilities(LAYERS, base));
      } else if (m) {
        void tilePng(Number(m[1]), Number(m[2]), Number(m[3])).then((png) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(png));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => { server?.close(); fs.rmSync(tmp, { recursive: true, force: true }); });

  // gdal runs asynchronously: the tile server lives in this process and must keep answering.
  const gdal = (cmd: string, args: string[]) => run(cmd, args, {
    cwd: tmp, encoding: 'utf8', env: { ...process.env, GDAL_DEFAULT_WMS_CACHE_PATH: path.join(tmp, 'cache'), no_proxy: '127.0.0.1', NO_PROXY: '127.0.0.1' },
  });

  it('is well-formed XML (strict parser)', () => {
    const count = execFileSync(gdalPython, ['-c', 'import sys, xml.etree.ElementTree as ET\nr = ET.fromstring(sys.stdin.read())\nprint(len(r.findall(".//{http://www.opengis.net/wmts/1.0}Layer")))'], { input: wmtsCapabilities(LAYERS, base), encoding: 'utf8' });
    expect(Number(count)).toBe(2);
  });

  it('lists the layers as subdatasets, named by identifier and titled', async () => {
    const { stdout } = await gdal('gdalinfo', [`WMTS:${base}/wmts/WMTSCapabilities.xml`]);
    expect(stdout).toMatch(/SUBDATASET_1_NAME=WMTS:.*layer=berlin/);
    expect(stdout).toMatch(/SUBDATASET_2_NAME=WMTS:.*layer=lakes-mask/);
    expect(stdout).toContain('SUBDATASET_1_DESC=Layer Berlin & Spree <2020>');
    expect(stdout).toContain('SUBDATASET_2_DESC=Layer Lakes (classes)');
  });

  it('gdal_translate reads a window of a layer at its deepest zoom, from the right tiles', async () => {
    const out = path.join(tmp, 'window.tif');
    await gdal('gdal_translate', ['-q', '-srcwin', '300', '200', '40', '30', `WMTS:${base}/wmts/WMTSCapabilities.xml,layer=berlin`, out]);
    const read = gdalRead(out, { x: 0, y: 0, width: 40, height: 30 });
    const gt = read.geotransform;
    const z = 14;
    const tileMetres = (2 * HALF_WORLD) / 2 ** z;
    expect(gt[1]).toBeCloseTo(tileMetres / 256, 6); // zoom 14 pixels: the layer's maxzoom
    // The tile holding the window's first pixel, from GDAL's own georeferencing.
    const x = Math.floor((gt[0]! + gt[1]! / 2 + HALF_WORLD) / tileMetres);
    const y = Math.floor((HALF_WORLD - (gt[3]! + gt[5]! / 2)) / tileMetres);
    const r = tileRange(LAYERS[0]!.bounds, z);
    expect(x).toBeGreaterThanOrEqual(r.minX); expect(x).toBeLessThanOrEqual(r.maxX);
    expect(y).toBeGreaterThanOrEqual(r.minY); expect(y).toBeLessThanOrEqual(r.maxY);
    expect([read.pixels![0]![0], read.pixels![1]![0], read.pixels![2]![0]]).toEqual([x % 256, y % 256, z]);
    expect(requested).toContain(`/datasets/berlin/tiles/${z}/${x}/${y}.png`);
  });
});
