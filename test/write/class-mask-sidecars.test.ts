/**
 * Class names for desktop GIS: the PAM sidecar read by GDAL (and so QGIS/ArcGIS) beside a real mask
 * COG written by our COG writer, and the QGIS paletted style.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { CogWriter } from '../../server/src/write/cog-writer.ts';
import { pamAuxXml, qgisQml, type MaskClass } from '../../server/src/write/class-mask-sidecars.ts';
import { hexToRgb } from '../../server/src/infer/model-spec.ts';
import { gdalPython, gdalSkipReason, skipWithoutGdal } from '../helpers/shared-data.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-sidecars-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const NODATA = 255;
// Ids with a gap (3 has no class), a name needing XML escapes and one outside ASCII.
const CLASSES: MaskClass[] = [
  { id: 0, name: 'water', color: '#419BDF' },
  { id: 1, name: 'trees & "shrubs" <tall>', color: '#397d49' },
  { id: 2, name: 'bâtiments', color: '#C4281B' },
  { id: 4, name: 'unknown colour', color: null },
];

/** A small paletted mask COG written the way segment-scene writes class masks. */
async function writeMask(file: string): Promise<void> {
  const width = 40;
  const height = 30;
  const writer = await CogWriter.create(file, {
    width, height, geoTransform: [500000, 10, 0, 4000000, 0, -10], geoKeys: { epsg: 32618, geographic: false },
    nodata: NODATA, blockSize: 256, overviewResampling: 'mode', bandDescription: 'class',
    colorMap: [0, 1, 2, 3, 4].map((id) => hexToRgb(CLASSES.find((c) => c.id === id)?.color ?? '#000000')),
    metadata: { CLASS_NAMES: JSON.stringify(['water', 'trees', 'bâtiments', '', 'unknown colour']) },
  });
  const rows = new Uint8Array(width * height).map((_, i) => [0, 1, 2, 4, NODATA][i % 5]!);
  await writer.writeRows(rows, height);
  await writer.finish();
}

function parseXml(xml: string, script: string): unknown {
  // Python's expat is a strict, conforming parser: a malformed file raises.
  return JSON.parse(execFileSync(gdalPython, ['-c', `import sys, json, xml.etree.ElementTree as ET\nroot = ET.fromstring(sys.stdin.read())\n${script}`], { input: xml, encoding: 'utf8' }));
}

describe('pamAuxXml', () => {
  it('indexes CategoryNames by pixel value, blank where no class, and escapes names', () => {
    const xml = pamAuxXml(CLASSES, NODATA);
    const categories = [...xml.matchAll(/<Category>(.*?)<\/Category>/g)].map((m) => m[1]);
    expect(categories).toEqual(['water', 'trees &amp; &quot;shrubs&quot; &lt;tall&gt;', 'bâtiments', '', 'unknown colour']);
    expect(xml.match(/<Row index=/g)).toHaveLength(4);
  });

  it('refuses ids a uint8 mask cannot hold, duplicates, the nodata value and bad colours', () => {
    expect(() => pamAuxXml([{ id: 256, name: 'x', color: null }], NODATA)).toThrow(/0\.\.255/);
    expect(() => pamAuxXml([{ id: 1, name: 'a', color: null }, { id: 1, name: 'b', color: null }], NODATA)).toThrow(/twice/);
    expect(() => pamAuxXml([{ id: 255, name: 'x', color: null }], NODATA)).toThrow(/nodata/);
    expect(() => qgisQml([{ id: 0, name: 'x', color: 'red' }], NODATA)).toThrow(/#rrggbb/);
    expect(() => qgisQml([], NODATA)).toThrow(/at least one/);
  });
});

describe.skipIf(skipWithoutGdal)(`the sidecars as GDAL and an XML parser read them ${gdalSkipReason}`, () => {
  it('gdalinfo lists the class names under "Categories:" and shows the attribute table', async () => {
    const mask = path.join(tmp, 'mask.tif');
    await writeMask(mask);
    fs.writeFileSync(`${mask}.aux.xml`, pamAuxXml(CLASSES, NODATA));

    const text = execFileSync('gdalinfo', [mask], { encoding: 'utf8' });
    expect(text).toContain('Categories:');
    expect(text).toMatch(/^\s+1: trees & "shrubs" <tall>$/m);
    expect(text).toMatch(/^\s+2: bâtiments$/m);
    expect(text).toContain('<GDALRasterAttributeTable');
    expect(text).toContain('Color Table'); // the COG's own palette is still there

    const info = JSON.parse(execFileSync('gdalinfo', ['-json', mask], { encoding: 'utf8' })) as {
      bands: Array<{ categories?: string[]; noDataValue?: number }>;
      rat: { tableType: string; fieldDefn: Array<{ name: string; usage: number }>; row: Array<{ f: Array<string | number> }> };
    };
    expect(info.bands[0]!.categories).toEqual(['water', 'trees & "shrubs" <tall>', 'bâtiments', '', 'unknown colour']);
    expect(info.bands[0]!.noDataValue).toBe(NODATA);
    expect(info.rat.tableType).toBe('thematic');
    expect(info.rat.fieldDefn.map((f) => [f.name, f.usage])).toEqual([['Value', 5], ['Class', 2], ['Red', 6], ['Green', 7], ['Blue', 8]]);
    expect(info.rat.row.map((r) => r.f)).toEqual([
      [0, 'water', 0x41, 0x9b, 0xdf], [1, 'trees & "shrubs" <tall>', 0x39, 0x7d, 0x49], [2, 'bâtiments', 0xc4, 0x28, 0x1b], [4, 'unknown colour', 128, 128, 128],
    ]);
  });

  it('qgisQml is well-formed, with one labelled, coloured palette entry per class and none for nodata', () => {
    const entries = parseXml(qgisQml(CLASSES, NODATA), [
      'r = root.find("pipe/rasterrenderer")',
      'assert root.tag == "qgis" and r.get("type") == "paletted" and r.get("band") == "1"',
      'print(json.dumps([[int(e.get("value")), e.get("color"), e.get("label")] for e in r.findall("colorPalette/paletteEntry")]))',
    ].join('\n'));
    expect(entries).toEqual([[0, '#419bdf', 'water'], [1, '#397d49', 'trees & "shrubs" <tall>'], [2, '#c4281b', 'bâtiments'], [4, '#808080', 'unknown colour']]);
  });

  it('a control character in a name is dropped, not written into the XML', () => {
    const labels = parseXml(qgisQml([{ id: 0, name: 'bad\u0001name', color: null }], NODATA),
      'print(json.dumps([e.get("label") for e in root.iter("paletteEntry")]))');
    expect(labels).toEqual(['badname']);
  });
});
