/**
 * Reprojection to GeoJSON lon/lat from CRSs with and without an EPSG code, and RFC 7946 winding.
 */
import { describe, expect, it } from 'vitest';
import { orientRings, toGeographic } from '../../server/src/vectorize/reproject.ts';
import { shoelace, pixelAreaFunction } from '../../server/src/read/geodesy.ts';

describe('reproject', () => {
  it('leaves WGS 84 lon/lat alone and reprojects a GeoKeys-only CRS from its proj4 definition', async () => {
    expect(await toGeographic({ epsg: 4326, proj4: '+proj=longlat +datum=WGS84 +no_defs', name: 'WGS 84', geographic: true })).toBeNull();
    const utm = (await toGeographic({ proj4: '+proj=tmerc +lat_0=0 +lon_0=-75 +k=0.9996 +x_0=500000 +y_0=0 +datum=WGS84 +units=m +no_defs', name: 'user-defined', geographic: false }))!;
    const ring = Float64Array.from([500000, 4000000]);
    utm(ring);
    expect(ring[0]).toBeCloseTo(-75, 9);
    expect(ring[1]).toBeCloseTo(36.1447181, 6);
  });

  it('shifts NAD27 to WGS 84 (proj4js has no NADCON grids) to within a few metres of GDAL', async () => {
    // geotrellis__cea.tif: CEA on NAD27 from GeoKeys; GDAL (PROJ with grids) puts its corner at the reference.
    const cea = (await toGeographic({ proj4: '+proj=cea +lat_ts=33.75 +lon_0=-117.333333333333 +x_0=0 +y_0=0 +datum=NAD27 +units=m +no_defs', name: 'unnamed', geographic: false }))!;
    const ring = Float64Array.from([-28493.166784412, 4255884.5438021]);
    cea(ring);
    expect(Math.abs(ring[0]! - -117.641721475391)).toBeLessThan(3e-5);
    expect(Math.abs(ring[1]! - 33.9438318680263)).toBeLessThan(3e-5);
  });

  it('keeps other planets on their own ellipsoid', async () => {
    const mars = (await toGeographic({ proj4: '+proj=eqc +lat_ts=0 +lat_0=0 +lon_0=0 +x_0=0 +y_0=0 +R=3396190 +units=m +no_defs', name: 'Mars', geographic: false, nonEarth: true }))!;
    const ring = Float64Array.from([(3396190 * Math.PI) / 180, 0]);
    mars(ring);
    expect(ring[0]).toBeCloseTo(1, 9);
  });

  it('winds shells counter-clockwise and holes clockwise (y north)', async () => {
    const shell = Float64Array.from([0, 0, 0, 1, 1, 1, 1, 0]); // clockwise
    const hole = Float64Array.from([0.2, 0.2, 0.4, 0.2, 0.4, 0.4]); // counter-clockwise
    orientRings([shell, hole]);
    expect(shoelace(shell)).toBeGreaterThan(0);
    expect(shoelace(hole)).toBeLessThan(0);
  });

  it('converts projected areas with the CRS unit', async () => {
    const feet = await pixelAreaFunction([0, 10, 0, 0, 0, -10], { width: 1, height: 1 }, { proj4: '+proj=tmerc +lat_0=0 +lon_0=-75 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=us-ft +no_defs', name: 'ft', geographic: false });
    expect(feet(Int32Array.from([0, 0, 1, 0, 1, 1, 0, 1]))).toBeCloseTo(100 * 0.3048006096012192 ** 2, 9);
  });
});

describe('area: ellipsoids read from the definition agree with proj4', () => {
  it.each([
    '+proj=longlat +datum=WGS84 +no_defs', '+proj=longlat +ellps=GRS80 +no_defs', '+proj=longlat +datum=NAD27 +no_defs',
    '+proj=longlat +a=6378137 +rf=298.257223563 +no_defs', '+proj=longlat +ellps=bessel +towgs84=598.1,73.7,418.2 +no_defs',
    '+proj=longlat +R=3396190 +no_defs', '+proj=longlat +ellps=aust_SA +no_defs',
  ])('%s', async (def) => {
    const { default: proj4 } = await import('proj4');
    const p = proj4.Proj(def) as unknown as { a: number; es: number };
    // One 1° pixel from (10°E, 41°N) to (11°E, 40°N).
    const ours = await pixelAreaFunction([10, 1, 0, 41, 0, -1], { width: 1, height: 1 }, { proj4: def, name: def, geographic: true });
    const cell = Int32Array.from([0, 0, 1, 0, 1, 1, 0, 1]);
    // Reference: the same authalic formula with proj4's own a and e².
    const e = Math.sqrt(p.es);
    const q = (deg: number) => {
      const s = Math.sin((deg * Math.PI) / 180);
      return e ? (1 - p.es) * (s / (1 - p.es * s * s) - Math.log((1 - e * s) / (1 + e * s)) / (2 * e)) : 2 * s;
    };
    const expected = ((p.a * p.a) / 2) * (q(41) - q(40)) * (Math.PI / 180);
    expect(ours(cell) / expected).toBeCloseTo(1, 9);
  });
});
