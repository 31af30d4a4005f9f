/**
 * GeoJSON output: 7-decimal coordinates (about 1 cm) and a sequential feature id, still RFC 7946
 * (closed rings of 4+ positions, right-hand winding, lon/lat in range), and GDAL reads the ids as FIDs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureCollection, Polygon } from 'geojson';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { openClassPolygons, vectorizeMask } from '../../server/src/vectorize/vectorize-mask.ts';
import { DEFAULT_DECIMALS, GeoJsonEncoder } from '../../server/src/vectorize/geojson-writer.ts';
import type { ClassPolygon, ClassProperties } from '../../server/src/vectorize/class-polygon.ts';
import { blobMask } from './mask-fixtures.ts';
import { gdalSkipReason, skipWithoutGdal } from '../helpers/shared-data.ts';

let tmp: string;
let mask: string;
let geojson: string;
let polygons: ClassPolygon[];

const SIZE = 300;
// 0.3 m pixels (fine aerial imagery): vertices one pixel apart are ~2.7e-6 degrees apart.
const PIXEL_M = 0.3;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-geojson-'));
  mask = path.join(tmp, 'mask.tif');
  const m = blobMask(SIZE, SIZE, 7, 4, 0.02);
  const w = await CogWriter.create(mask, {
    width: SIZE, height: SIZE, geoTransform: [500000, PIXEL_M, 0, 4500000, 0, -PIXEL_M], geoKeys: { epsg: 32633, geographic: false },
    nodata: 255, blockSize: 256, overviewResampling: 'mode', metadata: { CLASS_NAMES: '["water","trees","crops","built"]' },
  });
  await w.writeRows(Uint8Array.from(m.codes), SIZE);
  await w.finish();
  geojson = path.join(tmp, 'polygons.geojson');
  await vectorizeMask({ mask, out: geojson, simplifyPx: 0, minAreaM2: 0 });
  polygons = [];
  for await (const batch of (await openClassPolygons(mask, 'wgs84', { simplifyPx: 0, minAreaM2: 0 })).batches) polygons.push(...batch);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function signedArea(ring: number[][]): number {
  let s = 0;
  for (let i = 0; i + 1 < ring.length; i++) s += ring[i]![0]! * ring[i + 1]![1]! - ring[i + 1]![0]! * ring[i]![1]!;
  return s / 2;
}

function encode(decimals: number): Uint8Array {
  const e = new GeoJsonEncoder(decimals);
  e.header();
  for (const p of polygons) e.feature(p);
  e.footer();
  return e.take();
}

describe('GeoJSON writer', () => {
  it('numbers features 1..n and writes at most 7 decimals', () => {
    const text = fs.readFileSync(geojson, 'utf8');
    const fc = JSON.parse(text) as FeatureCollection<Polygon, ClassProperties>;
    expect(DEFAULT_DECIMALS).toBe(7);
    expect(fc.features.length).toBeGreaterThan(20);
    expect(fc.features.map((f) => f.id)).toEqual(fc.features.map((_, i) => i + 1));
    const decimals = [...text.matchAll(/-?\d+\.(\d+)/g)].map((m) => m[1]!.length);
    expect(Math.max(...decimals)).toBeLessThanOrEqual(7);
  });

  it('stays RFC 7946: closed rings of 4+ positions, shells counter-clockwise, holes clockwise, lon/lat in range', () => {
    const fc = JSON.parse(fs.readFileSync(geojson, 'utf8')) as FeatureCollection<Polygon, ClassProperties>;
    expect(fc.type).toBe('FeatureCollection');
    let holes = 0;
    for (const f of fc.features) {
      expect(f.type).toBe('Feature');
      expect(f.geometry.type).toBe('Polygon');
      f.geometry.coordinates.forEach((ring, i) => {
        expect(ring.length).toBeGreaterThanOrEqual(4);
        expect(ring[0]).toEqual(ring[ring.length - 1]);
        // No two consecutive positions merged by the rounding.
        for (let k = 1; k < ring.length; k++) expect(ring[k]).not.toEqual(ring[k - 1]);
        for (const [lon, lat] of ring) { expect(Math.abs(lon!)).toBeLessThanOrEqual(180); expect(Math.abs(lat!)).toBeLessThanOrEqual(90); }
        if (i === 0) expect(signedArea(ring), `feature ${f.id} shell`).toBeGreaterThan(0);
        else { holes++; expect(signedArea(ring), `feature ${f.id} hole`).toBeLessThan(0); }
      });
    }
    expect(holes).toBeGreaterThan(0);
  });

  it('rounds each coordinate by at most half a unit of the 7th decimal, and the file is smaller than at 9', () => {
    const fc = JSON.parse(new TextDecoder().decode(encode(7))) as FeatureCollection<Polygon, ClassProperties>;
    let worst = 0;
    fc.features.forEach((f, i) => {
      const ring = polygons[i]!.rings[0]!;
      f.geometry.coordinates[0]!.slice(0, -1).forEach(([x, y], k) => {
        worst = Math.max(worst, Math.abs(x! - ring[2 * k]!), Math.abs(y! - ring[2 * k + 1]!));
      });
    });
    expect(worst).toBeLessThanOrEqual(0.5e-7 + 1e-12);
    const at9 = encode(9).length;
    const at7 = encode(7).length;
    console.log(`[geojson-writer] ${polygons.length} polygons: ${at9} bytes at 9 decimals, ${at7} at 7 (${((1 - at7 / at9) * 100).toFixed(1)} % smaller, ids included)`);
    expect(at7).toBeLessThan(at9);
  });
});

describe.skipIf(skipWithoutGdal)(`GDAL reads the file ${gdalSkipReason}`, () => {
  it('ogrinfo takes the ids as FIDs and counts every feature', () => {
    const fc = JSON.parse(fs.readFileSync(geojson, 'utf8')) as FeatureCollection;
    const out = execFileSync('ogrinfo', ['-ro', '-al', '-q', geojson], { encoding: 'utf8', maxBuffer: 1 << 28 });
    const fids = [...out.matchAll(/^OGRFeature\([^)]*\):(\d+)$/gm)].map((m) => Number(m[1]));
    expect(fids).toEqual(fc.features.map((_, i) => i + 1));
  });
});
