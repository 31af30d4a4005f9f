/**
 * Class names and colours of a mask for desktop GIS, as the files those tools look for beside it.
 *
 * The mask COG already carries a palette and CLASS_NAMES metadata, but GDAL, QGIS and ArcGIS show a
 * class's name only from their own places: GDAL's PAM sidecar (`mask.tif.aux.xml`, read even next
 * to a /vsicurl/ COG) with CategoryNames and a raster attribute table, and QGIS's layer style (.qml).
 */
import { hexToRgb } from '../infer/model-spec.ts';
import { xmlEscape } from './xml-text.ts';

export interface MaskClass {
  /** The pixel value (masks are uint8). */
  id: number;
  name: string;
  /** '#rrggbb', or null when the mask has none. */
  color: string | null;
}

/** What a class without a colour is drawn and listed with, in every style we write (GDAL, QGIS, MapLibre). */
export const NO_COLOR = '#808080';

function checkedClasses(classes: MaskClass[], nodata: number | null): MaskClass[] {
  if (classes.length === 0) throw new RangeError('a class mask needs at least one class');
  const seen = new Set<number>();
  for (const c of classes) {
    if (!Number.isInteger(c.id) || c.id < 0 || c.id > 255) throw new RangeError(`class id ${c.id} is not a uint8 pixel value (0..255)`);
    if (seen.has(c.id)) throw new RangeError(`class id ${c.id} is listed twice`);
    if (c.id === nodata) throw new RangeError(`class id ${c.id} is the mask's nodata value`);
    if (c.color !== null && !/^#[0-9a-fA-F]{6}$/.test(c.color)) throw new RangeError(`class ${c.id}: colour ${JSON.stringify(c.color)} is not #rrggbb`);
    seen.add(c.id);
  }
  return [...classes].sort((a, b) => a.id - b.id);
}

// GDAL's GDALRATFieldType and GDALRATFieldUsage codes.
const FIELD_INTEGER = 0;
const FIELD_STRING = 2;
const USAGE = { name: 2, minMax: 5, red: 6, green: 7, blue: 8 } as const;

/**
 * GDAL PAM XML for `mask.tif.aux.xml`: CategoryNames (indexed by pixel value, so `gdalinfo` lists
 * them under "Categories:") and a thematic raster attribute table (Value, Class, Red, Green, Blue)
 * that QGIS and ArcGIS read as the class legend. Pixel values without a class, and the nodata value,
 * get an empty category. It also carries a colour table cut to the classes: a TIFF palette always
 * has 256 entries, and QGIS would list all 256 as classes; GDAL takes the sidecar's table instead.
 */
export function pamAuxXml(classes: MaskClass[], nodata: number | null): string {
  const sorted = checkedClasses(classes, nodata);
  const byId = new Map(sorted.map((c) => [c.id, c]));
  const maxId = sorted[sorted.length - 1]!.id;
  const categories = Array.from({ length: maxId + 1 }, (_, v) => `      <Category>${xmlEscape(byId.get(v)?.name ?? '')}</Category>`);
  const fields: Array<[string, number, number]> = [
    ['Value', FIELD_INTEGER, USAGE.minMax], ['Class', FIELD_STRING, USAGE.name],
    ['Red', FIELD_INTEGER, USAGE.red], ['Green', FIELD_INTEGER, USAGE.green], ['Blue', FIELD_INTEGER, USAGE.blue],
  ];
  const fieldDefs = fields.map(([name, type, usage], i) =>
    `      <FieldDefn index="${i}">\n        <Name>${name}</Name>\n        <Type>${type}</Type>\n        <Usage>${usage}</Usage>\n      </FieldDefn>`);
  const rows = sorted.map((c, i) => {
    const [r, g, b] = hexToRgb(c.color ?? NO_COLOR);
    const cells = [String(c.id), xmlEscape(c.name), String(r), String(g), String(b)].map((v) => `        <F>${v}</F>`);
    return `      <Row index="${i}">\n${cells.join('\n')}\n      </Row>`;
  });
  const colorTable = Array.from({ length: maxId + 1 }, (_, v) => {
    const c = byId.get(v);
    const [r, g, b] = hexToRgb(c?.color ?? NO_COLOR);
    return `      <Entry c1="${r}" c2="${g}" c3="${b}" c4="${c ? 255 : 0}"/>`;
  });
  return [
    '<PAMDataset>',
    '  <PAMRasterBand band="1">',
    '    <CategoryNames>',
    ...categories,
    '    </CategoryNames>',
    '    <ColorTable>',
    ...colorTable,
    '    </ColorTable>',
    '    <GDALRasterAttributeTable tableType="thematic">',
    ...fieldDefs,
    ...rows,
    '    </GDALRasterAttributeTable>',
    '  </PAMRasterBand>',
    '</PAMDataset>',
    '',
  ].join('\n');
}

/**
 * A QGIS layer style (.qml) for the mask: the paletted ("unique values") renderer with one entry per
 * class, labelled with its name. The nodata value gets no entry, so it draws transparent; nearest
 * neighbour resampling keeps class edges crisp.
 */
export function qgisQml(classes: MaskClass[], nodata: number | null): string {
  const sorted = checkedClasses(classes, nodata);
  const entries = sorted.map((c) =>
    `        <paletteEntry value="${c.id}" color="${(c.color ?? NO_COLOR).toLowerCase()}" alpha="255" label="${xmlEscape(c.name)}"/>`);
  return [
    "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>",
    '<qgis version="3.22.0" styleCategories="Symbology">',
    '  <pipe>',
    '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">',
    '      <rasterTransparency/>',
    '      <minMaxOrigin>',
    '        <limits>None</limits>',
    '        <extent>WholeRaster</extent>',
    '        <statAccuracy>Estimated</statAccuracy>',
    '        <cumulativeCutLower>0.02</cumulativeCutLower>',
    '        <cumulativeCutUpper>0.98</cumulativeCutUpper>',
    '        <stdDevFactor>2</stdDevFactor>',
    '      </minMaxOrigin>',
    '      <colorPalette>',
    ...entries,
    '      </colorPalette>',
    '    </rasterrenderer>',
    '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>',
    '    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255" colorizeGreen="128" colorizeBlue="128" colorizeStrength="100" invertColors="0"/>',
    '    <rasterresampler maxOversampling="2"/>',
    '    <resamplingStage>resamplingFilter</resamplingStage>',
    '  </pipe>',
    '  <blendMode>0</blendMode>',
    '</qgis>',
    '',
  ].join('\n');
}
