/**
 * What to do with a CRS whose datum shift needs a grid file we do not have. The one place that decides.
 *
 * The EPSG registry (epsg-index) spells many older datums with `+nadgrids=` (NAD27, OSGB36, DHDN,
 * NZGD49, AGD84, ...), and proj4js spells `+datum=NAD27` with optional NADCON grids. This project
 * loads no grid into proj4js (grids are megabytes each, licensed per country), so every grid named
 * is missing. proj4js then fails on a mandatory grid (every point NaN: a dataset gets no bounds and
 * no tiles) and silently skips an optional one (no shift at all, ~100 m off in the US).
 * PROJ without its grids falls back to a Helmert transformation, or to none ("ballpark"); we do the
 * same, with the datum's published EPSG Helmert where there is one, and say so on the Crs.
 *
 * Grid-based datums in epsg-index 2.0.0 (found by scanning node_modules/epsg-index/s/*.json for
 * +nadgrids; 311 definitions) and the Helmert each falls back to, taken from PROJ's proj.db (EPSG
 * dataset). towgs84 is proj's position-vector convention: rotations of EPSG's coordinate-frame
 * methods (9607) are negated. Where EPSG has several, the one whose area is the datum's whole area
 * (or the bulk of it) is chosen, as PROJ does without an area of interest.
 *
 * | datum (EPSG)          | grid named                  | towgs84                                                    | EPSG transformation (accuracy, area)            |
 * |-----------------------|-----------------------------|------------------------------------------------------------|-------------------------------------------------|
 * | NAD27 (4267)          | NTv2_0.gsb; proj4js NADCON  | -8,160,176                                                 | 1173 NAD27 to WGS 84 (4) (10 m, CONUS)           |
 * | OSGB36 (4277)         | OSTN15_NTv2_OSGBtoETRS.gsb  | 446.448,-125.157,542.06,0.15,0.247,0.842,-20.489           | 1314 OSGB36 to WGS 84 (6) (2 m, Great Britain)   |
 * | DHDN (4314)           | BETA2007.gsb                | 598.1,73.7,418.2,0.202,0.045,-2.455,6.7                    | 1777 DHDN to WGS 84 (2) (3 m, West Germany)      |
 * | PD/83 (4746)          | BETA2007.gsb                | 599.4,72.4,419.2,-0.062,-0.022,-2.723,6.46                 | 15867 PD/83 to ETRS89 (1) (1 m, Thuringen)       |
 * | RD/83 (4745)          | BETA2007.gsb                | 612.4,77,440.2,-0.054,0.057,-2.797,2.55                    | 15868 RD/83 to ETRS89 (1) (1 m, Saxony)          |
 * | NZGD49 (4272)         | nzgd2kgrid0005.gsb          | 59.47,-5.04,187.44,0.47,-0.1,1.024,-4.5993                 | 1564 NZGD49 to WGS 84 (2) (4 m, New Zealand)     |
 * | AGD84 (4203)          | National 84 (02.07.01).gsb  | -117.763,-51.51,139.061,0.292,0.443,0.277,-0.191           | 1669 AGD84 to WGS 84 (7) (3 m, AGD84 area)       |
 * | Corrego Alegre 1970-72 (4225) | CA7072_003.gsb      | -205.57,168.77,-4.12                                       | 6192 Corrego Alegre 1970-72 to WGS 84 (3) (5 m)  |
 * | NAD27(76) (4608)      | May76v20.gsb                | none: EPSG has only grid-based transformations             |                                                 |
 * | NAD27(CGQ77) (4609)   | CQ77NA83.GSB                | none: EPSG has only grid-based transformations             |                                                 |
 * | ATS77 (4122)          | NB7783v2.gsb                | none: EPSG has only grid-based transformations             |                                                 |
 * | Corrego Alegre 1961 (5524) | CA61_003.gsb           | none: EPSG has only a grid-based transformation            |                                                 |
 * ETRS89 and WGS 84 agree to about a metre, which is why the ETRS89 Helmerts of PD/83 and RD/83 stand in.
 */
import type { Crs, DatumShift } from './raster.ts';

interface GridDatum {
  /** The datum's name as users know it. */
  datum: string;
  /** Grid file names (lower case) the registry names for this datum. */
  grids: string[];
  /** The registry WKT's DATUM name, to tell apart datums sharing a grid (BETA2007.gsb). */
  wktDatum: string;
  towgs84: string | null;
  /** Where towgs84 comes from, or why there is none. */
  source: string;
}

function gridOnly(datum: string, grid: string, wktDatum: string): GridDatum {
  return { datum, grids: [grid], wktDatum, towgs84: null, source: 'EPSG publishes only grid-based transformations for it' };
}

const GRID_DATUMS: GridDatum[] = [
  { datum: 'NAD27', grids: ['ntv2_0.gsb', 'conus', 'alaska', 'ntv1_can.dat'], wktDatum: 'North_American_Datum_1927', towgs84: '-8,160,176',
    source: 'EPSG:1173 (NAD27 to WGS 84 (4), about 10 m in the conterminous US, worse outside it)' },
  { datum: 'OSGB36', grids: ['ostn15_ntv2_osgbtoetrs.gsb'], wktDatum: 'Ordnance_Survey_of_Great_Britain_1936', towgs84: '446.448,-125.157,542.06,0.15,0.247,0.842,-20.489',
    source: 'EPSG:1314 (OSGB36 to WGS 84 (6), about 2 m in Great Britain)' },
  { datum: 'DHDN', grids: ['beta2007.gsb'], wktDatum: 'Deutsches_Hauptdreiecksnetz', towgs84: '598.1,73.7,418.2,0.202,0.045,-2.455,6.7',
    source: 'EPSG:1777 (DHDN to WGS 84 (2), about 3 m in former West Germany, worse in the east)' },
  { datum: 'PD/83', grids: ['beta2007.gsb'], wktDatum: 'Potsdam_Datum_83', towgs84: '599.4,72.4,419.2,-0.062,-0.022,-2.723,6.46',
    source: 'EPSG:15867 (PD/83 to ETRS89 (1), about 1 m in Thuringen)' },
  { datum: 'RD/83', grids: ['beta2007.gsb'], wktDatum: 'Rauenberg_Datum_83', towgs84: '612.4,77,440.2,-0.054,0.057,-2.797,2.55',
    source: 'EPSG:15868 (RD/83 to ETRS89 (1), about 1 m in Saxony)' },
  { datum: 'NZGD49', grids: ['nzgd2kgrid0005.gsb'], wktDatum: 'New_Zealand_Geodetic_Datum_1949', towgs84: '59.47,-5.04,187.44,0.47,-0.1,1.024,-4.5993',
    source: 'EPSG:1564 (NZGD49 to WGS 84 (2), about 4 m in New Zealand)' },
  { datum: 'AGD84', grids: ['national 84 (02.07.01).gsb'], wktDatum: 'Australian_Geodetic_Datum_1984', towgs84: '-117.763,-51.51,139.061,0.292,0.443,0.277,-0.191',
    source: 'EPSG:1669 (AGD84 to WGS 84 (7), about 3 m)' },
  { datum: 'Corrego Alegre 1970-72', grids: ['ca7072_003.gsb'], wktDatum: 'Corrego_Alegre_1970-72', towgs84: '-205.57,168.77,-4.12',
    source: 'EPSG:6192 (Corrego Alegre 1970-72 to WGS 84 (3), about 5 m)' },
  gridOnly('NAD27(76)', 'may76v20.gsb', 'North_American_Datum_1927_1976'),
  gridOnly('NAD27(CGQ77)', 'cq77na83.gsb', 'North_American_Datum_1927_CGQ77'),
  gridOnly('ATS77', 'nb7783v2.gsb', 'Average_Terrestrial_System_1977'),
  gridOnly('Corrego Alegre 1961', 'ca61_003.gsb', 'Corrego_Alegre_1961'),
];

/** proj4js's own +datum=NAD27 names these optional grids (lib/constants/Datum.js). */
const NAD27_IMPLICIT_GRIDS = ['@conus', '@alaska', '@ntv2_0.gsb', '@ntv1_can.dat'];

// Quoted values occur: AGD84's grid is "National 84 (02.07.01).gsb".
const NADGRIDS = /\s*\+nadgrids=("[^"]*"|\S+)/;
const NAD27_DATUM = /\+datum=NAD27\b/i;

function namedGrids(def: string): string[] | null {
  const m = NADGRIDS.exec(def);
  if (m) return m[1]!.replace(/^"|"$/g, '').split(',').map((g) => g.trim()).filter(Boolean);
  return NAD27_DATUM.test(def) ? NAD27_IMPLICIT_GRIDS : null;
}

/** The DATUM["..."] name of a WKT1 definition, to pass to datumShiftFor. */
export function wktDatumName(wkt: string | undefined | null): string | undefined {
  return wkt ? /DATUM\["([^"]+)"/.exec(wkt)?.[1] : undefined;
}

/**
 * The fallback for a definition whose datum shift names grids (all missing here), or undefined when
 * it names none. `datumName` (the WKT DATUM name) picks between datums that share a grid.
 */
export function datumShiftFor(proj4: string, datumName?: string): DatumShift | undefined {
  if (/\+towgs84=/.test(proj4)) return undefined;
  const grids = namedGrids(proj4);
  // @null is proj's "no shift" marker (Web Mercator), not a file.
  const missing = (grids ?? []).filter((g) => g.replace(/^@/, '').toLowerCase() !== 'null');
  if (missing.length === 0) return undefined;
  const names = missing.map((g) => g.replace(/^@/, '').toLowerCase());
  const candidates = GRID_DATUMS.filter((d) => d.grids.some((g) => names.includes(g)));
  const known = candidates.find((d) => d.wktDatum === datumName) ?? candidates[0];
  const gridList = missing.map((g) => g.replace(/^@/, '')).join(', ');
  const what = `${known?.datum ?? datumName ?? 'this datum'}: datum grid${missing.length > 1 ? 's' : ''} ${gridList} ${missing.length > 1 ? 'are' : 'is'} not available`;
  if (known?.towgs84) {
    return { kind: 'helmert', missingGrids: missing, towgs84: known.towgs84, note: `${what}; using the Helmert shift ${known.source} instead` };
  }
  const why = known ? known.source : 'no published Helmert shift is known to satseg';
  return {
    kind: 'none',
    missingGrids: missing,
    note: `${what} and ${why}; coordinates are used without a datum shift (PROJ's "ballpark"), so positions may be off by tens to hundreds of metres`,
  };
}

/** The definition to hand proj4js: grids replaced by the decided Helmert, or dropped. */
export function applyDatumShift(proj4: string, shift: DatumShift | undefined): string {
  if (!shift) return proj4;
  let def = proj4.replace(NADGRIDS, '').replace(NAD27_DATUM, '+ellps=clrk66');
  // Without +datum or +towgs84, proj4js does no datum shift: the lon/lat pass through, as in PROJ's ballpark.
  if (shift.kind === 'helmert' && shift.towgs84) def += ` +towgs84=${shift.towgs84}`;
  return def.replace(/\s+/g, ' ').trim();
}

/** The definition to transform a CRS with; CRSs read before datumShift existed are decided here too. */
export function transformableProj4(crs: Pick<Crs, 'proj4' | 'datumShift'>): string {
  return applyDatumShift(crs.proj4, crs.datumShift ?? datumShiftFor(crs.proj4));
}
