/**
 * CRSs whose datum shift needs a grid file proj4js does not have (NAD27, OSGB36, DHDN, ...): the
 * fallback each gets, that every such registry definition now transforms, and that a NAD27 raster's
 * WGS 84 bounds agree with GDAL's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crsFromEpsg, crsFromGeoKeys } from '../../server/src/read/crs.ts';
import { boundsWgs84, converter, transformableProj4, transformPoint, WGS84 } from '../../server/src/read/crs-transform.ts';
import { datumShiftFor } from '../../server/src/read/datum-shift.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { writeTestTiff } from '../fixtures/write-tiff.ts';
import { corpusDir, gdalSkipReason, readManifest, sharedSkipReason, skipWithoutGdal, skipWithoutShared } from '../helpers/shared-data.ts';

const require = createRequire(import.meta.url);
const registryDir = path.dirname(require.resolve('epsg-index/s/4326.json'));

// NAD27 / Illinois East is in US survey feet; this square (~61 km a side) lies in east-central Illinois.
const ILLINOIS_EAST_FT = { west: 400000, north: 1200000, east: 600000, south: 1000000 };

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-crs-grids-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

function squareTiff(file: string, epsg: number, ext = ILLINOIS_EAST_FT): void {
  const size = 16;
  const band = new Uint8Array(size * size).map((_, i) => i % 251);
  writeTestTiff(file, {
    width: size, height: size, bands: [band], epsg,
    geoTransform: [ext.west, (ext.east - ext.west) / size, 0, ext.north, 0, -(ext.north - ext.south) / size],
  });
}

/** A point near the middle of a registry definition's projection, as WGS 84 lon/lat. */
function centreLonLat(def: string): [number, number] {
  const param = (k: string) => Number(new RegExp(`\\+${k}=(\\S+)`).exec(def)?.[1] ?? Number.NaN);
  const zone = param('zone');
  const lon = Number.isFinite(zone) ? zone * 6 - 183 : param('lon_0');
  const lat = Number.isFinite(zone) ? (/\+south/.test(def) ? -30 : 30) : param('lat_0');
  return [Number.isFinite(lon) ? lon : 0, Number.isFinite(lat) ? lat : 0];
}

describe('datum grids we do not have: the fallback decision (no GDAL)', () => {
  it('proj4js cannot transform the registry definition of NAD27 / Illinois East as it stands', () => {
    const raw = crsFromEpsg(26771).proj4;
    expect(raw).toContain('+nadgrids=NTv2_0.gsb');
    const p = transformPoint(converter(raw, WGS84), 500000, 1100000);
    expect(p).toBeNull();
  });

  it('NAD27 falls back to EPSG:1173 (-8,160,176) and says so on the Crs', () => {
    const crs = crsFromEpsg(26771);
    expect(crs.datumShift).toMatchObject({ kind: 'helmert', towgs84: '-8,160,176', missingGrids: ['NTv2_0.gsb'] });
    expect(crs.datumShift!.note).toMatch(/NTv2_0\.gsb is not available.*EPSG:1173/);
    // The CRS keeps its registry definition; only the definition we transform with changes.
    expect(crs.proj4).toContain('+nadgrids=NTv2_0.gsb');
    expect(transformableProj4(crs)).not.toContain('nadgrids');
    expect(transformableProj4(crs)).toContain('+towgs84=-8,160,176');
  });

  it('proj4js\'s own +datum=NAD27 (optional NADCON grids, silently no shift) gets the same Helmert', () => {
    const shift = datumShiftFor('+proj=longlat +datum=NAD27 +no_defs');
    expect(shift).toMatchObject({ kind: 'helmert', towgs84: '-8,160,176' });
    const def = transformableProj4({ proj4: '+proj=longlat +datum=NAD27 +no_defs' });
    expect(def).toBe('+proj=longlat +ellps=clrk66 +no_defs +towgs84=-8,160,176');
  });

  it('datums sharing one grid (BETA2007.gsb) get their own Helmert, told apart by the WKT datum', () => {
    expect(crsFromEpsg(5677).datumShift?.towgs84).toBe('598.1,73.7,418.2,0.202,0.045,-2.455,6.7'); // DHDN
    expect(crsFromEpsg(3398).datumShift?.towgs84).toBe('612.4,77,440.2,-0.054,0.057,-2.797,2.55'); // RD/83
    expect(crsFromEpsg(3396).datumShift?.towgs84).toBe('599.4,72.4,419.2,-0.062,-0.022,-2.723,6.46'); // PD/83
  });

  it('a quoted grid name with spaces (AGD84) is read whole', () => {
    const crs = crsFromEpsg(20353);
    expect(crs.datumShift).toMatchObject({ kind: 'helmert', missingGrids: ['National 84 (02.07.01).gsb'] });
    expect(transformableProj4(crs)).not.toMatch(/nadgrids|National/);
  });

  it('a datum with no published Helmert (NAD27(76)) gets no shift, and the note says so', () => {
    const crs = crsFromEpsg(2017);
    expect(crs.datumShift?.kind).toBe('none');
    expect(crs.datumShift?.towgs84).toBeUndefined();
    expect(crs.datumShift?.note).toMatch(/without a datum shift.*ballpark/);
    expect(transformableProj4(crs)).not.toMatch(/nadgrids|towgs84/);
  });

  it('an unknown grid still falls back (to no shift) rather than failing', () => {
    const shift = datumShiftFor('+proj=longlat +ellps=intl +nadgrids=somewhere.gsb +no_defs');
    expect(shift).toMatchObject({ kind: 'none', missingGrids: ['somewhere.gsb'] });
    const p = transformPoint(converter(transformableProj4({ proj4: '+proj=longlat +ellps=intl +nadgrids=somewhere.gsb +no_defs' }), WGS84), 10, 50);
    expect(p).toEqual([10, 50]);
  });

  it('@null (Web Mercator) and plain WGS 84 / NAD83 need no fallback', () => {
    expect(crsFromEpsg(3857).datumShift).toBeUndefined();
    expect(crsFromEpsg(4326).datumShift).toBeUndefined();
    expect(crsFromEpsg(26914).datumShift).toBeUndefined();
  });

  it('the shift is the Helmert: NAD27 moves ~40 m from the unshifted position in Illinois', () => {
    const crs = crsFromEpsg(4267);
    const shifted = transformPoint(converter(transformableProj4(crs), WGS84), -88.3333333, 39.4128130)!;
    const unshifted = transformPoint(converter('+proj=longlat +ellps=clrk66 +no_defs', WGS84), -88.3333333, 39.4128130)!;
    const metres = Math.hypot((shifted[0] - unshifted[0]) * 111320 * Math.cos((39.41 * Math.PI) / 180), (shifted[1] - unshifted[1]) * 110540);
    // GDAL (EPSG:1173 too, gdaltransform -s_srs EPSG:4267 -t_srs EPSG:4326) gives -88.3333722, 39.4128528 here.
    expect(shifted[0]).toBeCloseTo(-88.3333722, 6);
    expect(shifted[1]).toBeCloseTo(39.4128528, 6);
    expect(metres).toBeGreaterThan(3);
  });

  it('every grid-based definition of the registry gets a fallback and transforms', () => {
    const codes = fs.readdirSync(registryDir).filter((f) => /^\d+\.json$/.test(f)).filter((f) => {
      const text = fs.readFileSync(path.join(registryDir, f), 'utf8');
      return text.includes('+nadgrids=') && !text.includes('+nadgrids=@null');
    }).map((f) => Number(f.replace('.json', '')));
    expect(codes.length).toBeGreaterThan(300);
    const failures: string[] = [];
    const kinds = { helmert: 0, none: 0 };
    for (const code of codes) {
      const crs = crsFromEpsg(code);
      if (!crs.datumShift) { failures.push(`EPSG:${code} no fallback`); continue; }
      kinds[crs.datumShift.kind]++;
      const def = transformableProj4(crs);
      const [lon, lat] = centreLonLat(def);
      const there = transformPoint(converter(WGS84, def), lon, lat);
      const back = there && transformPoint(converter(def, WGS84), there[0], there[1]);
      if (!back || Math.abs(back[0] - lon) > 1e-6 || Math.abs(back[1] - lat) > 1e-6) failures.push(`EPSG:${code} ${def}`);
    }
    expect(failures).toEqual([]);
    expect(kinds.helmert).toBeGreaterThan(250);
    expect(kinds.none).toBeGreaterThan(0);
  });

  it('a NAD27 / Illinois East raster (crafted) has WGS 84 bounds in Illinois and carries the notice', async () => {
    const file = path.join(dir, 'illinois-east-crafted.tif');
    squareTiff(file, 26771);
    const source = await openRaster(file);
    try {
      const { info } = source;
      expect(info.crs.epsg).toBe(26771);
      expect(info.crs.datumShift?.kind).toBe('helmert');
      const b = boundsWgs84(info.geoTransform, info.width, info.height, info.crs);
      expect(b).not.toBeNull();
      const [w, s, e, n] = b!;
      expect(w).toBeGreaterThan(-89); expect(e).toBeLessThan(-87.5);
      expect(s).toBeGreaterThan(39); expect(n).toBeLessThan(40.5);
    } finally {
      await source.close();
    }
  });

  it('a user-defined CRS on a registry GCS with a grid (OSGB36) gets the fallback too', () => {
    const crs = crsFromGeoKeys({
      GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32767, GeographicTypeGeoKey: 4277, ProjCoordTransGeoKey: 1,
      ProjNatOriginLatGeoKey: 49, ProjNatOriginLongGeoKey: -2, ProjScaleAtNatOriginGeoKey: 0.9996012717,
      ProjFalseEastingGeoKey: 400000, ProjFalseNorthingGeoKey: -100000, GTCitationGeoKey: 'BNG by hand',
    });
    expect(crs.datumShift).toMatchObject({ kind: 'helmert', towgs84: '446.448,-125.157,542.06,0.15,0.247,0.842,-20.489' });
    // Trafalgar Square, roughly (530000 E, 180400 N), lands in London.
    const p = transformPoint(converter(transformableProj4(crs), WGS84), 530000, 180400)!;
    expect(p[0]).toBeCloseTo(-0.128, 2);
    expect(p[1]).toBeCloseTo(51.508, 2);
  });
});

interface GdalInfo { wgs84Extent: { coordinates: number[][][] } }

function gdalWgs84Extent(file: string): [number, number, number, number] {
  const info = JSON.parse(execFileSync('gdalinfo', ['-json', file], { encoding: 'utf8' })) as GdalInfo;
  const ring = info.wgs84Extent.coordinates[0]!;
  const xs = ring.map((p) => p[0]!);
  const ys = ring.map((p) => p[1]!);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

async function expectBoundsLikeGdal(file: string): Promise<void> {
  const source = await openRaster(file);
  try {
    const { info } = source;
    const ours = boundsWgs84(info.geoTransform, info.width, info.height, info.crs);
    expect(ours, 'bounds').not.toBeNull();
    const gdal = gdalWgs84Extent(file);
    const tolX = 0.01 * (gdal[2] - gdal[0]);
    const tolY = 0.01 * (gdal[3] - gdal[1]);
    [0, 2].forEach((i) => expect(Math.abs(ours![i]! - gdal[i]!), `lon ${i}: ours ${ours} GDAL ${gdal}`).toBeLessThan(tolX));
    [1, 3].forEach((i) => expect(Math.abs(ours![i]! - gdal[i]!), `lat ${i}: ours ${ours} GDAL ${gdal}`).toBeLessThan(tolY));
  } finally {
    await source.close();
  }
}

describe.skipIf(skipWithoutGdal)(`NAD27 bounds against GDAL ${gdalSkipReason}`, () => {
  it('a GeoTIFF given EPSG:26771 by gdal_translate: bounds within 1 % of gdalinfo\'s wgs84Extent, corners within a metre', async () => {
    const plain = path.join(dir, 'plain.tif');
    const file = path.join(dir, 'illinois-east-gdal.tif');
    squareTiff(plain, 32618);
    const { west, north, east, south } = ILLINOIS_EAST_FT;
    execFileSync('gdal_translate', ['-q', '-a_srs', 'EPSG:26771', '-a_ullr', String(west), String(north), String(east), String(south), plain, file]);
    await expectBoundsLikeGdal(file);

    // Corners through GDAL's own transformation (which, without NAD27 grids, is EPSG:1173 too).
    const corners = [[west, north], [east, north], [east, south], [west, south]];
    const out = execFileSync('gdaltransform', ['-s_srs', 'EPSG:26771', '-t_srs', 'EPSG:4326', '-output_xy'], { input: corners.map((c) => c.join(' ')).join('\n') + '\n', encoding: 'utf8' });
    const theirs = out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
    const source = await openRaster(file);
    const conv = converter(transformableProj4(source.info.crs), WGS84);
    await source.close();
    corners.forEach(([x, y], i) => {
      const ours = transformPoint(conv, x!, y!)!;
      const dx = (ours[0] - theirs[i]![0]!) * 111320 * Math.cos((ours[1] * Math.PI) / 180);
      const dy = (ours[1] - theirs[i]![1]!) * 110540;
      expect(Math.hypot(dx, dy), `corner ${i}`).toBeLessThan(1);
    });
  });
});

describe.skipIf(skipWithoutGdal || skipWithoutShared)(`a shared-corpus file on NAD27 ${gdalSkipReason || sharedSkipReason}`, () => {
  it('geotrellis__cea.tif (CEA on NAD27 from GeoKeys): Helmert notice, bounds within 1 % of GDAL', async () => {
    // The only corpus file on a grid-based datum (MANIFEST crs column; the others are WGS 84, NAD83,
    // SIRGAS 2000, NZGD2000 or non-Earth).
    const row = readManifest().find((r) => r.file === 'geotrellis__cea.tif');
    expect(row, `geotrellis__cea.tif in ${corpusDir}/MANIFEST.tsv`).toBeDefined();
    const source = await openRaster(row!.path);
    expect(source.info.crs.datumShift).toMatchObject({ kind: 'helmert', towgs84: '-8,160,176' });
    await source.close();
    await expectBoundsLikeGdal(row!.path);
  });
});

describe('user-defined projected CRSs in other units than metres', () => {
  // A transverse Mercator on WGS 84 whose false easting is 600,000 m, written in each unit.
  const tm = (unit: Record<string, number>, falseEasting: number) => crsFromGeoKeys({
    GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32767, GeographicTypeGeoKey: 4326, ProjCoordTransGeoKey: 1,
    ProjNatOriginLatGeoKey: 0, ProjNatOriginLongGeoKey: -99, ProjScaleAtNatOriginGeoKey: 0.9996,
    ProjFalseEastingGeoKey: falseEasting, ProjFalseNorthingGeoKey: 0, GTCitationGeoKey: 'TM by hand', ...unit,
  });
  // The central meridian at 47° N, in metres from the false origin: 600,000 m east.
  const northing = transformPoint(converter(WGS84, transformableProj4(tm({}, 600000))), -99, 47)![1];

  it.each([
    ['US survey feet (9003)', { ProjLinearUnitsGeoKey: 9003 }, 1200 / 3937],
    ['international feet (9002)', { ProjLinearUnitsGeoKey: 9002 }, 0.3048],
    ['kilometres (9036, no size key)', { ProjLinearUnitsGeoKey: 9036 }, 1000],
    ['a user-defined unit with its size', { ProjLinearUnitsGeoKey: 32767, ProjLinearUnitSizeGeoKey: 2 }, 2],
    ['German legal metres (9031, no size key)', { ProjLinearUnitsGeoKey: 9031 }, 1.0000135965],
  ] as const)('puts the central meridian where metres do, in %s (false easting in the file\'s unit)', (_, unit, metres) => {
    const crs = tm(unit, 600000 / metres);
    // Metres to the unit: the point 600,000 m east of the false origin, on the central meridian.
    const p = transformPoint(converter(transformableProj4(crs), WGS84), 600000 / metres, northing / metres)!;
    expect(p[0]).toBeCloseTo(-99, 6);
    expect(p[1]).toBeCloseTo(47, 6);
  });

  it('reads an ESRI PE string in US feet as the registry reads EPSG:3435 (its false easting is in feet)', () => {
    const pe = 'PROJCS["NAD_1983_StatePlane_Illinois_East_FIPS_1201_Feet",GEOGCS["GCS_North_American_1983",DATUM["D_North_American_1983",SPHEROID["GRS_1980",6378137.0,298.257222101]],'
      + 'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",984250.0],PARAMETER["False_Northing",0.0],'
      + 'PARAMETER["Central_Meridian",-88.33333333333333],PARAMETER["Scale_Factor",0.999975],PARAMETER["Latitude_Of_Origin",36.66666666666666],UNIT["Foot_US",0.3048006096012192]]';
    const registry = crsFromEpsg(3435);
    // With its UNIT, and without one where the file's unit key says US feet.
    const withoutUnit = pe.replace(',UNIT["Foot_US",0.3048006096012192]]', ']');
    for (const crs of [
      crsFromGeoKeys({ GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32767, PCSCitationGeoKey: `ESRI PE String = ${pe}` }),
      crsFromGeoKeys({ GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32767, ProjLinearUnitsGeoKey: 9003, PCSCitationGeoKey: `ESRI PE String = ${withoutUnit}` }),
    ]) {
      for (const [x, y] of [[984250, 1200000], [1100000, 1900000]] as const) {
        const ours = transformPoint(converter(transformableProj4(crs), WGS84), x, y)!;
        const theirs = transformPoint(converter(transformableProj4(registry), WGS84), x, y)!;
        expect(ours[0]).toBeCloseTo(theirs[0], 6);
        expect(ours[1]).toBeCloseTo(theirs[1], 6);
      }
    }
    expect(withoutUnit).not.toContain('Foot_US');
  });

  it('refuses a unit code it does not know when the file gives no size', () => {
    expect(() => tm({ ProjLinearUnitsGeoKey: 9999 }, 600000)).toThrow(/linear unit 9999 is unknown and the file gives no ProjLinearUnitSizeGeoKey/);
  });
});

describe.skipIf(skipWithoutGdal)(`projected CRSs in feet and kilometres against GDAL ${gdalSkipReason}`, () => {
  it.each([
    ['transverse Mercator in US feet', '+proj=tmerc +lat_0=0 +lon_0=-99 +k=0.9996 +x_0=600000 +y_0=0 +datum=WGS84 +units=us-ft +no_defs', 0.3048006096],
    ['Lambert conformal conic in feet', '+proj=lcc +lat_0=45 +lon_0=-100 +lat_1=44 +lat_2=48 +x_0=600000 +y_0=200000 +datum=NAD83 +units=ft +no_defs', 0.3048],
    ['transverse Mercator in kilometres', '+proj=tmerc +lat_0=0 +lon_0=-99 +k=0.9996 +x_0=600000 +y_0=0 +datum=WGS84 +units=km +no_defs', 1000],
  ] as const)('%s: bounds within 1 % of gdalinfo (they were 1,350 km away)', async (name, srs, metres) => {
    const plain = path.join(dir, `units-plain-${metres}.tif`);
    const file = path.join(dir, `units-${metres}.tif`);
    writeTestTiff(plain, { width: 100, height: 100, bands: [new Uint8Array(100 * 100).fill(7)] });
    // A 1 km square about 47° N, 99.2° W, in the CRS's unit.
    const [x, y] = transformPoint(converter(WGS84, srs), -99.2, 47)!;
    const side = 1000 / metres;
    execFileSync('gdal_translate', ['-q', '-a_srs', srs, '-a_ullr', String(x), String(y + side), String(x + side), String(y), plain, file]);
    await expectBoundsLikeGdal(file);
  });
});
