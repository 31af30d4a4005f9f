/**
 * The class-mask contract, in one place: how a satseg mask says what its values mean. A mask is a
 * uint8 COG, nodata 255, with a palette (one colour per class) and GDAL metadata items
 * CLASS_NAMES and CLASS_COLORS (JSON lists indexed by class id), CLASS_<id> (for tools that read
 * plain items), MODEL and SOURCE. Overviews use the mode, never an average: averaging two class
 * ids would invent a third class. Written here, read back by classMaskMetadata().
 */
import type { Crs, GeoKeyTags, GeoTransform, RasterInfo } from '../read/raster.ts';
import { hexToRgb } from '../infer/model-spec.ts';
import { CogWriter } from './cog-writer.ts';

export const MASK_NODATA = 255;

export interface ClassMaskMetadata {
  classNames: string[];
  classColors: string[];
  model: string | null;
  source: string | null;
}

export interface ClassMaskTarget {
  width: number;
  height: number;
  geoTransform: GeoTransform;
  crs: Crs;
}

/** The GeoKeys to write: the source's own tags when known, else its EPSG code. */
export function geoKeysOf(crs: Crs): GeoKeyTags | { epsg: number; geographic: boolean } {
  return crs.geoKeys ?? { epsg: crs.epsg ?? 4326, geographic: crs.geographic };
}

export function classMaskItems(meta: ClassMaskMetadata, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CLASS_NAMES: JSON.stringify(meta.classNames),
    CLASS_COLORS: JSON.stringify(meta.classColors),
    ...(meta.model ? { MODEL: meta.model } : {}),
    ...(meta.source ? { SOURCE: meta.source } : {}),
    ...Object.fromEntries(meta.classNames.map((n, i) => [`CLASS_${i}`, n])),
    ...extra,
  };
}

/** A streaming writer for a class mask (rows top to bottom; see CogWriter). */
function onGrid(target: ClassMaskTarget) {
  return { width: target.width, height: target.height, geoTransform: target.geoTransform, geoKeys: geoKeysOf(target.crs), blockSize: 512 };
}

export function createClassMaskWriter(file: string, target: ClassMaskTarget, meta: ClassMaskMetadata, extra: Record<string, string> = {}, colorMap?: Array<[number, number, number]>): Promise<CogWriter> {
  return CogWriter.create(file, {
    ...onGrid(target),
    nodata: MASK_NODATA,
    overviewResampling: 'mode',
    colorMap: colorMap ?? meta.classColors.map(hexToRgb),
    bandDescription: 'class',
    metadata: classMaskItems(meta, extra),
  });
}

/** A confidence raster (max probability x 255, 0 = nodata) beside a mask. */
export function createConfidenceWriter(file: string, target: ClassMaskTarget): Promise<CogWriter> {
  return CogWriter.create(file, {
    ...onGrid(target),
    nodata: 0,
    overviewResampling: 'average',
    bandDescription: 'confidence (max probability x 255)',
  });
}

/** A JSON list of strings from a metadata item, or null. */
export function jsonList(text: string | undefined): string[] | null {
  if (!text) return null;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
}

/** What a satseg mask says of its classes; null for rasters that are not satseg masks. */
export function classMaskMetadata(info: Pick<RasterInfo, 'metadata'>): ClassMaskMetadata | null {
  const names = jsonList(info.metadata.CLASS_NAMES);
  if (!names) return null;
  return {
    classNames: names,
    classColors: jsonList(info.metadata.CLASS_COLORS) ?? [],
    model: info.metadata.MODEL ?? null,
    source: info.metadata.SOURCE ?? null,
  };
}
