/**
 * GridMapping against proj4 run on every pixel: the interpolated lookup never strays from the exact
 * one by more than the error bound, and the overlap window holds every pixel that maps inside.
 */
import { describe, expect, it } from 'vitest';
import { GridMapping, MAX_ERROR, type GridSpec } from '../../server/src/change/grid-mapping.ts';
import { crsFromEpsg } from '../../server/src/read/crs.ts';
import { converter, transformableProj4, WGS84 } from '../../server/src/read/crs-transform.ts';

const utm = crsFromEpsg(32610);
const lonLat = crsFromEpsg(4326);
const toWgs = converter(transformableProj4(utm), WGS84);

/**
 * Target column and row of every pixel of a strip (column -1 outside the target), from the window
 * indexes of its column blocks (`partWidth` columns each, not aligned to the control grid).
 */
function lookup(mapping: GridMapping, y0: number, rows: number, partWidth = 70): { cols: Int32Array; rows: Int32Array } {
  const { width } = mapping.grid;
  const strip = mapping.strip(y0, rows);
  const out = { cols: new Int32Array(rows * width), rows: new Int32Array(rows * width) };
  const index = new Int32Array(partWidth);
  for (let x0 = 0; x0 < width; x0 += partWidth) {
    const map = strip.part(x0, Math.min(width, x0 + partWidth));
    for (let r = 0; r < rows; r++) {
      map.row(y0 + r, index);
      for (let i = x0; i < map.x1; i++) {
        const k = index[i - x0]!;
        expect(k).toBeLessThan(map.window ? map.window.width * map.window.height : 0);
        out.cols[r * width + i] = k < 0 ? -1 : map.window!.x + (k % map.window!.width);
        out.rows[r * width + i] = k < 0 ? -1 : map.window!.y + Math.floor(k / map.window!.width);
      }
    }
  }
  return out;
}

/** A lon/lat target grid with `px`-degree pixels whose corner is near UTM (x, y). */
function lonLatTarget(x: number, y: number, px: number, width: number, height: number): GridSpec {
  const [lon, lat] = toWgs.forward([x, y]);
  return { geoTransform: [lon!, px, 0, lat!, 0, -px], width, height, crs: lonLat };
}

describe('GridMapping', () => {
  // Coarse before pixels over lon/lat after pixels ten to a hundred times finer: the cases where a
  // 64-px control grid alone would be off by more than the bound, so it must refine.
  it.each([
    [100, 1e-4],
    [1000, 1e-4],
    [1000, 2e-5],
  ])('stays within MAX_ERROR of the exact transform (%s m pixels onto %s° pixels)', (res, px) => {
    const grid: GridSpec = { geoTransform: [300000, res, 0, 5000000, 0, -res], width: 300, height: 200, crs: utm };
    const target = lonLatTarget(300000 - res, 5000000 + res, px, 1e8, 1e8);
    const mapping = new GridMapping(grid, target);
    let differ = 0;
    let outsideBand = 0;
    // Strips of 20 rows in blocks of 70 columns keep the windows of the finest target small.
    for (let y0 = 0; y0 < grid.height; y0 += 20) {
      const rows = Math.min(20, grid.height - y0);
      const l = lookup(mapping, y0, rows);
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < grid.width; i++) {
          const [u, v] = mapping.exact(i, y0 + r);
          const o = r * grid.width + i;
          // The virtual target's top-left corner is inside the grid, so some pixels fall outside it.
          const inside = u >= 0 && v >= 0;
          if (inside ? l.cols[o] === Math.floor(u) && l.rows[o] === Math.floor(v) : l.cols[o] === -1) continue;
          differ++;
          const du = Math.abs(u - Math.round(u));
          const dv = Math.abs(v - Math.round(v));
          if (!(du <= MAX_ERROR || dv <= MAX_ERROR)) outsideBand++;
        }
      }
    }
    // A pixel may only differ where its exact centre lies within the bound of an after-pixel edge.
    expect(outsideBand).toBe(0);
    expect(differ).toBeLessThan(grid.width * grid.height * 4 * MAX_ERROR);
  });

  it('is exact and separable on one CRS', () => {
    const grid: GridSpec = { geoTransform: [500000, 10, 0, 5000000, 0, -10], width: 50, height: 40, crs: utm };
    const target: GridSpec = { geoTransform: [500103.3, 3.3, 0, 4999950.1, 0, -3.3], width: 60, height: 70, crs: utm };
    const mapping = new GridMapping(grid, target);
    const l = lookup(mapping, 5, 30, 16);
    for (let r = 0; r < 30; r++) {
      for (let i = 0; i < 50; i++) {
        const u = (500000 + (i + 0.5) * 10 - 500103.3) / 3.3;
        const v = (4999950.1 - (5000000 - (5 + r + 0.5) * 10)) / 3.3;
        const inside = u >= 0 && v >= 0 && u < 60 && v < 70;
        expect(l.cols[r * 50 + i]).toBe(inside ? Math.floor(u) : -1);
        if (inside) expect(l.rows[r * 50 + i]).toBe(Math.floor(v));
      }
    }
    // Column 10's centre (x 500105) is the first at or east of 500103.3; row 5 the first south of 4999950.1.
    expect(mapping.coverage()).toEqual({ x: 10, y: 5, width: 20, height: 23 });
  });

  it('finds a target too small for its sampling lattice, and every pixel that maps into it', () => {
    // 10 km of 10 m pixels, sampled every 8th pixel (centres at x = 500005 + 80k, y = 4999995 - 80k).
    // The target, 3 x 4 pixels of 1e-4° (about 24 x 44 m), sits between lattice samples.
    const grid: GridSpec = { geoTransform: [500000, 10, 0, 5000000, 0, -10], width: 1000, height: 1000, crs: utm };
    const target = lonLatTarget(504330, 4994549, 1e-4, 3, 4);
    const mapping = new GridMapping(grid, target);
    const win = mapping.coverage();
    expect(win).not.toBeNull();
    let inside = 0;
    for (let j = 0; j < grid.height; j++) {
      for (let i = 0; i < grid.width; i++) {
        const [u, v] = mapping.exact(i, j);
        if (!(u >= 0 && v >= 0 && u < 3 && v < 4)) continue;
        inside++;
        expect(i >= win!.x && i < win!.x + win!.width && j >= win!.y && j < win!.y + win!.height).toBe(true);
      }
    }
    expect(inside).toBeGreaterThan(3);
    // Found by its outline (a lattice hit would give a window of at least 17 x 17).
    expect(win!.width * win!.height).toBeLessThan(64);
  });
});

describe('the last column', () => {
  it('is mapped when the grid is one pixel wider than a whole number of control steps, and at step 1 (it kept a stale index)', () => {
    // North polar stereographic against south polar: no ground in common. Near the pole the
    // control grid refines to step 1, which left the last column in no cell; it then kept the
    // index buffer's old values, and a change of two polar masks reported one column changed.
    const north: GridSpec = { geoTransform: [-100_000, 1000, 0, 100_000, 0, -1000], width: 200, height: 200, crs: crsFromEpsg(3413) };
    const south: GridSpec = { geoTransform: [-100_000, 1000, 0, 100_000, 0, -1000], width: 200, height: 200, crs: crsFromEpsg(3031) };
    const polar = new GridMapping(north, south);
    const strip = polar.strip(0, 200);
    const map = strip.part(0, 200);
    const index = new Int32Array(200).fill(12345);
    for (let j = 0; j < 200; j++) {
      if (!map.window) break;
      map.row(j, index);
      expect([...index].filter((k) => k >= 0)).toEqual([]);
    }
    // UTM against lon/lat, 129 = 2 x 64 + 1 columns: every column as proj4 puts it.
    const grid: GridSpec = { geoTransform: [500_000, 30, 0, 4_200_000, 0, -30], width: 129, height: 20, crs: utm };
    const mapping = new GridMapping(grid, lonLatTarget(499_000, 4_201_000, 0.0003, 400, 200));
    const got = lookup(mapping, 0, 20, 129);
    for (let r = 0; r < 20; r++) {
      const [u, v] = mapping.exact(128, r);
      expect(got.cols[r * 129 + 128]).toBe(Math.floor(u));
      expect(got.rows[r * 129 + 128]).toBe(Math.floor(v));
    }
  });
});

describe('the antimeridian', () => {
  // A lon/lat mask written past 180 (179.97° to 180.03°), as scenes crossing it often are.
  const after: GridSpec = { geoTransform: [179.97, 0.001, 0, -16.95, 0, -0.001], width: 60, height: 100, crs: lonLat };

  it('maps a UTM zone 1 grid across it onto a lon/lat grid running past 180 (half the overlap was missed)', () => {
    // UTM 1S near Fiji: 12 km of 100 m pixels, the antimeridian near x = 181 km.
    const utm1s = crsFromEpsg(32701);
    const grid: GridSpec = { geoTransform: [175_000, 100, 0, 8_126_000, 0, -100], width: 120, height: 100, crs: utm1s };
    const toLonLat = converter(transformableProj4(utm1s), WGS84);
    const mapping = new GridMapping(grid, after);
    const win = mapping.coverage();
    expect(win).not.toBeNull();
    const got = lookup(mapping, win!.y, win!.height, 64);
    let east = 0;
    let inside = 0;
    for (let r = 0; r < win!.height; r++) {
      for (let i = 0; i < grid.width; i++) {
        const [lon, lat] = toLonLat.forward([175_000 + (i + 0.5) * 100, 8_126_000 - (win!.y + r + 0.5) * 100]);
        const u = ((lon! + 360) % 360 - 179.97) / 0.001;
        const v = (-16.95 - lat!) / 0.001;
        const o = r * grid.width + i;
        if (!(u >= 0 && v >= 0 && u < 60 && v < 100)) { expect(got.cols[o]).toBe(-1); continue; }
        inside++;
        if (lon! < 0) east++;
        // Within the error bound of the exact position.
        expect(Math.abs(got.cols[o]! + 0.5 - u)).toBeLessThan(0.5 + MAX_ERROR);
        expect(Math.abs(got.rows[o]! + 0.5 - v)).toBeLessThan(0.5 + MAX_ERROR);
        expect(i >= win!.x && i < win!.x + win!.width).toBe(true);
      }
    }
    // Both sides: pixels east of the antimeridian (proj4 says -179.9x) are found at 180.0x.
    expect(east).toBeGreaterThan(inside / 4);
    expect(inside).toBeGreaterThan(1000);
  });

  it('matches two lon/lat grids written on either side of ±180', () => {
    // The same ground written as -180.03..-179.97: it was "no overlap".
    const west: GridSpec = { geoTransform: [-180.03, 0.002, 0, -16.95, 0, -0.002], width: 30, height: 50, crs: lonLat };
    const mapping = new GridMapping(west, after);
    expect(mapping.coverage()).toEqual({ x: 0, y: 0, width: 30, height: 50 });
    const got = lookup(mapping, 0, 50, 30);
    for (let i = 0; i < 30; i++) expect(got.cols[i]).toBe(Math.floor((-180.03 + (i + 0.5) * 0.002 + 360 - 179.97) / 0.001));
    expect(new GridMapping(after, west).coverage()).toEqual({ x: 0, y: 0, width: 60, height: 100 });
  });
});
