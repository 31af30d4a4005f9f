/**
 * Areas of pixels and pixel-edge rings: planar in a projected CRS, ellipsoidal in lon/lat and in
 * normal-aspect Mercator (whose plane exaggerates areas by 1/cos² of the latitude). A Web Mercator
 * grid must measure what the same lon/lat rectangle measures.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { RasterReader } from '../../server/src/read/raster-reader.ts';
import { writeTestTiff } from '../fixtures/write-tiff.ts';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { gdalPython, inCi, repoRoot } from '../helpers/shared-data.ts';
import { areaMethod, cellAreaFunction, groundPixelMetres, pixelAreaFunction } from '../../server/src/read/geodesy.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';
import { converter, transformableProj4, WGS84 } from '../../server/src/read/crs-transform.ts';
import type { GeoTransform } from '../../server/src/read/raster.ts';

const webMercator = crsFromEpsg(3857);
const lonLat = crsFromEpsg(4326);
const utm = crsFromEpsg(32633);

/**
 * Total area of a width x height grid: row by row as class statistics tally it (in blocks of 16
 * columns where pixel areas change along rows), and by one ring around it.
 */
async function gridArea(gt: GeoTransform, width: number, height: number, crs: typeof lonLat): Promise<{ byRows: number; byRing: number }> {
  const { area, variesAlongRows } = await cellAreaFunction(gt, { width, height }, crs);
  const span = variesAlongRows ? 16 : width;
  let byRows = 0;
  for (let r = 0; r < height; r++) for (let c = 0; c < width; c += span) byRows += area(r, (c + Math.min(width, c + span)) / 2) * (Math.min(width, c + span) - c);
  const ring = await pixelAreaFunction(gt, { width, height }, crs);
  return { byRows, byRing: ring(Int32Array.from([0, 0, width, 0, width, height, 0, height, 0, 0])) };
}

describe('pixel areas', () => {
  it('measures lon/lat and Mercator on the ellipsoid, other projected CRSs in their plane', () => {
    expect(areaMethod(lonLat)).toBe('geodesic');
    expect(areaMethod(webMercator)).toBe('geodesic');
    expect(areaMethod(utm)).toBe('projected');
  });

  it('gives a Web Mercator grid the area of the same lon/lat rectangle, not its plane area', async () => {
    // 200 x 150 pixels of 500 m from near 45° N (the plane doubles areas there).
    const gt: GeoTransform = [1_500_000, 500, 0, 5_700_000, 0, -500];
    const m = await gridArea(gt, 200, 150, webMercator);
    expect(m.byRing / m.byRows).toBeCloseTo(1, 12);
    const toLonLat = converter(transformableProj4(webMercator), WGS84);
    const [west, north] = toLonLat.forward([gt[0], gt[3]]);
    const [east, south] = toLonLat.forward([gt[0] + 200 * 500, gt[3] - 150 * 500]);
    // The same rectangle as a 1 x 1 lon/lat grid: rows of a Mercator grid are parallels, so only
    // its edges matter.
    const ll = await gridArea([west!, east! - west!, 0, north!, 0, south! - north!], 1, 1, lonLat);
    expect(m.byRows / ll.byRows).toBeCloseTo(1, 9);
    const plane = 200 * 150 * 500 * 500;
    const midLat = ((north! + south!) / 2) * (Math.PI / 180);
    expect(north!).toBeGreaterThan(45);
    expect(m.byRows / plane).toBeGreaterThan(Math.cos(midLat) ** 2 * 0.98);
    expect(m.byRows / plane).toBeLessThan(Math.cos(midLat) ** 2 * 1.02);
  });

  it('keeps a projected CRS planar: pixel size times pixels', async () => {
    const u = await gridArea([400_000, 10, 0, 5_000_000, 0, -10], 300, 200, utm);
    expect(u.byRows).toBeCloseTo(300 * 200 * 100, 6);
    expect(u.byRing).toBeCloseTo(300 * 200 * 100, 6);
  });
});

describe('ground pixel size', () => {
  const at = (gt: GeoTransform, crs: typeof lonLat) => groundPixelMetres(gt, { width: 100, height: 100 }, crs);
  const centred = (x: number, y: number, size: number): GeoTransform => [x - 50 * size, size, 0, y + 50 * size, 0, -size];

  it('measures a lon/lat pixel on the ellipsoid at the scene\'s latitude', () => {
    // WGS 84 at 60° N: 55,800 m per degree of longitude, 111,412 m per degree of latitude.
    const g = at(centred(10, 60, 0.0001), lonLat);
    expect(g.x).toBeCloseTo(5.580, 2);
    expect(g.y).toBeCloseTo(11.141, 2);
  });

  it('keeps a UTM pixel\'s nominal size, and measures Web Mercator\'s and polar stereographic\'s through the projection', () => {
    expect(at(centred(450_000, 5_000_000, 10), utm)).toEqual({ x: 10, y: 10 });
    // Web Mercator's metres are cos(latitude) of the ground's: 5 m at 60° N.
    const [x, y] = converter(WGS84, transformableProj4(webMercator)).forward([10, 60]);
    const merc = at(centred(x!, y!, 10), webMercator);
    expect(merc.x).toBeCloseTo(5.0, 1);
    expect(merc.y).toBeCloseTo(5.0, 1);
    // NSIDC's polar stereographic north (true scale at 70° N) at 47° N: 10 m of grid, 8.93 m of
    // ground (GDAL's transform of the same steps gives 0.8928).
    const polar = crsFromEpsg(3413);
    const [px, py] = converter(WGS84, transformableProj4(polar)).forward([-45, 47]);
    const g = at(centred(px!, py!, 10), polar);
    expect(g.x / 10).toBeCloseTo(0.893, 3);
    expect(g.y / 10).toBeCloseTo(0.893, 3);
  });
});

describe('a dataset\'s resolution and zoom', () => {
  it('gives a Web Mercator scene at 60° N its ground resolution (5 m for 10 units) and the zoom of its own pixels', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-geodesy-'));
    try {
      const [x, y] = converter(WGS84, transformableProj4(webMercator)).forward([10, 60]);
      const file = path.join(tmp, 'merc60.tif');
      writeTestTiff(file, { width: 64, height: 64, bands: [new Uint8Array(64 * 64).fill(9)], geoTransform: [x!, 10, 0, y!, 0, -10], epsg: 3857 });
      const reader = new RasterReader(await openRaster(file));
      try {
        expect(reader.resolutionMetres).toBeCloseTo(5, 1);
        // Zoom 14's Web Mercator pixel is 9.55 units: the first as fine as the file's 10 (with 10 m
        // taken for ground metres it was 13, one zoom short).
        expect(reader.webExtent().maxzoom).toBe(14);
      } finally {
        await reader.close();
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

/** pyproj (PROJ's Python binding, with python3-qgis and python3-pyproj) for the area oracle. */
const execFileAsync = promisify(execFile);
const hasPyproj = (() => {
  try {
    execFileSync(gdalPython, ['-c', 'import pyproj'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasPyproj && !inCi)(`areas in projections whose scale is not 1, against PROJ's geodesic area${hasPyproj ? '' : ' (pyproj not installed: apt-get install python3-pyproj)'}`, () => {
  /** A width x height grid of `size` m pixels centred on (lon, lat) in EPSG `epsg`. */
  const gridAt = (epsg: number, lon: number, lat: number, size: number, width: number, height: number) => {
    const crs = crsFromEpsg(epsg);
    const [x, y] = converter(WGS84, transformableProj4(crs)).forward([lon, lat]);
    const gt: GeoTransform = [x! - (width / 2) * size, size, 0, y! + (height / 2) * size, 0, -size];
    return { crs, gt, width, height, epsg };
  };
  const oracle = async (g: ReturnType<typeof gridAt>) => {
    const { stdout } = await execFileAsync(gdalPython, [`${repoRoot}/test/oracle/geodesic_area.py`, String(g.epsg), ...g.gt.map(String), String(g.width), String(g.height)], { encoding: 'utf8' });
    return (JSON.parse(stdout) as { area_m2: number }).area_m2;
  };

  it.each([
    // NSIDC's 25 km grids: the Arctic one (the middle column's scale for whole rows made it 5.9 %
    // too large), and the Antarctic one, whose middle column runs half a pixel from the pole (a
    // pixel-wide step across the pole made the scale 0 there, and the grid fell back to planar).
    ['NSIDC Arctic 25 km (EPSG:3413)', 3413, [-3850000, 25000, 0, 5850000, 0, -25000], 304, 448],
    ['NSIDC Antarctic 25 km (EPSG:3031)', 3031, [-3950000, 25000, 0, 4350000, 0, -25000], 316, 332],
  ] as const)('%s: the whole grid and its left eighth, pixel by pixel and as one ring, within 0.1 %% of PROJ', async (_what, epsg, gt, width, height) => {
    const g = { crs: crsFromEpsg(epsg), gt: [...gt] as GeoTransform, width, height, epsg };
    const truth = await oracle(g);
    const { byRows: cells, byRing } = await gridArea(g.gt, width, height, g.crs);
    const left = { ...g, width: Math.round(width / 8) };
    const leftTruth = await oracle(left);
    const { area } = await cellAreaFunction(g.gt, g, g.crs);
    let leftCells = 0;
    for (let r = 0; r < height; r++) for (let c = 0; c < left.width; c++) leftCells += area(r, c + 0.5);
    const ring = await pixelAreaFunction(g.gt, g, g.crs);
    const leftRing = ring(Int32Array.from([0, 0, left.width, 0, left.width, height, 0, height]));
    console.log(`${_what}: PROJ ${(truth / 1e6).toFixed(0)} km², cells ${(cells / 1e6).toFixed(0)}, ring ${(byRing / 1e6).toFixed(0)}, planar ${(width * height * 625).toFixed(0)}; left eighth PROJ ${(leftTruth / 1e6).toFixed(0)}, cells ${(leftCells / 1e6).toFixed(0)}, ring ${(leftRing / 1e6).toFixed(0)}`);
    expect((await cellAreaFunction(g.gt, g, g.crs)).method).toBe('geodesic');
    expect(Math.abs(cells / truth - 1)).toBeLessThan(0.001);
    expect(Math.abs(leftCells / leftTruth - 1)).toBeLessThan(0.001);
    // A ring integrates the scale over itself (the scale at its centroid was 19.5 % off for the
    // whole Arctic grid, where the scale is far from linear).
    expect(Math.abs(byRing / truth - 1)).toBeLessThan(0.001);
    expect(Math.abs(leftRing / leftTruth - 1)).toBeLessThan(0.001);
  });

  it.each([
    // NSIDC polar stereographic north (true scale at 70° N) at 47° N: planar areas 25.6 % too large.
    ['EPSG:3413 at 47° N', 3413, -45, 47, 30, 2000, 1500],
    // Off its central meridian, where the scale changes along rows and columns alike.
    ['EPSG:3413 at 62° N, 40° E', 3413, 40, 62, 100, 1500, 1500],
    // World equidistant cylindrical at 60° N: a metre of easting is half a metre of ground.
    ['EPSG:4087 at 60° N', 4087, 10, 60, 10, 1000, 800],
  ] as const)('%s: measured on the ground, within 0.1 %% of PROJ', async (_what, epsg, lon, lat, size, width, height) => {
    const g = gridAt(epsg, lon, lat, size, width, height);
    const { byRows, byRing } = await gridArea(g.gt, width, height, g.crs);
    const truth = await oracle(g);
    const planar = width * height * size * size;
    console.log(`${_what}: PROJ ${(truth / 1e6).toFixed(3)} km², ours ${(byRows / 1e6).toFixed(3)} (rows) ${(byRing / 1e6).toFixed(3)} (ring), planar ${(planar / 1e6).toFixed(3)}`);
    expect((await cellAreaFunction(g.gt, g, g.crs)).method).toBe('geodesic');
    expect(Math.abs(byRows / truth - 1)).toBeLessThan(0.001);
    expect(Math.abs(byRing / truth - 1)).toBeLessThan(0.001);
    expect(Math.abs(planar / truth - 1)).toBeGreaterThan(0.05);
  });

  it('keeps planar areas where the scale is within 1 % of 1 (UTM), as GIS tools report them', async () => {
    const g = gridAt(32633, 14, 52, 10, 3000, 3000);
    const { byRows, byRing } = await gridArea(g.gt, 3000, 3000, g.crs);
    expect((await cellAreaFunction(g.gt, g, g.crs)).method).toBe('projected');
    expect(byRows).toBeCloseTo(3000 * 3000 * 100, 0);
    expect(byRing).toBeCloseTo(3000 * 3000 * 100, 0);
    expect(Math.abs(byRows / (await oracle(g)) - 1)).toBeLessThan(0.003);
  });
});
