/** A CRS as people name it: "EPSG:32633", else its name. */
export function crsLabel(crs: Crs): string {
  return crs.epsg ? `EPSG:${crs.epsg}` : crs.name;
}

/**
 * Coordinate reference systems from GeoTIFF GeoKeys.
 *
 * An EPSG code is looked up in the EPSG registry (epsg-index, one small JSON file per code, so the
 * 40 MB index is never loaded whole). A user-defined CRS is rebuilt from its projection parameters,
 * the same way GDAL's GeoTIFF driver does, so that non-EPSG rasters (Albers, CEA, planetary, ...)
 * still reproject.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import type { Crs } from './raster.ts';
import { RasterError } from '../errors.ts';
import { trimTrailing } from '../trim-trailing.ts';
import { datumShiftFor, wktDatumName } from './datum-shift.ts';

const require = createRequire(import.meta.url);
const USER_DEFINED = 32767;

interface EpsgEntry {
  code: string;
  kind: string;
  name: string;
  proj4: string;
  wkt: string;
}

const epsgCache = new Map<number, EpsgEntry | null>();

export function lookupEpsg(code: number): EpsgEntry | null {
  if (epsgCache.has(code)) return epsgCache.get(code)!;
  let entry: EpsgEntry | null = null;
  try {
    const file = require.resolve(`epsg-index/s/${code}.json`);
    entry = JSON.parse(fs.readFileSync(file, 'utf8')) as EpsgEntry;
  } catch {
    entry = null;
  }
  epsgCache.set(code, entry);
  return entry;
}

function cleanProj4(def: string): string {
  return def.replace(/\s*\+type=crs/g, '').trim();
}

/** The CRS with the fallback for any datum grid its definition names (we have none; see datum-shift.ts). */
function withDatumShift(crs: Crs, datumName?: string): Crs {
  const datumShift = datumShiftFor(crs.proj4, datumName);
  return datumShift ? { ...crs, datumShift } : crs;
}

function isNonEarth(semiMajor: number | undefined): boolean {
  return semiMajor !== undefined && (semiMajor < 6.3e6 || semiMajor > 6.4e6);
}

export function crsFromEpsg(code: number): Crs {
  const entry = lookupEpsg(code);
  if (!entry || !entry.proj4) {
    throw new RasterError('unsupported-crs', `EPSG:${code} is not in the EPSG registry we ship`);
  }
  return withDatumShift({
    epsg: code,
    proj4: cleanProj4(entry.proj4),
    name: entry.name,
    geographic: entry.kind === 'CRS-GEOGCRS' || /\+proj=longlat/.test(entry.proj4),
  }, wktDatumName(entry.wkt));
}

type GeoKeys = Record<string, number | string | number[] | undefined>;

function num(keys: GeoKeys, ...names: string[]): number | undefined {
  for (const n of names) {
    const v = keys[n];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

/** The datum/ellipsoid part of a proj4 definition ("+datum=NAD83", "+a=... +rf=..."). */
function geodeticPart(keys: GeoKeys): { def: string; semiMajor?: number; datumName?: string } {
  const gcs = num(keys, 'GeographicTypeGeoKey');
  // proj's named datums, as GDAL writes them; the registry spells these with grids or towgs84.
  const namedDatums: Record<number, string> = { 4326: '+datum=WGS84', 4269: '+datum=NAD83', 4267: '+datum=NAD27' };
  if (gcs !== undefined && namedDatums[gcs]) return { def: namedDatums[gcs]!, semiMajor: 6378137 };
  if (gcs !== undefined && gcs !== USER_DEFINED) {
    const entry = lookupEpsg(gcs);
    if (entry?.proj4) {
      const def = cleanProj4(entry.proj4).replace('+proj=longlat', '').replace('+no_defs', '').trim();
      const a = /\+a=([\d.eE+-]+)/.exec(def);
      return { def, semiMajor: a ? Number(a[1]) : 6378137, datumName: wktDatumName(entry.wkt) };
    }
  }
  const a = num(keys, 'GeogSemiMajorAxisGeoKey');
  const b = num(keys, 'GeogSemiMinorAxisGeoKey');
  const rf = num(keys, 'GeogInvFlatteningGeoKey');
  const ellipsoid = num(keys, 'GeogEllipsoidGeoKey');
  if (a !== undefined) {
    if (rf !== undefined && rf !== 0) return { def: `+a=${a} +rf=${rf}`, semiMajor: a };
    if (b !== undefined && b !== a) return { def: `+a=${a} +b=${b}`, semiMajor: a };
    return { def: `+R=${a}`, semiMajor: a };
  }
  const knownEllipsoids: Record<number, string> = {
    7030: '+ellps=WGS84', 7019: '+ellps=GRS80', 7008: '+ellps=clrk66', 7004: '+ellps=bessel', 7022: '+ellps=intl',
  };
  if (ellipsoid !== undefined && knownEllipsoids[ellipsoid]) return { def: knownEllipsoids[ellipsoid], semiMajor: 6378137 };
  const datum = num(keys, 'GeogGeodeticDatumGeoKey');
  const knownDatums: Record<number, string> = { 6326: '+datum=WGS84', 6269: '+datum=NAD83', 6267: '+datum=NAD27' };
  if (datum !== undefined && knownDatums[datum]) return { def: knownDatums[datum], semiMajor: 6378137 };
  return { def: '+datum=WGS84', semiMajor: 6378137 };
}

/** Metres in one EPSG linear unit (ProjLinearUnitsGeoKey): every EPSG length unit PROJ knows (proj.db). */
const LINEAR_UNIT_METRES: Record<number, number> = {
  1025: 0.001, 1026: 1.0, 1027: 3.168876517273149e-11, 1033: 0.01, 1034: 3.1688765172731484e-10,
  1042: 3.1688765172731486e-08, 9001: 1.0, 9002: 0.3048, 9003: 0.30480060960121924, 9005: 0.3047972654, 9014: 1.8288,
  9030: 1852.0, 9031: 1.0000135965, 9033: 20.11684023368047, 9034: 0.2011684023368047, 9035: 1609.3472186944375,
  9036: 1000.0, 9037: 0.9143917962, 9038: 20.1166195164, 9039: 0.201166195164, 9040: 0.9143984146160287,
  9041: 0.3047994715386762, 9042: 20.116765121552632, 9043: 0.2011676512155263, 9050: 0.9143992,
  9051: 0.3047997333333333, 9052: 20.1167824, 9053: 0.201167824, 9060: 0.9143992042898124, 9061: 0.30479973476327077,
  9062: 20.116782494375872, 9063: 0.2011678249437587, 9070: 0.30480083333333335, 9080: 0.30479951024814694,
  9081: 0.30479841, 9082: 0.3047996, 9083: 0.3047995, 9084: 0.9143985307444408, 9085: 0.91439523, 9086: 0.9143988,
  9087: 0.9143985, 9093: 1609.344, 9094: 0.3047997101815088, 9095: 0.3048007491, 9096: 0.9144, 9097: 20.1168,
  9098: 0.201168, 9099: 0.914398, 9300: 0.30479933333333337, 9301: 20.116756, 9302: 0.20116756,
};

/**
 * Metres in one linear unit of a user-defined projected CRS: the unit's code, else its size key.
 * An unknown code without a size was taken for metres: a kilometre grid became a 5 m patch.
 */
function linearUnitMetres(keys: GeoKeys): number {
  const code = num(keys, 'ProjLinearUnitsGeoKey');
  const size = num(keys, 'ProjLinearUnitSizeGeoKey');
  if (code === undefined) return 1;
  const metres = LINEAR_UNIT_METRES[code] ?? (size && size > 0 ? size : undefined);
  if (metres === undefined) throw new RasterError('unsupported-crs', `unsupported CRS: linear unit ${code} is unknown and the file gives no ProjLinearUnitSizeGeoKey`);
  return metres;
}

/** proj4's unit for a projected CRS whose unit is `metres` long. */
function unitsPart(metres: number): string {
  return metres === 1 ? '+units=m' : `+to_meter=${metres}`;
}

/**
 * proj4 projection parameters for GeoTIFF coordinate transformation codes (ProjCoordTransGeoKey).
 * False eastings and northings are in the CRS's own unit in GeoTIFF, in metres in proj4
 * (`metres`: one unit's length): a US-feet grid was placed 1,350 km away.
 */
function projectionPart(keys: GeoKeys, metres: number): string | null {
  const ct = num(keys, 'ProjCoordTransGeoKey');
  const lat0 = num(keys, 'ProjNatOriginLatGeoKey', 'ProjFalseOriginLatGeoKey', 'ProjCenterLatGeoKey') ?? 0;
  const lon0 = num(keys, 'ProjNatOriginLongGeoKey', 'ProjFalseOriginLongGeoKey', 'ProjCenterLongGeoKey') ?? 0;
  const centerLat = num(keys, 'ProjCenterLatGeoKey', 'ProjNatOriginLatGeoKey', 'ProjFalseOriginLatGeoKey') ?? 0;
  const centerLon = num(keys, 'ProjCenterLongGeoKey', 'ProjNatOriginLongGeoKey', 'ProjFalseOriginLongGeoKey') ?? 0;
  const x0 = (num(keys, 'ProjFalseEastingGeoKey', 'ProjFalseOriginEastingGeoKey', 'ProjCenterEastingGeoKey') ?? 0) * metres;
  const y0 = (num(keys, 'ProjFalseNorthingGeoKey', 'ProjFalseOriginNorthingGeoKey', 'ProjCenterNorthingGeoKey') ?? 0) * metres;
  const k = num(keys, 'ProjScaleAtNatOriginGeoKey', 'ProjScaleAtCenterGeoKey') ?? 1;
  const sp1 = num(keys, 'ProjStdParallel1GeoKey');
  const sp2 = num(keys, 'ProjStdParallel2GeoKey');
  const fe = `+x_0=${x0} +y_0=${y0}`;
  switch (ct) {
    case 1: return `+proj=tmerc +lat_0=${lat0} +lon_0=${lon0} +k=${k} ${fe}`;
    case 27: return `+proj=tmerc +lat_0=${lat0} +lon_0=${lon0} +k=${k} ${fe} +axis=wsu`;
    case 3: {
      const alpha = num(keys, 'ProjAzimuthAngleGeoKey') ?? 0;
      const gamma = num(keys, 'ProjRectifiedGridAngleGeoKey') ?? alpha;
      return `+proj=omerc +lat_0=${centerLat} +lonc=${centerLon} +alpha=${alpha} +gamma=${gamma} +k=${k} ${fe}`;
    }
    case 7: return sp1 !== undefined
      ? `+proj=merc +lon_0=${lon0} +lat_ts=${sp1} ${fe}`
      : `+proj=merc +lon_0=${lon0} +k=${k} ${fe}`;
    case 8: return `+proj=lcc +lat_0=${lat0} +lon_0=${lon0} +lat_1=${sp1 ?? lat0} +lat_2=${sp2 ?? sp1 ?? lat0} ${fe}`;
    case 9: return `+proj=lcc +lat_1=${lat0} +lat_0=${lat0} +lon_0=${lon0} +k_0=${k} ${fe}`;
    case 10: return `+proj=laea +lat_0=${centerLat} +lon_0=${centerLon} ${fe}`;
    case 11: return `+proj=aea +lat_0=${lat0} +lon_0=${lon0} +lat_1=${sp1 ?? 0} +lat_2=${sp2 ?? 0} ${fe}`;
    case 12: return `+proj=aeqd +lat_0=${centerLat} +lon_0=${centerLon} ${fe}`;
    case 13: return `+proj=eqdc +lat_0=${lat0} +lon_0=${lon0} +lat_1=${sp1 ?? 0} +lat_2=${sp2 ?? 0} ${fe}`;
    case 14: return `+proj=stere +lat_0=${centerLat} +lon_0=${centerLon} +k=${k} ${fe}`;
    case 15: {
      const latTs = num(keys, 'ProjNatOriginLatGeoKey', 'ProjStdParallel1GeoKey') ?? 90;
      const lonPole = num(keys, 'ProjStraightVertPoleLongGeoKey', 'ProjNatOriginLongGeoKey') ?? 0;
      return `+proj=stere +lat_0=${latTs >= 0 ? 90 : -90} +lat_ts=${latTs} +lon_0=${lonPole} +k=${k} ${fe}`;
    }
    case 16: return `+proj=sterea +lat_0=${lat0} +lon_0=${lon0} +k=${k} ${fe}`;
    case 17: return `+proj=eqc +lat_ts=${sp1 ?? 0} +lat_0=${centerLat} +lon_0=${centerLon} ${fe}`;
    case 18: return `+proj=cass +lat_0=${lat0} +lon_0=${lon0} ${fe}`;
    case 19: return `+proj=gnom +lat_0=${centerLat} +lon_0=${centerLon} ${fe}`;
    case 20: return `+proj=mill +lat_0=${centerLat} +lon_0=${centerLon} ${fe}`;
    case 21: return `+proj=ortho +lat_0=${centerLat} +lon_0=${centerLon} ${fe}`;
    case 22: return `+proj=poly +lat_0=${lat0} +lon_0=${lon0} ${fe}`;
    case 23: return `+proj=robin +lon_0=${centerLon} ${fe}`;
    case 24: return `+proj=sinu +lon_0=${centerLon} ${fe}`;
    case 25: return `+proj=vandg +lon_0=${centerLon} ${fe}`;
    case 26: return `+proj=nzmg +lat_0=${lat0} +lon_0=${lon0} ${fe}`;
    case 28: return `+proj=cea +lat_ts=${sp1 ?? 0} +lon_0=${lon0} ${fe}`;
    default: return null;
  }
}

/** A tiny WKT1 reader, enough for the ESRI PE strings GDAL stores in citations. */
interface WktNode { name: string; args: Array<string | number | WktNode> }

/**
 * Bounds on a PE string: real ones are under 2 KB and nest 4 deep. The text comes from a file's
 * GeoKeys, so a malformed one must fail, never loop: an unterminated quote once sent the reader
 * back to the start for ever, and the server died out of memory on an upload of 66 KB.
 */
const WKT_MAX_CHARS = 16_384;
const WKT_MAX_DEPTH = 16;

function badPeString(why: string): RasterError {
  return new RasterError('unsupported-crs', `invalid ESRI PE string in the GeoTIFF citation: ${why}`);
}

function parseWkt(text: string): WktNode {
  if (text.length > WKT_MAX_CHARS) throw badPeString(`${text.length} characters, over ${WKT_MAX_CHARS}`);
  let i = 0;
  const ws = () => { while (i < text.length && /\s/.test(text[i]!)) i++; };
  // Every branch below consumes at least one character or throws.
  const node = (depth: number): WktNode => {
    if (depth > WKT_MAX_DEPTH) throw badPeString(`nested over ${WKT_MAX_DEPTH} deep`);
    ws();
    const start = i;
    while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
    const name = text.slice(start, i);
    ws();
    const args: WktNode['args'] = [];
    if (text[i] === '[' || text[i] === '(') {
      i++;
      for (;;) {
        ws();
        if (i >= text.length) throw badPeString('a bracket is never closed');
        if (text[i] === '"') {
          const end = text.indexOf('"', i + 1);
          if (end < 0) throw badPeString('a quoted string is never closed');
          args.push(text.slice(i + 1, end));
          i = end + 1;
        } else if (/[-+\d.]/.test(text[i]!)) {
          const s = i;
          while (i < text.length && /[-+\deE.]/.test(text[i]!)) i++;
          args.push(Number(text.slice(s, i)));
        } else {
          const before = i;
          const child = node(depth + 1);
          if (i === before) throw badPeString(`unexpected ${JSON.stringify(text[i])} at character ${i}`);
          args.push(child);
        }
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] !== ']' && text[i] !== ')') throw badPeString(i >= text.length ? 'a bracket is never closed' : `unexpected ${JSON.stringify(text[i])} at character ${i}`);
        i++;
        break;
      }
    }
    return { name, args };
  };
  return node(0);
}

/** `unitMetres`: one unit's length where the PE string gives none (the file's unit keys). */
function esriPeToProj4(wkt: string, unitMetres: () => number): string | null {
  const root = parseWkt(wkt);
  if (root.name !== 'PROJCS') return null;
  const child = (n: WktNode, name: string) => n.args.find((a): a is WktNode => typeof a === 'object' && a.name === name);
  const params = new Map<string, number>();
  for (const a of root.args) {
    if (typeof a === 'object' && a.name === 'PARAMETER') params.set(String(a.args[0]).toLowerCase(), Number(a.args[1]));
  }
  const projection = String(child(root, 'PROJECTION')?.args[0] ?? '');
  const spheroid = child(child(child(root, 'GEOGCS') ?? root, 'DATUM') ?? root, 'SPHEROID');
  const a = Number(spheroid?.args[1]);
  const rf = Number(spheroid?.args[2]);
  const ellps = Number.isFinite(a) ? (rf ? `+a=${a} +rf=${rf}` : `+R=${a}`) : '+datum=WGS84';
  const p = (k: string, d = 0) => params.get(k) ?? d;
  // Its false easting and northing are in its UNIT (feet in a State Plane PE string), proj4's in metres.
  const unit = Number(child(root, 'UNIT')?.args[1]);
  const metres = Number.isFinite(unit) && unit > 0 ? unit : unitMetres();
  const fe = `+x_0=${p('false_easting') * metres} +y_0=${p('false_northing') * metres}`;
  const units = unitsPart(metres);
  switch (projection) {
    case 'Geostationary_Satellite': {
      // ESRI's Option 0 sweeps around Y, which is proj's default.
      const sweep = p('option') === 1 ? ' +sweep=x' : '';
      return `+proj=geos +lon_0=${p('longitude_of_center', p('central_meridian'))} +h=${p('height')}${sweep} ${fe} ${ellps} ${units} +no_defs`;
    }
    case 'Transverse_Mercator':
      return `+proj=tmerc +lat_0=${p('latitude_of_origin')} +lon_0=${p('central_meridian')} +k=${p('scale_factor', 1)} ${fe} ${ellps} ${units} +no_defs`;
    case 'Mercator':
      return `+proj=merc +lon_0=${p('central_meridian')} +lat_ts=${p('standard_parallel_1')} ${fe} ${ellps} ${units} +no_defs`;
    case 'Sinusoidal':
      return `+proj=sinu +lon_0=${p('central_meridian')} ${fe} ${ellps} ${units} +no_defs`;
    case 'Equidistant_Cylindrical':
      return `+proj=eqc +lat_ts=${p('standard_parallel_1')} +lat_0=0 +lon_0=${p('central_meridian')} ${fe} ${ellps} ${units} +no_defs`;
    default:
      return null;
  }
}

/** Build the CRS of a GeoTIFF from its GeoKeys; throws a RasterError naming what is missing. */
export function crsFromGeoKeys(keys: GeoKeys | null): Crs {
  if (!keys) throw new RasterError('no-georeference', 'no CRS: the file has no GeoKeys');
  const model = num(keys, 'GTModelTypeGeoKey');
  const pcs = num(keys, 'ProjectedCSTypeGeoKey');
  const gcs = num(keys, 'GeographicTypeGeoKey');
  const citation = String(keys.PCSCitationGeoKey ?? keys.GTCitationGeoKey ?? 'unnamed');

  if (pcs !== undefined && pcs !== USER_DEFINED && pcs !== 0) return crsFromEpsg(pcs);
  if (model === 2 && gcs !== undefined && gcs !== USER_DEFINED) return crsFromEpsg(gcs);

  const pe = /ESRI PE String = (.*)$/s.exec(citation);
  if (pe) {
    const def = esriPeToProj4(trimTrailing(pe[1]!, '|'), () => linearUnitMetres(keys));
    const semiMajor = /\+(?:a|R)=([\d.eE+-]+)/.exec(def ?? '');
    if (def) return { proj4: def, name: /PROJCS\["([^"]*)"/.exec(pe[1]!)?.[1] ?? 'unnamed', geographic: false, nonEarth: isNonEarth(semiMajor ? Number(semiMajor[1]) : undefined) };
  }

  const geodetic = geodeticPart(keys);
  if (model === 2) {
    return withDatumShift({ proj4: `+proj=longlat ${geodetic.def} +no_defs`, name: String(keys.GeogCitationGeoKey ?? 'unnamed'), geographic: true, nonEarth: isNonEarth(geodetic.semiMajor) }, geodetic.datumName);
  }
  const metres = linearUnitMetres(keys);
  const projection = projectionPart(keys, metres);
  if (!projection) {
    const ct = num(keys, 'ProjCoordTransGeoKey');
    throw new RasterError('unsupported-crs', ct === undefined
      ? 'unsupported CRS: user-defined projection without ProjCoordTransGeoKey'
      : `unsupported CRS: GeoTIFF coordinate transformation ${ct} is not supported`);
  }
  return withDatumShift({
    proj4: `${projection} ${geodetic.def} ${unitsPart(metres)} +no_defs`,
    name: String(keys.GTCitationGeoKey ?? citation),
    geographic: false,
    nonEarth: isNonEarth(geodetic.semiMajor),
  }, geodetic.datumName);
}
