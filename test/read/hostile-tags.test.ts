/**
 * Text tags a file brings (GDAL_METADATA, an ESRI PE string in a GeoKey citation) are read by
 * scanners that only move forward and have limits: an unterminated quote in a PE string sent the
 * reader round for ever (the server died out of memory on a 66 KB upload), and 2.4 MB of `<Item `
 * held it for minutes in a regular expression.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crsFromGeoKeys } from '../../server/src/read/crs.ts';
import { converter, WGS84 } from '../../server/src/read/crs-transform.ts';
import { openRaster } from '../../server/src/read/open-raster.ts';
import { encodeIfd, TagType, tiffHeader, type TiffTag } from '../../server/src/write/tiff-layout.ts';
import { writeTestTiff } from '../fixtures/write-tiff.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'satseg-hostile-tags-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const VALID_PE = 'PROJCS["WGS_1984_UTM_Zone_33N",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],'
  + 'PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",15.0],PARAMETER["Scale_Factor",0.9996],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]';

/** GeoKeys of a user-defined projected CRS described only by a PE string. */
function peKeys(pe: string) {
  return { GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32767, PCSCitationGeoKey: `ESRI PE String = ${pe}` };
}

describe('ESRI PE strings', () => {
  it('reads a well-formed one', () => {
    expect(crsFromGeoKeys(peKeys(VALID_PE)).proj4).toMatch(/^\+proj=tmerc \+lat_0=0 \+lon_0=15 \+k=0\.9996 \+x_0=500000 \+y_0=0 /);
    // GDAL pads citations with '|': trimmed, also when there are many.
    expect(crsFromGeoKeys(peKeys(`${VALID_PE}${'|'.repeat(5000)}`)).name).toBe('WGS_1984_UTM_Zone_33N');
  });

  it.each([
    ['an unterminated quote (it looped for ever)', '[,X["|', /a quoted string is never closed|unexpected/],
    ['a bracket never closed', 'PROJCS["a",GEOGCS["b"', /a bracket is never closed/],
    ['junk where a value should be', 'PROJCS["a",]]', /unexpected "\]" at character 11/],
    ['nesting 5000 deep (it overflowed the stack)', `${'A['.repeat(5000)}1${']'.repeat(5000)}`.slice(0, 15_000), /nested over 16 deep/],
    ['64,000 characters', `PROJCS["${'x'.repeat(64_000)}"]`, /64010 characters, over 16384/],
    ['65,000 pipes before a last character', `${'|'.repeat(65_000)}x`, /characters, over 16384/],
  ])('refuses %s, naming the problem', (_, pe, why) => {
    expect(() => crsFromGeoKeys(peKeys(pe))).toThrow(expect.objectContaining({ code: 'unsupported-crs', message: expect.stringMatching(why) }));
    expect(() => crsFromGeoKeys(peKeys(pe))).toThrow(/^invalid ESRI PE string in the GeoTIFF citation: /);
  });

  it('refuses the file that carries one, at open', async () => {
    const pe = 'ESRI PE String = [,X["|';
    const file = path.join(tmp, 'pe-loop.tif');
    writeTestTiff(file, {
      width: 4, height: 4, bands: [new Uint8Array(16)],
      extraTags: [
        { tag: 34735, type: TagType.SHORT, values: [1, 1, 0, 3, 1024, 0, 1, 1, 3072, 0, 1, 32767, 3073, 34737, pe.length + 1, 0] },
        { tag: 34737, type: TagType.ASCII, values: `${pe}|` },
      ],
    });
    await expect(openRaster(file)).rejects.toThrow(/invalid ESRI PE string in the GeoTIFF citation/);
  });
});

describe('GeoAsciiParams', () => {
  it('refuses citations over 64 KB (copied into every mask made from the file, and trimmed there)', async () => {
    const file = path.join(tmp, 'long-ascii.tif');
    writeTestTiff(file, { width: 4, height: 4, bands: [new Uint8Array(16)], extraTags: [{ tag: 34737, type: TagType.ASCII, values: `${'\0'.repeat(100_000)}x|` }] });
    await expect(openRaster(file)).rejects.toThrow('its GeoAsciiParams (the CRS citations) are 100,003 characters, over 65,536');
  });
});

describe('GDAL_METADATA', () => {
  it('reads its items past 400,000 unclosed `<Item ` (minutes in the regular expression it replaced)', async () => {
    const xml = `<GDALMetadata>\n${'<Item '.repeat(400_000)}<Item name="CLASS_NAMES">["a","b"]</Item><Item name="DESCRIPTION" sample="0" role="description">red &amp;amp; more</Item></GDALMetadata>`;
    const file = path.join(tmp, 'items.tif');
    writeTestTiff(file, { width: 4, height: 4, bands: [new Uint8Array(16)], extraTags: [{ tag: 42112, type: TagType.ASCII, values: xml }] });
    const source = await openRaster(file);
    try {
      // The first `<Item ` runs to the first `>`: its attributes are the junk and name="CLASS_NAMES" (as the regular expression read it).
      expect(source.info.metadata.CLASS_NAMES).toBe('["a","b"]');
      expect(source.info.bands[0]!.description).toBe('red & more');
    } finally {
      await source.close();
    }
  });

  it('reads well-formed items as before: dataset items, band descriptions, colour interpretation', async () => {
    const xml = '<GDALMetadata>\n  <Item name="MODEL">m</Item>\n  <Item name="X" domain="IMAGE_STRUCTURE">no</Item>\n  <Item name="DESCRIPTION" sample="0" role="description">nir</Item>\n  <Item name="COLORINTERP" sample="0" role="colorinterp">Undefined</Item>\n</GDALMetadata>\n';
    const file = path.join(tmp, 'plain.tif');
    writeTestTiff(file, { width: 4, height: 4, bands: [new Uint8Array(16)], extraTags: [{ tag: 42112, type: TagType.ASCII, values: xml }] });
    const source = await openRaster(file);
    try {
      expect(source.info.metadata.MODEL).toBe('m');
      expect(source.info.metadata.X).toBeUndefined();
      expect(source.info.bands[0]).toMatchObject({ description: 'nir', colorInterp: 'undefined' });
    } finally {
      await source.close();
    }
  });
});

/** A 64 x 64 uint8 GeoTIFF (one strip, value 7) and, after it, an image marked as its overview of `ov` px. */
function withOverview(file: string, ov: { width: number; height: number }, predictor = 1): void {
  const data = Buffer.alloc(64 * 64, 7);
  const image = (width: number, height: number, subfile: number, dataAt: number, bytes: number): TiffTag[] => [
    { tag: 254, type: TagType.LONG, values: [subfile] },
    { tag: 256, type: TagType.LONG, values: [width] },
    { tag: 257, type: TagType.LONG, values: [height] },
    { tag: 258, type: TagType.SHORT, values: [8] },
    { tag: 259, type: TagType.SHORT, values: [1] },
    { tag: 262, type: TagType.SHORT, values: [1] },
    { tag: 273, type: TagType.LONG, values: [dataAt] },
    { tag: 277, type: TagType.SHORT, values: [1] },
    { tag: 278, type: TagType.LONG, values: [height] },
    { tag: 279, type: TagType.LONG, values: [bytes] },
    ...(predictor !== 1 ? [{ tag: 317, type: TagType.SHORT, values: [predictor] }] : []),
  ];
  const geo: TiffTag[] = [
    { tag: 33550, type: TagType.DOUBLE, values: [10, 10, 0] },
    { tag: 33922, type: TagType.DOUBLE, values: [0, 0, 0, 500000, 4000000, 0] },
    { tag: 34735, type: TagType.SHORT, values: [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32618] },
  ];
  const firstIfd = 8 + data.length;
  const firstTags = [...image(64, 64, 0, 8, data.length), ...geo];
  const first = encodeIfd(firstTags, firstIfd, 0, false);
  const secondIfd = firstIfd + first.length + (first.length & 1);
  const second = encodeIfd(image(ov.width, ov.height, 1, 8, Math.min(data.length, ov.width * ov.height)), secondIfd, 0, false);
  const firstLinked = encodeIfd(firstTags, firstIfd, secondIfd, false);
  fs.writeFileSync(file, Buffer.concat([tiffHeader(firstIfd, false), data, firstLinked, Buffer.alloc(first.length & 1), second]));
}

describe('overviews and predictors a file claims', () => {
  it('ignores an "overview" that is no view of the image (256 x 100,000,000 under 512²), keeps a true one', async () => {
    const lying = path.join(tmp, 'lying-overview.tif');
    withOverview(lying, { width: 32, height: 100_000_000 });
    const bad = await openRaster(lying);
    try {
      expect(bad.levelCount).toBe(1);
    } finally {
      await bad.close();
    }
    const fair = path.join(tmp, 'fair-overview.tif');
    withOverview(fair, { width: 32, height: 32 });
    const good = await openRaster(fair);
    try {
      expect(good.levelCount).toBe(2);
      expect(good.levelSize(1)).toEqual({ width: 32, height: 32 });
    } finally {
      await good.close();
    }
  });

  it('refuses a predictor that is none of TIFF\'s (it was ignored)', async () => {
    const file = path.join(tmp, 'predictor-99.tif');
    withOverview(file, { width: 32, height: 32 }, 99);
    const source = await openRaster(file);
    try {
      await expect(source.read({ x: 0, y: 0, width: 8, height: 8 })).rejects.toThrow('predictor 99 is not a TIFF predictor (1 none, 2 horizontal, 3 floating point)');
    } finally {
      await source.close();
    }
  });
});

describe('mangled structure tags (found by mutation fuzzing)', () => {
  const plain = (file: string, extraTags: TiffTag[], t: { width?: number; height?: number; rowsPerStrip?: number } = {}) => writeTestTiff(file, {
    width: t.width ?? 8, height: t.height ?? 8, bands: [new Uint8Array((t.width ?? 8) * (t.height ?? 8)).fill(7)], rowsPerStrip: t.rowsPerStrip, geoTransform: [400000, 10, 0, 5000000, 0, -10], epsg: 32633, extraTags,
  });

  it.each([
    // 2^31 bands (a SHORT made a LONG) exhausted the heap describing them.
    ['SamplesPerPixel 2^31 - 1', [{ tag: 277, type: TagType.LONG, values: [2 ** 31 - 1] }], /its SamplesPerPixel is 2147483647, not a whole number from 1 to 65,535/],
    // A strip height of 5e-324 made billions of blocks and ran out of memory copying a window.
    ['RowsPerStrip 5e-324', [{ tag: 278, type: TagType.DOUBLE, values: [5e-324] }], /its RowsPerStrip is 5e-324, not a whole number/],
    // Three values where one is due: the height was an array, and every read "an invalid window".
    ['ImageLength of three values', [{ tag: 257, type: TagType.SHORT, values: [8, 256, 3] }], /its ImageLength is a list of 3, not a whole number/],
    // A GeoKey whose value lives in a tag the file does not have: geotiff.js's raw Error.
    ['a GeoKey in a missing GeoAsciiParams', [{ tag: 34735, type: TagType.SHORT, values: [1, 1, 0, 2, 1024, 0, 1, 2, 2049, 34737, 5, 0] }], /^the TIFF is corrupt: Could not get value of geoKey/],
  ] as Array<[string, TiffTag[], RegExp]>)('%s: refused at open as a corrupt file', async (name, tags, why) => {
    const file = path.join(tmp, `${name.replace(/\W+/g, '-')}.tif`);
    plain(file, tags);
    await expect(openRaster(file)).rejects.toThrow(expect.objectContaining({ name: 'RasterError', code: 'corrupt', message: expect.stringMatching(why) }));
  });

  it('refuses a tag whose values lie past the end of the file (a raw RangeError from a DataView)', async () => {
    const file = path.join(tmp, 'tag-past-eof.tif');
    plain(file, [{ tag: 42112, type: TagType.ASCII, values: `<GDALMetadata>${' '.repeat(200)}</GDALMetadata>` }]);
    // Point GDAL_METADATA's value offset far beyond the file's end.
    const bytes = fs.readFileSync(file);
    const ifd = bytes.readUInt32LE(4);
    const entries = bytes.readUInt16LE(ifd);
    let patched = false;
    for (let i = 0; i < entries; i++) {
      const at = ifd + 2 + i * 12;
      if (bytes.readUInt16LE(at) === 42112) { bytes.writeUInt32LE(bytes.length + 100_000, at + 8); patched = true; }
    }
    expect(patched).toBe(true);
    fs.writeFileSync(file, bytes);
    await expect(openRaster(file)).rejects.toThrow(expect.objectContaining({ name: 'RasterError', code: 'corrupt' }));
  });

  it('refuses to read a block missing from a short StripOffsets table (a raw "Index 4 out of bounds")', async () => {
    const file = path.join(tmp, 'short-strip-table.tif');
    plain(file, [], { height: 8, rowsPerStrip: 2 });
    // Four strips, but StripOffsets and StripByteCounts list only the first.
    const bytes = fs.readFileSync(file);
    const ifd = bytes.readUInt32LE(4);
    for (let i = 0; i < bytes.readUInt16LE(ifd); i++) {
      const at = ifd + 2 + i * 12;
      const tag = bytes.readUInt16LE(at);
      if (tag !== 273 && tag !== 279) continue;
      const type = bytes.readUInt16LE(at + 2);
      const first = bytes.readUInt32LE(at + 8);
      const value = type === TagType.SHORT ? bytes.readUInt16LE(first) : bytes.readUInt32LE(first);
      bytes.writeUInt32LE(1, at + 4);
      if (type === TagType.SHORT) { bytes.writeUInt16LE(value, at + 8); bytes.writeUInt16LE(0, at + 10); } else bytes.writeUInt32LE(value, at + 8);
    }
    fs.writeFileSync(file, bytes);
    const source = await openRaster(file);
    try {
      await expect(source.read({ x: 0, y: 6, width: 8, height: 2 })).rejects.toThrow(/the file is corrupt: strip 3 is missing from its StripOffsets \(1 entries\)/);
    } finally {
      await source.close();
    }
  });

  it('refuses a CRS proj4 cannot use, as a typed error (a geostationary view from height 0 threw Error(""))', () => {
    expect(() => converter('+proj=geos +lon_0=140.7 +h=0 +x_0=0 +y_0=0 +a=6378137 +rf=298.257024882273 +units=m +no_defs', WGS84))
      .toThrow(expect.objectContaining({ name: 'RasterError', code: 'unsupported-crs', message: expect.stringMatching(/^its CRS cannot be used: proj4 refuses \+proj=geos/) }));
  });
});
