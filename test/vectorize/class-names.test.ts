/**
 * Class names: our metadata first, then CLASS_<id> items, a legend, the palette, and bare ids.
 */
import { describe, expect, it } from 'vitest';
import type { RasterInfo } from '../../server/src/read/raster.ts';
import { classCatalog } from '../../server/src/vectorize/class-names.ts';

function info(over: Partial<RasterInfo>): RasterInfo {
  return {
    width: 1, height: 1, bandCount: 1, dtype: 'uint8', nodata: null, geoTransform: [0, 1, 0, 0, 0, -1],
    crs: { epsg: 4326, proj4: '+proj=longlat +datum=WGS84 +no_defs', name: 'WGS 84', geographic: true },
    bands: [], overviews: [], maskKind: 'none', colorMap: null, metadata: {}, blockWidth: 1, blockHeight: 1, compression: 'none',
    ...over,
  };
}

describe('classCatalog', () => {
  it('reads satseg CLASS_NAMES and CLASS_COLORS', () => {
    const c = classCatalog(info({ nodata: 255, metadata: { CLASS_NAMES: '["road","building"]', CLASS_COLORS: '["#808080","#ff0000"]' } }));
    expect(c.source).toBe('satseg');
    expect(c.declared).toEqual([{ id: 0, name: 'road', color: '#808080' }, { id: 1, name: 'building', color: '#ff0000' }]);
    expect(c.resolve(['Building', ' road', '1'])).toEqual([1, 0, 1]);
    expect(() => c.resolve(['water'])).toThrow('unknown class "water" in --classes; valid names: road, building (or class ids)');
  });

  it('falls back to a legend item such as ESA WorldCover\'s', () => {
    const c = classCatalog(info({ metadata: { legend: '10  Tree cover\n20  Shrubland\n100 Moss and lichen\n' } }));
    expect(c.source).toBe('legend');
    expect(c.name(100)).toBe('Moss and lichen');
    expect(c.resolve(['tree cover'])).toEqual([10]);
  });

  it('reads legend lines "1: water", "2 - land", "3=road" and skips hostile ones (a line of spaces held it for seconds)', () => {
    const c = classCatalog(info({ metadata: { legend: `1: water\r\n2 - land\n 3=road \n4${' '.repeat(200_000)}\n5 a${' '.repeat(200_000)}b\n` } }));
    expect(c.source).toBe('legend');
    expect([1, 2, 3].map((id) => c.name(id))).toEqual(['water', 'land', 'road']);
    // The long lines are no class lines: skipped whole, not parsed.
    expect(c.name(4)).toBe('4');
    expect(c.name(5)).toBe('5');
  });

  it('falls back to unique palette colours, then to ids', () => {
    const palette: Array<[number, number, number]> = [[0, 0, 0], [0, 100, 0], [0, 0, 0], [250, 0, 0]];
    const c = classCatalog(info({ colorMap: palette, nodata: 0 }));
    expect(c.source).toBe('palette');
    expect(c.declared.map((d) => d.name)).toEqual(['#006400', '#fa0000']);
    expect(c.name(2)).toBe('2'); // its colour is not unique
    expect(c.resolve(['#fa0000'])).toEqual([3]);

    const ids = classCatalog(info({ dtype: 'int16' }));
    expect(ids.source).toBe('ids');
    expect(ids.name(-3)).toBe('-3');
    expect(() => ids.resolve(['water'])).toThrow('this mask has no class names; use class ids (integers -32768..32767)');
  });
});
