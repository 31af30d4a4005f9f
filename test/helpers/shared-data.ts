/**
 * Access to ../shared (third-party rasters, read-only) and to GDAL, the oracle.
 * Tests that need either skip with a message saying what is missing, so `npm test` passes on a
 * fresh clone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedRoot = process.env.SATSEG_SHARED ?? path.resolve(repoRoot, '../shared');
export const hasShared = fs.existsSync(path.join(sharedRoot, 'data/geotiff/MANIFEST.tsv'));
export const corpusDir = path.join(sharedRoot, 'data/geotiff');
export const scenesDir = path.join(sharedRoot, 'data/scenes');

export const gdalPython = '/usr/bin/python3';
export const hasGdal = (() => {
  const r = spawnSync(gdalPython, ['-c', 'from osgeo import gdal'], { stdio: 'ignore' });
  return r.status === 0 && spawnSync('gdalinfo', ['--version'], { stdio: 'ignore' }).status === 0;
})();

/** Debian's redis-server, which the BullMQ tests start on a free port (test/helpers/redis-server.ts). */
export const redisServer = process.env.SATSEG_REDIS_SERVER ?? 'redis-server';
export const hasRedis = spawnSync(redisServer, ['--version'], { stdio: 'ignore' }).status === 0;

export const sharedSkipReason = hasShared ? '' : `../shared not found at ${sharedRoot}: skipping tests on the shared GeoTIFF corpus`;
export const redisSkipReason = hasRedis ? '' : `${redisServer} not found: skipping the BullMQ worker tests (apt-get install redis-server; .ci/run installs it)`;
export const gdalSkipReason = hasGdal ? '' : 'GDAL (gdal-bin, python3-gdal) not installed: skipping GDAL-oracle tests (.ci/run installs them)';

// Locally a missing dependency skips its tests; under CI=true they run, and fail, instead.
export const inCi = process.env.CI === 'true';
export const skipWithoutShared = !hasShared && !inCi;
export const skipWithoutGdal = !hasGdal && !inCi;
export const skipWithoutRedis = !hasRedis && !inCi;

if (!hasShared) console.warn(`[satseg tests] ${sharedSkipReason}`);

if (!hasGdal) console.warn(`[satseg tests] ${gdalSkipReason}`);
if (!hasRedis) console.warn(`[satseg tests] ${redisSkipReason}`);

export interface ManifestRow {
  file: string;
  width: number;
  height: number;
  bands: number;
  dtype: string;
  compression: string;
  crs: string;
  nodata: string;
  mask: string;
  georef: string;
  kind: string;
  path: string;
}

export function readManifest(): ManifestRow[] {
  const text = fs.readFileSync(path.join(corpusDir, 'MANIFEST.tsv'), 'utf8').trim().split('\n');
  const header = text[0]!.split('\t');
  return text.slice(1).map((line) => {
    const cols = line.split('\t');
    const get = (k: string) => cols[header.indexOf(k)] ?? '';
    return {
      file: get('file'), width: Number(get('width')), height: Number(get('height')), bands: Number(get('bands')),
      dtype: get('dtype'), compression: get('compression'), crs: get('crs'), nodata: get('nodata'), mask: get('mask'),
      georef: get('georef'), kind: get('real_or_synthetic'), path: path.join(corpusDir, get('file')),
    };
  });
}

export interface GdalRead {
  width: number;
  height: number;
  bands: number;
  geotransform: number[];
  dtype: string;
  nodata: number | null;
  overviews: number;
  color_interps: string[];
  epsg?: number | null;
  proj4?: string;
  pixels?: Float64Array[];
  mask?: Uint8Array;
}

/** What GDAL reads from a file (and optionally a window of it). */
export function gdalRead(file: string, win?: { x: number; y: number; width: number; height: number }): GdalRead {
  const args = [path.join(repoRoot, 'test/oracle/gdal_read.py'), file];
  if (win) args.push(String(win.x), String(win.y), String(win.width), String(win.height));
  const out = JSON.parse(execFileSync(gdalPython, args, { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] }));
  const decode = (s: string) => Buffer.from(s, 'base64');
  if (out.pixels) out.pixels = out.pixels.map((p: string) => { const b = decode(p); return new Float64Array(b.buffer, b.byteOffset, b.length / 8); });
  if (out.mask) out.mask = new Uint8Array(decode(out.mask));
  return out as GdalRead;
}

/** proj4 definitions as key → value, with proj's defaults filled in so equal CRSs compare equal. */
export function proj4Params(def: string): Map<string, string> {
  const m = new Map<string, string>([['lat_0', '0'], ['lon_0', '0'], ['x_0', '0'], ['y_0', '0'], ['k', '1']]);
  for (const part of def.trim().split(/\s+/)) {
    const [k, v] = part.replace(/^\+/, '').split('=');
    if (!k || k === 'no_defs' || k === 'type' || k === 'wktext') continue;
    m.set(k === 'k_0' ? 'k' : k, v ?? 'true');
  }
  return m;
}
